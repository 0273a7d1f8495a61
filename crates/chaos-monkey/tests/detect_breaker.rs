//! The circuit breaker: when the steady state stays broken, chaos stops,
//! the monkey keeps observing through the recovery window, and reports;
//! `--keep-going` runs to the end anyway.

mod detect_support;

use detect_support::Weak;

/// Process chaos allowed past restart budgets.
const COLLAPSE: &[&str] = &[
    "--weights",
    "process=1",
    "--profile",
    "aggressive",
    "--allow-collapse",
];

#[test]
fn the_breaker_stops_chaos_early_and_keep_going_does_not() {
    // One kill stops this application for good: the steady state stays
    // broken. That kill is past the budget (a single point of failure), so
    // the runs allow collapse.
    let w = Weak::start("weak_supervisor_collapse", |b, _| b);
    let run = w.monkey("30s", &[COLLAPSE, &["--breaker", "2s"]].concat());
    run.assert_completed(&[1]);
    let r = run.report.as_ref().expect("a report");
    assert!(r["breaker_tripped"].is_string(), "{}", run.context());
    assert!(
        r["duration_s"].as_f64().unwrap() < 15.0,
        "{}",
        r["duration_s"]
    );
    assert!(run.stdout.contains("Circuit breaker"), "{}", run.stdout);
    run.assert_mode("supervisor_collapse", Some("weak_supervisor_collapse"));

    let w = Weak::start("weak_supervisor_collapse", |b, _| b);
    let run = w.monkey(
        "6s",
        &[COLLAPSE, &["--breaker", "2s", "--keep-going"]].concat(),
    );
    run.assert_completed(&[1]);
    let r = run.report.as_ref().expect("a report");
    assert!(r["breaker_tripped"].is_null(), "{}", run.context());
    assert!(r["duration_s"].as_f64().unwrap() >= 6.0);
}
