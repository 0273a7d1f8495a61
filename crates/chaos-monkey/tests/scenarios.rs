//! `chaos-monkey scenarios` against real nodes: the demo system (which has
//! real limits) passes the whole suite with every figure measured, and a
//! fixture without limits (`weak_no_limits`) fails the scenarios it should
//! — message flood, connection leak, large payload — while passing one it
//! handles (invalid payload). Both write the HTML page and JUnit that
//! validates against the Jenkins xUnit schema (`xmllint`). Also: bad flags
//! are usage errors.

mod detect_support;
mod support;
#[path = "../../chaos-report/tests/support/xmllint.rs"]
mod xmllint;

use detect_support::Weak;
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{assert_self_contained, monkey, run, Demo};
use xmllint::validate_junit;

/// Shorter faults than the defaults, to keep the test quick.
const QUICK: &str = r#"
[scenarios]
partition = "1s"
memory_hold = "1s"
flood_duration = "1s"
load_duration = "1s"
disk_bytes = 16777216
"#;

fn report(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no report at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the report is JSON")
}

fn result<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == name)
        .unwrap_or_else(|| panic!("no result for {name} in {report:#}"))
}

#[test]
fn the_demo_system_passes_the_whole_suite() {
    let demo = Demo::start("scn");
    let (cfg, json, xml, html, disk) = (
        demo.file("quick.toml"),
        demo.file("suite.json"),
        demo.file("suite.xml"),
        demo.file("suite.html"),
        demo.file("disk"),
    );
    std::fs::write(&cfg, QUICK).unwrap();
    std::fs::create_dir_all(&disk).unwrap();
    let (code, out, err) = run(monkey().args([
        "scenarios",
        "--node",
        &demo.name(),
        "--cookie-file",
        &demo.cookie_file(),
        "--config",
        cfg.to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
        "--junit",
        xml.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--disk-dir",
        disk.to_str().unwrap(),
        "--allow-supervisor-kill",
        "--seed",
        "3",
    ]));
    let ctx = format!("exit {code}\nstdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, 0, "{ctx}");
    let r = report(&json);
    let s = &r["summary"];
    assert_eq!(
        (
            s["total"].as_u64(),
            s["passed"].as_u64(),
            s["failed"].as_u64(),
            s["skipped"].as_u64()
        ),
        (Some(11), Some(11), Some(0), Some(0)),
        "{ctx}"
    );
    assert!(s["average_detection_ms"].as_f64().unwrap() > 0.0, "{ctx}");
    assert!(s["average_recovery_ms"].as_f64().unwrap() > 0.0, "{ctx}");
    for res in r["results"].as_array().unwrap() {
        let name = res["scenario"].as_str().unwrap();
        assert_eq!(res["passed"], true, "{name}: {res:#}");
        assert!(
            res["recovery_time_ms"].as_f64().is_some(),
            "{name}: no recovery measured: {res:#}"
        );
        assert_eq!(
            res["cascading_failures"],
            serde_json::json!([]),
            "{name}: {res:#}"
        );
        // Probe writes through the service: nothing lost unless the fault kills processes.
        if !["process_crash", "supervisor_cascade"].contains(&name) {
            assert_eq!(res["data_loss"], 0, "{name}: {res:#}");
        }
        assert!(!res["expected"].as_str().unwrap().is_empty());
        assert!(!res["observed"].as_str().unwrap().is_empty());
    }
    // Faults whose effect is seen every time: a detection time each.
    for name in [
        "process_crash",
        "supervisor_cascade",
        "network_partition",
        "memory_pressure",
        "message_flood",
        "invalid_payload",
        "connection_leak",
        "large_payload",
        "disk_pressure",
    ] {
        assert!(
            result(&r, name)["detection_time_ms"].as_f64().is_some(),
            "{name}: no detection time\n{ctx}"
        );
    }
    // The demo's limits, as observed.
    let leak = &result(&r, "connection_leak")["measurements"];
    // At most the limit (a handler of an earlier client may still be closing).
    let accepted = leak["accepted"].as_u64().unwrap();
    assert!((95..=100).contains(&accepted), "{leak:#}");
    assert_eq!(leak["first_refusal_at"], accepted + 1, "{leak:#}");
    let flood = &result(&r, "message_flood")["measurements"];
    assert!(
        flood["refused"]["ERR rate_limited"].as_u64().unwrap() > 0,
        "{flood:#}"
    );
    assert_eq!(
        result(&r, "large_payload")["measurements"]["answer"],
        "ERR line_too_long"
    );
    assert_eq!(r["context"]["left_behind"], serde_json::json!([]), "{ctx}");
    // The disk file is gone; the JUnit file has one passing case per scenario.
    assert_eq!(
        std::fs::read_dir(&disk).unwrap().count(),
        0,
        "disk_pressure left a file"
    );
    let junit = std::fs::read_to_string(&xml).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 11, "{junit}");
    assert!(junit.contains("failures=\"0\""), "{junit}");
    validate_junit(&xml).unwrap();
    // The page: self-contained, a row and an expected/observed block per scenario.
    let page = std::fs::read_to_string(&html).unwrap();
    assert_self_contained(&page);
    assert!(page.contains("all 11 scenarios passed"), "{page}");
    assert_eq!(page.matches("<details>").count(), 11, "{page}");
    for res in r["results"].as_array().unwrap() {
        let name = res["scenario"].as_str().unwrap();
        assert!(page.contains(&format!("<td>{name}</td>")), "{name}");
        assert!(
            page.contains(&format!("<summary>{name} — passed</summary>")),
            "{name}"
        );
    }
    assert!(
        out.contains("11 scenarios: 11 passed, 0 failed, 0 skipped"),
        "{ctx}"
    );
}

