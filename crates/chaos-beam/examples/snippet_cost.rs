//! What the monkey's recurring work costs on a live node, interpreted
//! (`erl_eval`) against compiled (temporary modules): the health sample taken
//! every second and the victim-candidate refresh. Wall time per call, and the
//! node's CPU time per call when `--os-pid` is given (read from /proc).
//!
//! Run: `cargo run --release -p chaos-beam --example snippet_cost -- NODE COOKIE_FILE [--os-pid PID] [--only-app APP] [--compiled-only]`
//! (the kill and suspend rounds have the safety caps off: aim them with `--only-app`).
//! Leaves nothing behind (the compiled modules are unloaded at the end).

use chaos_beam::chaos::detect::DetectSettings;
use chaos_beam::chaos::{BeamTarget, Safety};
use chaos_beam::dist::{ConnectOptions, Cookie, DistClient};
use chaos_engine::{Profile, Target};
use std::time::{Duration, Instant};

fn cpu_ticks(pid: Option<u32>) -> u64 {
    let Some(pid) = pid else { return 0 };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (node, cookie_file) = match (args.get(1), args.get(2)) {
        (Some(n), Some(c)) => (n.clone(), std::path::PathBuf::from(c)),
        _ => {
            eprintln!("usage: snippet_cost NODE COOKIE_FILE [--os-pid PID] [--only-app APP]");
            std::process::exit(2);
        }
    };
    let only_app: Option<String> = args
        .iter()
        .position(|a| a == "--only-app")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let os_pid: Option<u32> = args
        .iter()
        .position(|a| a == "--os-pid")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok());
    let mut opts = ConnectOptions::new(
        node.parse().expect("node name"),
        Cookie::resolve(None, Some(&cookie_file)).expect("cookie"),
    );
    opts.call_timeout = Duration::from_secs(120);
    println!("| mode | what | calls | wall per call | node CPU per call |");
    println!("|---|---|---:|---:|---:|");
    // `--compiled-only`: skip the interpreted rounds (on a node of 10^6
    // processes an interpreted victim list takes longer than a call may).
    let modes: &[bool] = if args.iter().any(|a| a == "--compiled-only") {
        &[true]
    } else {
        &[false, true]
    };
    for &compiled in modes {
        smol::block_on(async {
            let c = DistClient::connect(&opts).await.expect("connect");
            // Caps off: this measures throughput, not the blast radius.
            let mut safety = Safety::default();
            safety.max_kills_per_sec = u32::MAX;
            safety.max_app_share = 1.0;
            safety.only_apps = only_app.iter().cloned().collect();
            let t = BeamTarget::new(c.clone(), Profile::Demo, safety, 1)
                .await
                .expect("attach");
            if compiled {
                t.compile_snippets().await.expect("janitor");
            }
            let t = t
                .with_detection(DetectSettings::default())
                .await
                .expect("baseline");
            let mode = if compiled { "compiled" } else { "interpreted" };
            // Warm up: snippets are noted at first use and compiled a second later.
            for _ in 0..2 {
                let _ = t.sample().await;
                t.invalidate().await;
                let _ = t.candidates().await;
                smol::Timer::after(Duration::from_millis(1100)).await;
            }
            let n = 5;
            let (c0, w0) = (cpu_ticks(os_pid), Instant::now());
            for _ in 0..n {
                t.sample().await.expect("sample");
            }
            row(
                mode,
                "health sample",
                n,
                w0.elapsed(),
                cpu_ticks(os_pid) - c0,
            );
            let (c0, w0) = (cpu_ticks(os_pid), Instant::now());
            for _ in 0..n {
                t.invalidate().await;
                t.candidates().await.expect("candidates");
            }
            row(
                mode,
                "candidate refresh",
                n,
                w0.elapsed(),
                cpu_ticks(os_pid) - c0,
            );
            for (name, inflight) in [
                ("kill_worker", 1usize),
                ("kill_worker", 64),
                ("suspend", 64),
            ] {
                let ops = chaos_beam::chaos::ops::builtin();
                let op = ops.iter().find(|o| o.name() == name).unwrap().clone();
                let mut rng = chaos_engine::SeededRng::new(3);
                let n = 2000u32;
                let (c0, w0) = (cpu_ticks(os_pid), Instant::now());
                let mut running = futures::stream::FuturesUnordered::new();
                let mut slow = Vec::new();
                for _ in 0..n {
                    let params = op.plan(&mut rng, Profile::Demo);
                    let (op, t) = (op.clone(), &t);
                    running.push(async move {
                        let t1 = Instant::now();
                        let out = op.run(t, &params).await;
                        if out.status == chaos_engine::Status::Skipped
                            || out.status == chaos_engine::Status::Failed
                        {
                            eprintln!("{name}: {:?}: {}", out.status, out.detail);
                        }
                        if let Some(e) = out.effect {
                            let _ = e.undo().await;
                        }
                        t1.elapsed()
                    });
                    if running.len() >= inflight {
                        slow.push(futures::StreamExt::next(&mut running).await.unwrap());
                    }
                }
                while let Some(d) = futures::StreamExt::next(&mut running).await {
                    slow.push(d);
                }
                slow.sort();
                let wall = w0.elapsed();
                row(
                    mode,
                    &format!(
                        "{name}, {inflight} in flight (p50 {:.1} ms, {:.0}/s)",
                        slow[slow.len() / 2].as_secs_f64() * 1000.0,
                        n as f64 / wall.as_secs_f64()
                    ),
                    n,
                    wall,
                    cpu_ticks(os_pid) - c0,
                );
            }
            let (c0, w0) = (cpu_ticks(os_pid), Instant::now());
            let left = t.audit().await.expect("audit");
            row(
                mode,
                "end of run: unload and audit",
                1,
                w0.elapsed(),
                cpu_ticks(os_pid) - c0,
            );
            assert!(left.is_empty(), "left behind: {left:?}");
        });
    }
}

fn row(mode: &str, what: &str, n: u32, wall: Duration, ticks: u64) {
    println!(
        "| {mode} | {what} | {n} | {:.1} ms | {:.1} ms |",
        wall.as_secs_f64() * 1000.0 / n as f64,
        ticks as f64 * 10.0 / n as f64
    );
}
