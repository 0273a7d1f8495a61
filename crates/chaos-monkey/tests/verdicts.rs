//! Honest verdicts from the CLI against the demo system: a run with no
//! eligible victim is inconclusive (exit 5) and says who was left out by
//! which rule; a run whose chaos happened is not, and reports its reach.

mod support;

use support::{monkey_run, run, Demo};

fn report(demo: &Demo, name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(demo.file(name)).unwrap()).unwrap()
}

#[test]
fn no_eligible_victim_is_inconclusive_and_a_real_run_is_not() {
    let demo = Demo::start("verdicts");
    let out = demo.file("none.json");
    let (code, stdout, err) = run(monkey_run(&demo).args([
        "--duration",
        "3s",
        "--seed",
        "1",
        "--only-app",
        "no_such_app",
        "--report",
        out.to_str().unwrap(),
        "--junit",
        demo.file("none.xml").to_str().unwrap(),
    ]));
    assert_eq!(code, 5, "inconclusive\n{stdout}\n{err}");
    assert!(
        err.contains("inconclusive: no victim was eligible"),
        "{err}"
    );
    let r = report(&demo, "none.json");
    assert!(
        r["verdict"].as_str().unwrap().starts_with("inconclusive"),
        "{r}"
    );
    let reasons: Vec<&str> = r["inconclusive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        reasons[0].starts_with("no victim was eligible ("),
        "{reasons:?}"
    );
    assert_eq!(r["reach"]["eligible"], 0);
    let excluded = &r["reach"]["excluded"];
    let by_app_rule = excluded["processes of applications left out by --only-app/--protect-app"]
        .as_u64()
        .unwrap();
    assert!(
        by_app_rule >= 10,
        "the demo's workers, left out: {excluded}"
    );
    assert!(excluded["processes of kernel, stdlib, sasl, compiler and logger"].as_u64() > Some(10));
    assert!(stdout.contains("- Inconclusive, because:"), "{stdout}");
    // In CI an inconclusive run is not green.
    let xml = std::fs::read_to_string(demo.file("none.xml")).unwrap();
    let survived = &xml[xml
        .find("<testcase name=\"survived\"")
        .expect("a survived case")..];
    let case = &survived[..survived.find("</testcase>").unwrap()];
    assert!(
        case.contains("<failure") && case.contains("inconclusive"),
        "{case}"
    );
    // No probe configured: the probe check did not look, so its case is
    // skipped with the reason, not passed.
    let probe_case = &xml[xml
        .find("<testcase name=\"no probe_failure\"")
        .expect("a probe_failure case")..];
    let probe_case = &probe_case[..probe_case.find("</testcase>").unwrap_or(probe_case.len())];
    assert!(
        probe_case.contains("<skipped") && probe_case.contains("no probe configured"),
        "{probe_case}"
    );
    assert!(
        r["extras"]["detectors_not_run"]["probe_failure"].is_string(),
        "{}",
        r["extras"]
    );

    // The same node, default rules: the chaos happens; reach counts the demo's workers.
    let out = demo.file("real.json");
    let (code, stdout, err) = run(monkey_run(&demo).args([
        "--duration",
        "6s",
        "--seed",
        "1",
        "--report",
        out.to_str().unwrap(),
    ]));
    assert!(code == 0 || code == 1, "exit {code}\n{stdout}\n{err}");
    let r = report(&demo, "real.json");
    assert_eq!(
        r["inconclusive"],
        serde_json::json!([]),
        "{}",
        r["inconclusive"]
    );
    let eligible = r["reach"]["eligible_by_group"]["chaos_demo"]
        .as_u64()
        .unwrap();
    assert!(eligible >= 10, "{}", r["reach"]);
    assert_eq!(r["reach"]["eligible"].as_u64(), Some(eligible));
}
