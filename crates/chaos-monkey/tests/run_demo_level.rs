//! The seed's demo level against the demo system: 60 s, about 10 ops/s.

mod support;

use support::{monkey_run, run, Demo};

#[test]
fn a_60_second_demo_run() {
    let demo = Demo::start("run60");
    let report_path = demo.file("report.json");
    let events_path = demo.file("events.jsonl");
    let (code, out, err) = run(monkey_run(&demo).args([
        "--duration",
        "60s",
        "--seed",
        "42",
        "--report",
        report_path.to_str().unwrap(),
        "--events",
        events_path.to_str().unwrap(),
    ]));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(code, 0, "exit {code}\n{out}\n{err}");
    assert_eq!(report["seed"], 42);
    let total = report["total_ops"].as_u64().unwrap();
    assert!(total >= 500, "{total} operations");
    // Each category's share is within 3 points of its (renormalised) weight.
    for cat in ["process", "memory", "network", "state", "timing"] {
        let c = &report["by_category"][cat];
        let (share, expected) = (
            c["share"].as_f64().unwrap(),
            c["expected_share"].as_f64().unwrap(),
        );
        assert!(
            (share - expected).abs() <= 0.03,
            "{cat}: share {share:.3} vs expected {expected:.3}"
        );
        assert!(c["ops"].as_u64().unwrap() > 0);
    }
    // The demo system survived.
    assert_eq!(report["survived"], true, "{out}");
    assert_eq!(
        report["failure_modes"].as_array().unwrap().len(),
        0,
        "{}",
        report["failure_modes"]
    );
    // Errors are explained: every failed operation has a reason.
    let explained: u64 = report["error_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(explained, report["errors"].as_u64().unwrap());
    // Most operations really happened.
    assert!(
        report["confirmed"].as_u64().unwrap() * 2 > total,
        "confirmed {} of {total}",
        report["confirmed"]
    );
    // Nothing left behind.
    assert!(
        report["left_behind"]["audit"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        report["left_behind"]
    );
    assert!(
        report["left_behind"]["undo_failures"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        report["left_behind"]
    );
    // The clean-up's time is measured (a round trip to the node at least)
    // and told in the text report.
    let clean_up_s = report["left_behind"]["clean_up_s"].as_f64().unwrap();
    assert!(
        clean_up_s > 0.0 && clean_up_s < 60.0,
        "clean-up {clean_up_s} s"
    );
    assert!(out.contains("Clean-up and audit took"), "{out}");
    // The events file holds every operation, with the documented fields.
    let events = support::events(&events_path);
    assert_eq!(events.len() as u64, total);
    for key in [
        "t_ms",
        "category",
        "op",
        "params",
        "victim",
        "outcome",
        "duration_us",
    ] {
        assert!(events[0].get(key).is_some(), "events lack {key}");
    }
    // The text report follows the seed's layout.
    for heading in [
        "Total operations",
        "Chaos distribution",
        "Failure modes discovered",
        "Resource trends",
        "Recommendations",
    ] {
        assert!(out.contains(heading), "report lacks {heading}");
    }
}
