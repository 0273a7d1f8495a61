//! Soak: aggressive chaos against the demo system for a while (5 minutes by
//! default; `CHAOS_SOAK_DURATION=1h` for the full soak, see scripts/soak.sh).
//! The monkey's memory must stay flat and nothing may be left behind.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{monkey_run, Demo};

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

#[test]
fn aggressive_soak_keeps_the_monkey_flat_and_leaves_nothing_behind() {
    let duration = std::env::var("CHAOS_SOAK_DURATION").unwrap_or_else(|_| "5m".to_string());
    let planned = humantime::parse_duration(&duration).expect("CHAOS_SOAK_DURATION is a duration");
    let demo = Demo::start("soak");
    let report = demo.file("report.json");
    let service = format!(
        "127.0.0.1:{}",
        demo.node.as_ref().unwrap().info.service_port
    );
    let proxy_listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = monkey_run(&demo)
        .args([
            "--duration",
            &duration,
            "--rate",
            "20",
            "--seed",
            "2026",
            "--profile",
            "aggressive",
            "--allow-port-exhaustion",
            "--keep-going",
            "--proxy",
            &format!("{proxy_listen}={service}"),
            "--report",
            report.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Some(kib) = rss_kib(pid) {
            samples.push((started.elapsed(), kib));
        }
        assert!(
            started.elapsed() < planned + Duration::from_secs(120),
            "the soak did not end"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        matches!(status.code(), Some(0) | Some(1)),
        "exit {status:?}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(r["total_ops"].as_u64().unwrap() as f64 >= planned.as_secs_f64() * 20.0 * 0.95);
    let lb = &r["left_behind"];
    assert!(lb["audit"].as_array().unwrap().is_empty(), "{lb}");
    assert!(lb["undo_failures"].as_array().unwrap().is_empty(), "{lb}");
    assert_eq!(lb["pending_effects"], 0, "{lb}");
    // Flat memory: the second half peaks no higher than the first half plus a little.
    let half = planned / 2;
    let first = samples
        .iter()
        .filter(|(t, _)| *t > Duration::from_secs(10) && *t <= half)
        .map(|(_, k)| *k)
        .max()
        .unwrap();
    let second = samples
        .iter()
        .filter(|(t, _)| *t > half)
        .map(|(_, k)| *k)
        .max()
        .unwrap();
    let peak = samples.iter().map(|(_, k)| *k).max().unwrap();
    eprintln!("soak {duration}: {} ops, monkey RSS peak first half {first} KiB, second half {second} KiB, overall {peak} KiB", r["total_ops"]);
    assert!(
        second <= first + first / 5 + 4096,
        "the monkey's memory grew: {first} KiB then {second} KiB"
    );
    assert!(
        peak < 50 * 1024,
        "the monkey's peak memory {peak} KiB is over 50 MiB"
    );
}