#[test]
fn a_service_without_limits_fails_flood_leak_and_large_payload() {
    let weak = Weak::start("weak_no_limits", |b, _| b);
    let json = weak.file("suite.json");
    let xml = weak.file("suite.xml");
    let html = weak.file("suite.html");
    let (code, out, err) = run(monkey().args([
        "scenarios",
        "--node",
        &weak.node.name,
        "--cookie-file",
        weak.cookie_file.to_str().unwrap(),
        "--config",
        {
            std::fs::write(weak.file("quick.toml"), QUICK).unwrap();
            weak.file("quick.toml").to_str().unwrap().to_string()
        }
        .as_str(),
        "--only",
        "message_flood,connection_leak,large_payload,invalid_payload,disk_pressure",
        "--report",
        json.to_str().unwrap(),
        "--junit",
        xml.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]));
    let ctx = format!("exit {code}\nstdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, 1, "{ctx}");
    let r = report(&json);
    assert_eq!(r["summary"]["failed"], 3, "{ctx}");
    assert_eq!(r["summary"]["passed"], 1, "{ctx}");
    assert_eq!(r["summary"]["skipped"], 1, "{ctx}");
    // No --disk-dir: skipped, with the reason.
    let disk = result(&r, "disk_pressure");
    assert!(
        disk["skipped"].as_str().unwrap().contains("--disk-dir"),
        "{disk:#}"
    );
    assert_eq!(disk["passed"], false, "{disk:#}");
    // No bounded queue: the store's mailbox went past the bound.
    let flood = result(&r, "message_flood");
    assert_eq!(flood["passed"], false, "{flood:#}");
    let longest = &flood["measurements"]["longest_queue"];
    assert!(longest["len"].as_u64().unwrap() > 1000, "{flood:#}");
    assert!(flood["detection_time_ms"].as_f64().is_some(), "{flood:#}");
    // No connection limit: all 150 accepted.
    let leak = result(&r, "connection_leak");
    assert_eq!(leak["passed"], false, "{leak:#}");
    assert_eq!(leak["measurements"]["accepted"], 150, "{leak:#}");
    // No size limit: the 409,600-byte request acknowledged.
    let large = result(&r, "large_payload");
    assert_eq!(large["passed"], false, "{large:#}");
    assert_eq!(large["measurements"]["answer"], "OK", "{large:#}");
    // What it does handle, it passes.
    assert_eq!(result(&r, "invalid_payload")["passed"], true, "{ctx}");
    assert_eq!(r["context"]["left_behind"], serde_json::json!([]), "{ctx}");
    let junit = std::fs::read_to_string(&xml).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 5, "{junit}");
    assert!(junit.contains("failures=\"3\""), "{junit}");
    assert!(junit.contains("skipped=\"1\""), "{junit}");
    validate_junit(&xml).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert_self_contained(&page);
    assert!(page.contains("3 of 4 scenarios failed"), "{page}");
    assert!(page.contains("card bad"), "{page}");
    assert_eq!(page.matches(">failed</span>").count(), 3, "{page}");
    assert_eq!(page.matches(">skipped</span>").count(), 1, "{page}");
}

