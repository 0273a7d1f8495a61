//! Security: the cookie never appears anywhere, even at the most verbose log
//! level; the monkey stays a hidden node and never makes the target connect
//! to other nodes; SIGTERM cleans up like Ctrl-C.

mod support;

use chaos_beam::dist::term::{atom, TermExt};
use std::process::Stdio;
use support::{monkey, monkey_run, run, Demo};

#[test]
fn the_cookie_appears_nowhere_and_the_target_meets_no_other_node() {
    let demo = Demo::start("sec_cookie");
    let cookie = std::fs::read_to_string(demo.cookie_file())
        .unwrap()
        .trim()
        .to_string();
    assert!(cookie.len() >= 20);
    let (report, events) = (demo.file("report.json"), demo.file("events.jsonl"));
    let watcher = smol::block_on(demo.client());
    let mut everything = String::new();
    for args in [
        vec![
            "-vvv",
            "inspect",
            "--json",
            "--node",
            &demo.name(),
            "--cookie-file",
            &demo.cookie_file(),
        ],
        vec![
            "-vvv",
            "run",
            "--node",
            &demo.name(),
            "--cookie-file",
            &demo.cookie_file(),
            "--duration",
            "4s",
            "--rate",
            "20",
            "--report",
            report.to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
        ],
        vec![
            "-vvv",
            "run",
            "--node",
            &demo.name(),
            "--cookie-file",
            &demo.cookie_file(),
            "--duration",
            "2s",
            "--dry-run",
        ],
    ] {
        let (code, out, err) = run(monkey().args(&args));
        assert!(code == 0 || code == 1, "{args:?}: {err}");
        everything.push_str(&out);
        everything.push_str(&err);
    }
    everything.push_str(&std::fs::read_to_string(&report).unwrap());
    everything.push_str(&std::fs::read_to_string(&events).unwrap());
    assert!(everything.contains("connecting"), "trace logs should be on");
    assert!(everything.len() > 10_000);
    assert!(!everything.contains(&cookie), "the cookie leaked");
    // Hidden, and no other node was ever brought to the target.
    smol::block_on(async {
        let visible = watcher.call("erlang", "nodes", vec![]).await.unwrap();
        assert_eq!(visible.as_list().unwrap().len(), 0);
        let connected = watcher
            .call("erlang", "nodes", vec![atom("connected")])
            .await
            .unwrap();
        let names: Vec<String> = connected
            .as_list()
            .unwrap()
            .iter()
            .filter_map(|n| n.as_text())
            .collect();
        assert_eq!(
            names,
            vec![watcher.local_name().to_string()],
            "the target is connected to {names:?}"
        );
        let known = watcher
            .call("erlang", "nodes", vec![atom("known")])
            .await
            .unwrap();
        for n in known.as_list().unwrap().iter().filter_map(|n| n.as_text()) {
            assert!(
                n == demo.name() || n == "nonode@nohost" || n.starts_with("chaos_monkey_"),
                "the target knows {n}"
            );
        }
    });
}

#[test]
fn sigterm_undoes_everything_and_writes_an_interrupted_report() {
    let demo = Demo::start("sec_term");
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
    support::wait_for_events(&events, 30);
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["interrupted"], true);
    assert!(
        r["left_behind"]["audit"].as_array().unwrap().is_empty(),
        "{}",
        r["left_behind"]
    );
    assert!(
        r["left_behind"]["undo_failures"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        r["left_behind"]
    );
    // Not only by the monkey's own audit: the node, looked at here.
    demo.assert_nothing_left();
}
