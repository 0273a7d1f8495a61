//! JUnit files checked against the Jenkins xUnit schema (`../fixtures/junit-10.xsd`,
//! see `../fixtures/README.md`) with `xmllint` from Debian's libxml2-utils.
//! Shared by this crate's tests and the binary's (through `#[path]`).

use std::path::Path;
use std::process::Command;

const SCHEMA: &str = include_str!("../fixtures/junit-10.xsd");

/// `Ok` when `xml` validates; otherwise xmllint's complaint.
pub fn validate_junit(xml: &Path) -> Result<(), String> {
    let schema = xml.with_extension("xsd");
    std::fs::write(&schema, SCHEMA).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(xml)
        .output()
        .expect("xmllint runs (scripts/ensure-chromium.sh installs libxml2-utils)");
    let _ = std::fs::remove_file(&schema);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
