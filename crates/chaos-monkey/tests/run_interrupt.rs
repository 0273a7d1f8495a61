//! A run that is interrupted, and a run whose node dies: the report is
//! written either way, with the right exit code.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{monkey_run, wait_for_events, Demo};

#[test]
fn sigint_undoes_everything_and_writes_an_interrupted_report() {
    let demo = Demo::start("run_int");
    let (report, events) = (demo.file("report.json"), demo.file("events.jsonl"));
    let child = monkey_run(&demo)
        .args([
            "--duration",
            "60s",
            "--rate",
            "20",
            "--report",
            report.to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_events(&events, 30);
    let sent = Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        sent.elapsed() < Duration::from_secs(20),
        "stopping took {:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(0), "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["interrupted"], true);
    assert!(r["duration_s"].as_f64().unwrap() < 30.0);
    assert!(
        r["left_behind"]["audit"].as_array().unwrap().is_empty(),
        "{}",
        r["left_behind"]
    );
    assert_eq!(r["left_behind"]["pending_effects"], 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("INTERRUPTED"));
    // Not only by the monkey's own audit: the node, looked at here.
    demo.assert_nothing_left();
}

#[test]
fn the_node_dying_mid_run_exits_4_with_a_report() {
    let demo = Demo::start("run_down");
    let (report, events) = (demo.file("report.json"), demo.file("events.jsonl"));
    let child = monkey_run(&demo)
        .args([
            "--duration",
            "60s",
            "--report",
            report.to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_events(&events, 10);
    let killed = Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-KILL", &demo.os_pid().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "took {:?}",
        killed.elapsed()
    );
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("went down"), "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(r["target_lost"].is_string());
    let down = r["failure_modes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "node_down")
        .expect("a node_down failure mode");
    // Its evidence: what the node was in the middle of.
    let last = down["evidence"]["last_operations"].as_array().unwrap();
    assert!(!last.is_empty(), "{down}");
    assert!(
        last.iter()
            .all(|o| o["op"].is_string() && o["t_ms"].is_u64()),
        "{down}"
    );
}