#[test]
fn scenarios_honour_the_safety_settings_of_a_run() {
    let demo = Demo::start("scnsafe");
    let json = demo.file("safe.json");
    let go = |extra: &[&str]| {
        let mut c = monkey();
        c.args([
            "scenarios",
            "--node",
            &demo.name(),
            "--cookie-file",
            &demo.cookie_file(),
            "--only",
            "process_crash,supervisor_cascade",
            "--report",
            json.to_str().unwrap(),
        ])
        .args(extra);
        let (code, out, err) = run(&mut c);
        let r = report(&json);
        (code, format!("exit {code}\n{out}\n{err}"), r)
    };
    // Killing a supervisor is gated, as in a run.
    let (_, ctx, r) = go(&[]);
    let cascade = result(&r, "supervisor_cascade");
    assert!(
        cascade["skipped"]
            .as_str()
            .is_some_and(|w| w.contains("--allow-supervisor-kill")),
        "{ctx}"
    );
    assert_eq!(result(&r, "process_crash")["passed"], true, "{ctx}");
    // --protect-app: the demo's processes are out of reach; nothing to
    // kill, so both are skipped for want of a victim (a failed scenario
    // could have killed one and failed for another reason).
    let skipped_for_want_of_a_victim = |r: &Value, name: &str, ctx: &str| {
        let res = result(r, name);
        assert!(
            res["skipped"]
                .as_str()
                .is_some_and(|w| w.contains("under the safety rules")),
            "{name} ran against a protected application: {res:#}\n{ctx}"
        );
        assert_eq!(res["passed"], false, "{name}: {ctx}");
        assert!(
            !res["observed"]
                .as_str()
                .unwrap_or("")
                .contains("chaos_demo"),
            "{name}: {ctx}"
        );
    };
    let (code, ctx, r) = go(&["--protect-app", "chaos_demo", "--allow-supervisor-kill"]);
    for name in ["process_crash", "supervisor_cascade"] {
        skipped_for_want_of_a_victim(&r, name, &ctx);
    }
    // Everything skipped, nothing failed: inconclusive.
    assert_eq!(code, 5, "{ctx}");
    // The same from the config's [safety] table.
    let cfg = demo.file("safety.toml");
    std::fs::write(&cfg, "[safety]\nprotect_apps = [\"chaos_demo\"]\n").unwrap();
    let (_, ctx, r) = go(&["--config", cfg.to_str().unwrap()]);
    skipped_for_want_of_a_victim(&r, "process_crash", &ctx);
    // A bad safety value is a usage error, like run's.
    let (code, _, err) = run(monkey().args([
        "scenarios",
        "--node",
        &demo.name(),
        "--cookie-file",
        &demo.cookie_file(),
        "--max-app-share",
        "2",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--max-app-share"), "{err}");
}

#[test]
fn the_list_needs_no_node() {
    let (code, out, err) = run(monkey().args([
        "scenarios",
        "--list",
        "--only",
        "large_payload",
        "--max-request-bytes",
        "1000",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("large_payload"), "{out}");
    assert!(
        out.contains("a 100000-byte request (100x the 1000-byte limit)"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn bad_scenario_flags_are_usage_errors() {
    let (code, _, err) = run(monkey().args([
        "scenarios",
        "--node",
        "nobody@localhost",
        "--cookie",
        "c",
        "--only",
        "process_crash,nope",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown scenario 'nope'") && err.contains("disk_pressure"),
        "{err}"
    );
    let (code, _, err) = run(monkey().args([
        "scenarios",
        "--node",
        "nobody@localhost",
        "--cookie",
        "c",
        "--service",
        "10.1.2.3:80",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--service") && err.contains("not a loopback"),
        "{err}"
    );
    // The [scenarios] table: errors say where.
    let cfg = std::env::temp_dir().join(format!("cm-scn-bad-{}.toml", std::process::id()));
    for (text, says) in [
        (
            "[scenarios]\nflood_factor = -1.0\n",
            ":2: flood_factor must be above 0",
        ),
        (
            "[scenarios]\n\nload_duration = \"soon\"\n",
            ":3: load_duration: 'soon' is not a duration",
        ),
        ("[scenarios]\npong = \"(\"\n", ":2: pong: bad regex"),
        ("[scenarios]\nnope = 1\n", "unknown field `nope`"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let (code, _, err) = run(monkey().args([
            "scenarios",
            "--node",
            "nobody@localhost",
            "--cookie",
            "c",
            "--config",
            cfg.to_str().unwrap(),
        ]));
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains(says), "{text}: expected {says:?} in {err}");
    }
    let _ = std::fs::remove_file(&cfg);
    // The example config's [scenarios] table is valid: as far as connecting (exit 3, no epmd).
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/chaos.example.toml");
    let (code, _, err) = run(monkey().args([
        "scenarios",
        "--node",
        "nobody@localhost",
        "--cookie",
        "c",
        "--config",
        example,
        "--epmd-port",
        "1",
    ]));
    assert_eq!(code, 3, "{err}");
}

/// Start `scenarios --only <only>` with faults held for 30 s, wait until
/// `in_place` says the fault is there, send SIGINT; the exit code, stdout
/// and the report.
fn interrupt(
    demo: &Demo,
    only: &str,
    extra: &[&str],
    in_place: impl Fn() -> bool,
) -> (i32, String, Value) {
    let cfg = demo.file(&format!("{only}.toml"));
    std::fs::write(
        &cfg,
        "[scenarios]\nmemory_hold = \"30s\"\nload_duration = \"30s\"\n",
    )
    .unwrap();
    let json = demo.file(&format!("{only}.json"));
    let child = monkey()
        .args([
            "scenarios",
            "--node",
            &demo.name(),
            "--cookie-file",
            &demo.cookie_file(),
            "--config",
            cfg.to_str().unwrap(),
            "--only",
            only,
            "--report",
            json.to_str().unwrap(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !in_place() {
        assert!(Instant::now() < deadline, "the {only} fault never showed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "stopping took {:?}",
        sent.elapsed()
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let ctx = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let r = report(&json);
    assert_eq!(r["interrupted"], true, "{ctx}");
    assert_eq!(r["context"]["left_behind"], serde_json::json!([]), "{ctx}");
    (out.status.code().unwrap_or(-1), ctx, r)
}

#[test]
fn ctrl_c_undoes_the_running_fault() {
    let demo = Demo::start("scn_int");
    let binary = || -> u64 {
        smol::block_on(async {
            let c = demo.client().await;
            let v = chaos_beam::eval::eval(&c, "erlang:memory(binary).", &[])
                .await
                .unwrap();
            c.close();
            chaos_beam::dist::term::show(&v).parse().unwrap()
        })
    };
    // Held memory: released at once, not after the 30 s hold.
    let before = binary();
    let (_, ctx, r) = interrupt(&demo, "memory_pressure", &[], || {
        binary() > before + 1_000_000
    });
    let mem = result(&r, "memory_pressure");
    assert!(mem["recovery_time_ms"].as_f64().is_some(), "{ctx}");
    assert!(
        binary() < before + 1_000_000,
        "the held binary is still there\n{ctx}"
    );
    // The disk file: deleted.
    let disk = demo.file("int_disk");
    std::fs::create_dir_all(&disk).unwrap();
    let files = || std::fs::read_dir(&disk).unwrap().count();
    let (_, ctx, _) = interrupt(
        &demo,
        "disk_pressure",
        &["--disk-dir", disk.to_str().unwrap()],
        || files() > 0,
    );
    assert_eq!(files(), 0, "the fill file is still there\n{ctx}");
}
