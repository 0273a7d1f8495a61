//! The layout rules of docs/ARCHITECTURE.md, checked: within each crate no
//! two top-level modules depend on each other (directly or around a loop),
//! and no source file is longer than 500 lines. Cargo already keeps the
//! crates themselves acyclic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: &[&str] = &[
    "chaos-engine",
    "chaos-beam",
    "chaos-probe",
    "chaos-proxy",
    "chaos-report",
    "chaos-history",
    "chaos-monkey",
    "chaos-testkit",
];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::NAME` references in code (comments left out).
fn references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

/// The top-level module a source file belongs to (`None` for the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .to_string();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(m) => Some(m.to_string()),
        None => Some(first),
    }
}

/// A loop in `graph`, if there is one (as the modules along it).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_two_modules_of_a_crate_depend_on_each_other() {
    let mut cycles = Vec::new();
    let mut seen = 0;
    for krate in CRATES {
        let src = crates_dir().join(krate).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let Some(module) = module_of(&src, file) else {
                continue;
            };
            let text = std::fs::read_to_string(file).unwrap();
            // Tests may reach anywhere; the rule is about the code itself.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let deps = graph.entry(module.clone()).or_default();
            for used in references(code) {
                if used != module && modules.contains(&used) {
                    deps.insert(used);
                }
            }
        }
        seen += graph.len();
        if let Some(cycle) = find_cycle(&graph) {
            cycles.push(format!("{krate}: {}", cycle.join(" -> ")));
        }
    }
    assert!(seen >= 30, "only {seen} modules found: the scan is broken");
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn no_source_file_is_longer_than_500_lines() {
    let mut long = Vec::new();
    for krate in CRATES {
        let mut files = Vec::new();
        rust_files(&crates_dir().join(krate).join("src"), &mut files);
        for file in files {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            if lines > 500 {
                long.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "longer than 500 lines: {long:#?}");
}

#[test]
fn the_cycle_finder_finds_a_loop() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        references("use crate::dist::x; // crate::eval\nlet y = crate::chaos::ops::f();"),
        ["chaos".to_string(), "dist".to_string()].into()
    );
}

/// The test-only examples of adding an operation (gated), a detector and a
/// scenario (in `chaos-beam`, compiled only for its own tests, where each is
/// exercised against a real node): each type is named in at most two source
/// files besides its own (its registration: the `mod` line sits next to it)
/// — what docs/ARCHITECTURE.md promises.
#[test]
fn adding_an_operation_a_detector_or_a_scenario_touches_at_most_two_other_files() {
    let beam = crates_dir().join("chaos-beam/src");
    let examples = [
        ("chaos/ops/example_gated.rs", "ExampleGated"),
        ("chaos/detect/checks/example.rs", "ExampleGrowth"),
        ("scenarios/example.rs", "ExampleBlip"),
    ];
    let mut files = Vec::new();
    for c in CRATES {
        rust_files(&crates_dir().join(c).join("src"), &mut files);
    }
    for (own, type_name) in examples {
        let own = beam.join(own);
        assert!(own.exists(), "{} is gone", own.display());
        let touched: Vec<&PathBuf> = files
            .iter()
            .filter(|f| **f != own)
            .filter(|f| std::fs::read_to_string(f).unwrap().contains(type_name))
            .collect();
        assert!(
            !touched.is_empty() && touched.len() <= 2,
            "{} is named in {touched:?}",
            own.display()
        );
    }
}
