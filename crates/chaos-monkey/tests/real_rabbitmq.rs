//! Opt-in, against a real system: Debian's RabbitMQ with its management
//! plugin, a private node started by the test on loopback. `scenarios`
//! with no service named finds the AMQP and HTTP listeners, picks a probe
//! by asking them, runs all eleven scenarios (none skipped for want of a
//! service or a protocol) and leaves the node up; `run --probe amqp://…
//! --probe http://…` feeds both probes into the steady state. Minutes
//! long, so not in the default suite:
//!
//! ```text
//! cargo test -p chaos-monkey --test real_rabbitmq -- --ignored --nocapture
//! ```

mod support;

use chaos_testkit::RabbitNode;
use serde_json::Value;
use support::{monkey, run};

const QUICK: &str = r#"
[scenarios]
partition = "1s"
memory_hold = "1s"
flood_duration = "1s"
load_duration = "1s"
disk_bytes = 16777216
recovery = "15s"
"#;

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cm-real-rabbit-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
#[ignore = "opt-in: starts RabbitMQ with its management plugin (minutes)"]
fn scenarios_and_probes_against_rabbitmq() {
    assert!(
        RabbitNode::installed(),
        "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
    );
    // Limits for the scenarios to find: a message size (100x 4096 bytes is
    // over it) and a connection count (connection_leak opens 150).
    let rabbit = RabbitNode::start_with(true, "max_message_size = 65536\nconnection_max = 100\n");
    let http = rabbit.http_port.unwrap();
    let cookie = rabbit.cookie_file.to_str().unwrap().to_string();
    let (cfg, report, disk) = (
        scratch("quick.toml"),
        scratch("suite.json"),
        scratch("disk"),
    );
    std::fs::write(&cfg, QUICK).unwrap();
    std::fs::create_dir_all(&disk).unwrap();
    let (code, out, err) = run(monkey().args([
        "scenarios",
        "--node",
        &rabbit.node,
        "--cookie-file",
        &cookie,
        "--config",
        cfg.to_str().unwrap(),
        "--disk-dir",
        disk.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--allow-supervisor-kill",
        "--seed",
        "1",
    ]));
    println!("scenarios: exit {code}\n{out}\n{err}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let listeners = r["context"]["listeners"].as_array().unwrap();
    let speaks = |port: u16| {
        listeners
            .iter()
            .find(|l| l["port"] == port)
            .map(|l| l["protocol"]["kind"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        speaks(rabbit.amqp_port).as_deref(),
        Some("amqp"),
        "{listeners:#?}"
    );
    assert_eq!(speaks(http).as_deref(), Some("http"), "{listeners:#?}");
    let kind = r["context"]["probe"]["kind"].as_str().unwrap();
    assert!(["amqp", "http"].contains(&kind), "{:#}", r["context"]);
    assert_eq!(r["summary"]["total"], 11);
    // Nothing skipped for want of a service or a protocol.
    for res in r["results"].as_array().unwrap() {
        if let Some(why) = res["skipped"].as_str() {
            assert!(
                !why.contains("no service") && !why.contains("probe"),
                "{}: {why}",
                res["scenario"]
            );
        }
    }
    assert_ne!(code, 5, "inconclusive");
    assert_eq!(rabbit.eval("ok."), "ok", "the node is down after the suite");
    assert_eq!(
        rabbit.eval("lists:keymember(rabbit, 1, application:which_applications())."),
        "true"
    );

    // run with both probes: the steady state asks them every second.
    let run_report = scratch("run.json");
    let (code, out, err) = run(monkey().args([
        "run",
        "--node",
        &rabbit.node,
        "--cookie-file",
        &cookie,
        "--duration",
        "20s",
        "--seed",
        "1",
        "--no-progress",
        "--probe",
        &format!("amqp://127.0.0.1:{}", rabbit.amqp_port),
        "--probe",
        &format!("http://guest:guest@127.0.0.1:{http}/api/overview"),
        "--report",
        run_report.to_str().unwrap(),
    ]));
    println!("run: exit {code}\n{out}\n{err}");
    assert!([0, 1, 5].contains(&code), "exit {code}");
    let text = std::fs::read_to_string(&run_report).unwrap();
    assert!(!text.contains("guest:guest"), "credentials in the report");
    assert!(!out.contains("guest:guest") && !err.contains("guest:guest"));
    assert_eq!(rabbit.eval("ok."), "ok", "the node is down after the run");
}
