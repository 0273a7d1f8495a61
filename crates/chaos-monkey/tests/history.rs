//! The run history against real nodes: runs recorded and listed, a
//! regression planted in a fixture (`weak_slow_restart`, whose workers'
//! start sleeps `init_delay_ms`) seen by `compare` and by the gate, replay,
//! two runs recorded at once, an interrupted run, and a corrupted history
//! file that leaves the run and its report alone. Every test has its own
//! history file (`--history`), never the user's.

mod detect_support;
mod support;

use detect_support::Weak;
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use support::{monkey, monkey_run, run, wait_for_events, Demo};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// `chaos-monkey history --json` of `h`.
fn history(h: &Path, node: &str) -> Vec<Value> {
    let (code, out, err) = run(monkey().args([
        "history",
        "--json",
        "--last",
        "100",
        "--node",
        node,
        "--history",
        h.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    json(&out).as_array().unwrap().clone()
}

#[test]
fn a_slower_restart_is_a_regression_compare_and_the_gate_see() {
    let w = Weak::start("weak_slow_restart", |b, _| b);
    let h = w.file("history.db");
    let hs = h.to_str().unwrap();
    let junit = w.file("junit.xml");
    let cfg = w.file("chaos.toml");
    // Kills whose restart is measured (kill_worker), below the 5-a-second
    // kill cap, between harmless bursts; nothing else.
    std::fs::write(
        &cfg,
        "[ops.kill_worker]\nweight = 1\n[ops.spawn_burst]\nweight = 2\n\
         [ops.monitor_kill]\nenabled = false\n[ops.exit_signal]\nenabled = false\n\
         [ops.link_crash_chain]\nenabled = false\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let go = |extra: &[&str]| {
        let mut a = vec!["--weights", "process=1", "--config", cfg, "--history", hs];
        a.extend_from_slice(extra);
        w.monkey("2s", &a)
    };
    // The target's first run: no `last` yet, so the gate has nothing to judge.
    let first = go(&["--max-regression", "survival=0"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("gate not checked: no earlier run"),
        "{}",
        first.stderr
    );
    let ids: Vec<i64> = history(&h, &w.node.name)
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    let baseline = ids[0].to_string();

    // The planted regression: every restart now waits 400 ms in init.
    assert_eq!(
        w.eval("application:set_env(weak_slow_restart, init_delay_ms, 400)"),
        "ok"
    );
    let gate = [
        "--max-regression",
        "recovery_p95=150,survival=5",
        "--junit",
        junit.to_str().unwrap(),
    ];
    let slow = go(&[&["--baseline", "last"][..], &gate[..]].concat());
    assert_eq!(
        slow.code, 1,
        "the gate fails on the regression:\n{}",
        slow.stderr
    );
    assert!(
        slow.stderr.contains("gate FAILED: recovery_p95"),
        "{}",
        slow.stderr
    );
    assert!(
        slow.stderr.contains("regression gate failed"),
        "{}",
        slow.stderr
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("no regression in recovery_p95"), "{xml}");
    assert!(xml.contains("no regression in survival"), "{xml}");
    assert!(xml.contains("type=\"regression\""), "{xml}");

    let (code, out, err) = run(monkey().args([
        "compare",
        "previous",
        "last",
        "--json",
        "--node",
        &w.node.name,
        "--history",
        hs,
    ]));
    assert_eq!(code, 0, "{err}");
    let c = json(&out);
    let p95 = c["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "recovery_p95")
        .unwrap_or_else(|| panic!("no recovery_p95 in {c}"));
    let (a, b) = (p95["a"].as_f64().unwrap(), p95["b"].as_f64().unwrap());
    assert!(b >= a + 300.0, "p95 {a} ms → {b} ms");
    let app = format!("recovery_p95[{}]", w.app);
    assert!(
        c["figures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == app.as_str()),
        "{c}"
    );
    let page = w.file("compare.html");
    let (code, text, err) = run(monkey().args([
        "compare",
        &baseline,
        "last",
        "--history",
        hs,
        "--html",
        page.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("recovery_p95") && text.contains("worse"),
        "{text}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Trends across the target") && html.contains("<svg"));
    support::assert_self_contained(&html);

    // Fixed again: the same gate against the first run passes.
    assert_eq!(
        w.eval("application:set_env(weak_slow_restart, init_delay_ms, 0)"),
        "ok"
    );
    let fixed = go(&[&["--baseline", &baseline][..], &gate[..]].concat());
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    assert!(
        fixed.stderr.contains("gate ok: recovery_p95"),
        "{}",
        fixed.stderr
    );
    let runs = history(&h, &w.node.name);
    assert_eq!(runs.len(), 3);
    let r: Value = json(&std::fs::read_to_string(w.file("report.json")).unwrap());
    assert_eq!(
        r["extras"]["gate"]["passed"], true,
        "{}",
        r["extras"]["gate"]
    );
    assert_eq!(r["extras"]["history"]["id"], runs[2]["id"]);
    assert_eq!(
        runs[2]["target"]["applications"][&w.app], "0.1.0",
        "the user's applications and versions: {}",
        runs[2]["target"]
    );
    assert!(runs[2]["target"]["applications"].get("kernel").is_none());
}

#[test]
fn demo_runs_are_listed_replayed_recorded_at_once_and_survive_a_bad_file() {
    let demo = Demo::start("hist");
    let h = demo.file("history.db");
    let hs = h.to_str().unwrap().to_string();
    let short = |extra: &[&str]| {
        let mut c = monkey_run(&demo);
        c.args(["--duration", "2s", "--history", &hs]).args(extra);
        c
    };
    // Two runs at once, both recorded; and at the same time a third whose
    // history file is corrupted: a clear error naming it, and the run and
    // its report unaffected.
    let bad = demo.file("bad.db");
    std::fs::write(&bad, b"not a database at all\n".repeat(100)).unwrap();
    let report = demo.file("report.json");
    let c = monkey_run(&demo)
        .args(["--duration", "2s", "--history", bad.to_str().unwrap()])
        .args(["--report", report.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let a = short(&["--seed", "7"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = short(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("not in the history"), "{err}");
    }
    let out = c.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 5)),
        "{:?}: {err}",
        out.status
    );
    assert!(
        err.contains(&format!("history database {}", bad.display())) && err.contains("corrupted"),
        "{err}"
    );
    let r = json(&std::fs::read_to_string(&report).unwrap());
    assert!(r["total_ops"].as_u64().unwrap() > 0);
    assert!(r["extras"].get("history").is_none());
    let (code, _, err) = run(monkey().args(["history", "--history", bad.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(err.contains(&bad.display().to_string()), "{err}");
    let runs = history(&h, &demo.name());
    assert_eq!(runs.len(), 2, "both runs at once are recorded");
    let first = runs
        .iter()
        .find(|r| r["seed"] == 7)
        .expect("the seed-7 run");
    let id = first["id"].as_i64().unwrap();
    assert!(first["total_ops"].as_u64().unwrap() > 0);
    assert_eq!(first["end"], "finished");
    assert!(
        first["target"]["otp_release"].is_string(),
        "{}",
        first["target"]
    );

    // A replay: the same operations in the same order.
    let (code, out, err) = run(monkey().args([
        "replay",
        &id.to_string(),
        "--history",
        &hs,
        "--cookie-file",
        &demo.cookie_file(),
        "--no-progress",
        "--json",
    ]));
    assert!([0, 1, 5].contains(&code), "{code}: {err}");
    // The replay's own report comes first, then the comparison.
    let at = out.rfind("\n{\n").map_or(0, |i| i + 1);
    let c = json(&out[at..]);
    assert_eq!(c["same_operations"], true, "{c}");
    assert_eq!(c["a"], id);
    let runs = history(&h, &demo.name());
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[2]["settings"]["replay_of"], id);
    assert_eq!(runs[2]["seed"], 7);

    // Interrupted: recorded as such.
    let events = demo.file("events.jsonl");
    // (`short` has its own --duration: this one is built by hand.)
    let child = monkey_run(&demo)
        .args([
            "--duration",
            "60s",
            "--history",
            &hs,
            "--events",
            events.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_events(&events, 5);
    support::signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = history(&h, &demo.name());
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[3]["end"], "interrupted");

    // The cookie is nowhere in the history.
    let cookie = std::fs::read_to_string(demo.cookie_file()).unwrap();
    let bytes = std::fs::read(&h).unwrap();
    let wal = std::fs::read(h.with_extension("db-wal")).unwrap_or_default();
    for b in [&bytes, &wal] {
        assert!(
            !b.windows(cookie.trim().len())
                .any(|w| w == cookie.trim().as_bytes()),
            "the cookie is in the history file"
        );
    }
}

/// Stops a demo node started by `chaos-monkey demo --keep`, pass or fail.
struct KeptDemo {
    name: String,
    state: std::path::PathBuf,
}

impl Drop for KeptDemo {
    fn drop(&mut self) {
        let _ = monkey()
            .args(["demo-node", "stop", "--name", &self.name, "--state-dir"])
            .arg(&self.state)
            .output();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

#[test]
fn demo_and_scenarios_are_recorded_and_a_demo_replays() {
    let name = format!("hist_demo_{}", std::process::id());
    let kept = KeptDemo {
        state: std::env::temp_dir().join(format!("cm-cli-test-{name}")),
        name: name.clone(),
    };
    std::fs::create_dir_all(&kept.state).unwrap();
    let h = kept.state.join("history.db");
    let hs = h.to_str().unwrap();
    let node = format!("{name}@localhost");
    let demo = |extra: &[&str]| {
        let mut c = monkey();
        c.args([
            "demo",
            "--duration",
            "2s",
            "--name",
            &name,
            "--no-progress",
            "--history",
            hs,
        ])
        .arg("--state-dir")
        .arg(&kept.state)
        .args(extra);
        c
    };
    let (code, _, err) = run(&mut demo(&["--seed", "11", "--keep"]));
    assert!([0, 1, 5].contains(&code), "{code}: {err}");
    let runs = history(&h, &node);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["kind"], "demo");
    assert_eq!(
        runs[0]["settings"]["argv"],
        serde_json::json!(["--name", name])
    );

    // The kept node: a one-scenario suite, recorded too.
    let (code, status, err) = run(monkey()
        .args([
            "demo-node",
            "status",
            "--json",
            "--name",
            &name,
            "--state-dir",
        ])
        .arg(&kept.state));
    assert_eq!(code, 0, "the demo node was kept: {err}");
    let cookie = json(&status)["info"]["cookie_file"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, err) = run(monkey().args([
        "scenarios",
        "--node",
        &node,
        "--cookie-file",
        &cookie,
        "--only",
        "process_crash",
        "--history",
        hs,
    ]));
    assert!([0, 1, 5].contains(&code), "{code}: {err}");
    let runs = history(&h, &node);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["kind"], "scenarios");
    assert_eq!(runs[1]["outcomes"][0]["name"], "process_crash");
    let (code, _, err) = run(monkey()
        .args(["demo-node", "stop", "--name", &name, "--state-dir"])
        .arg(&kept.state));
    assert_eq!(code, 0, "{err}");

    // A demo replays on a fresh demo node of the same name.
    let (code, out, err) = run(monkey().env("CHAOS_MONKEY_STATE_DIR", &kept.state).args([
        "replay",
        &runs[0]["id"].to_string(),
        "--history",
        hs,
        "--no-progress",
    ]));
    assert!([0, 1, 5].contains(&code), "{code}: {err}");
    assert!(out.contains("operations: the same sequence"), "{out}");
    let runs = history(&h, &node);
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[2]["settings"]["replay_of"], runs[0]["id"]);
}

#[test]
fn bad_history_files_and_gate_flags_are_named_without_a_node() {
    let dir = std::env::temp_dir().join(format!("cm-hist-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let newer = dir.join("newer.db");
    // A history written by a newer chaos-monkey: a valid SQLite file, a higher schema version.
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_chaos-monkey"))
        .args(["history", "--history"])
        .arg(&newer)
        .output()
        .unwrap();
    assert_eq!(made.status.code(), Some(1), "no file yet");
    assert!(String::from_utf8_lossy(&made.stderr).contains("no such file"));
    chaos_history::HistoryStore::open(&newer).unwrap();
    rusqlite_set_version(&newer, 99);
    let (code, _, err) = run(monkey().args(["history", "--history", newer.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(
        err.contains(&newer.display().to_string()) && err.contains("schema version 99 is newer"),
        "{err}"
    );
    let cookie = dir.join("cookie");
    std::fs::write(&cookie, "not_used").unwrap();
    let cookie = cookie.to_str().unwrap();
    let (code, _, err) = run(monkey().args([
        "run",
        "--node",
        "x@localhost",
        "--cookie-file",
        cookie,
        "--max-regression",
        "speed=1",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--max-regression") && err.contains("speed"),
        "{err}"
    );
    let (code, _, err) = run(monkey().args([
        "run",
        "--node",
        "x@localhost",
        "--cookie-file",
        cookie,
        "--no-history",
        "--baseline",
        "last",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("drop --no-history"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Set a history file's schema version (SQLite's `user_version`, at byte 60 of its header).
fn rusqlite_set_version(path: &Path, v: u32) {
    let mut b = std::fs::read(path).unwrap();
    b[60..64].copy_from_slice(&v.to_be_bytes());
    std::fs::write(path, b).unwrap();
}
