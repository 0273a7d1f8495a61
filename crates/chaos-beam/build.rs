//! Embeds the demo system's Erlang sources (`demo/chaos_demo/src`) in the
//! crate, so the binary can compile and start the demo node on its own.

use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let src = Path::new(&manifest).join("../../demo/chaos_demo/src");
    println!("cargo:rerun-if-changed={}", src.display());
    let mut files: Vec<_> = std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("cannot read the demo sources in {}: {e}", src.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".erl") || name.ends_with(".app.src") || name.ends_with(".hrl")
        })
        .collect();
    files.sort();
    let mut out = String::from("/// The demo system's sources: (file name, contents).\npub const DEMO_SOURCES: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().unwrap().to_str().unwrap();
        let abs = f.canonicalize().unwrap();
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            abs.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("demo_sources.rs");
    std::fs::write(dest, out).unwrap();
}
