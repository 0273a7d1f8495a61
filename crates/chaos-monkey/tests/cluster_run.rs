//! `run --cluster` against a real three-node cluster on loopback: chaos
//! reaches every member and the report breaks it down by node; and a monkey
//! SIGKILLed or SIGSTOPped while it holds a partition leaves the healing to
//! the partition holders (its lease ends), which restore the full mesh (and
//! every cookie) within 2 s.

mod support;

use chaos_beam::dist::term::{atom, list, show, TermExt};
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_beam::eval::eval;
use chaos_testkit::TestCluster;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::{monkey, run};

/// The monkey's process, SIGKILLed when dropped (a failing test leaves none).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cookie_file(c: &TestCluster, dir: &std::path::Path) -> String {
    let p = dir.join("cookie");
    std::fs::write(&p, &c.cookie).unwrap();
    p.display().to_string()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cm-cluster-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn watchers(c: &TestCluster) -> Vec<DistClient> {
    c.names()
        .iter()
        .map(|n| {
            let opts = ConnectOptions::new(
                n.parse().unwrap(),
                Cookie::new(c.cookie.clone(), CookieSource::Flag).unwrap(),
            );
            smol::block_on(DistClient::connect(&opts)).expect("connect")
        })
        .collect()
}

/// `nodes()` of each member, through the test's own connections.
fn mesh(watch: &[DistClient]) -> Vec<Vec<String>> {
    watch
        .iter()
        .map(|w| {
            let t = smol::block_on(eval(w, "erlang:nodes().", &[])).unwrap();
            t.as_list()
                .unwrap_or_default()
                .iter()
                .filter_map(|n| n.as_atom().map(str::to_string))
                .collect()
        })
        .collect()
}

fn whole(mesh: &[Vec<String>]) -> bool {
    mesh.iter().all(|seen| seen.len() == mesh.len() - 1)
}

#[test]
fn sigkill_during_a_partition_the_janitors_heal_the_cluster_within_2_s() {
    partition_healed_when_the_monkey_goes_silent("janitor", "-KILL");
}

/// A frozen monkey's lease ends after its term (1 s): the partition holders
/// heal the cluster as they do when it is killed.
#[test]
fn sigstop_during_a_partition_the_lease_heals_the_cluster_within_2_s() {
    partition_healed_when_the_monkey_goes_silent("janitor_stop", "-STOP");
}

/// Partitions only, held long; the monkey gets `signal` (`-KILL`, `-STOP`)
/// while one is in place; the full mesh and every cookie are back within 2 s.
fn partition_healed_when_the_monkey_goes_silent(tag: &str, signal: &str) {
    let c = TestCluster::with_app(tag, 3);
    let dir = scratch(tag);
    let config = dir.join("partition.toml");
    // Only partitions, held long.
    std::fs::write(
        &config,
        "[weights]\nnetwork = 1\n\
         [ops.drop_connection]\nenabled = false\n\
         [ops.malformed_data]\nenabled = false\n\
         [ops.mid_request_disconnect]\nenabled = false\n\
         [ops.link_flap]\nenabled = false\n\
         [ops.socket_delay]\nenabled = false\n",
    )
    .unwrap();
    let watch = watchers(&c);
    assert!(whole(&mesh(&watch)));
    let child = monkey()
        .args([
            "run",
            "--cluster",
            "--node",
            &c.names()[0],
            "--cookie-file",
            &cookie_file(&c, &dir),
            "--config",
            config.to_str().unwrap(),
            "--profile",
            "aggressive",
            "--duration",
            "60s",
            "--rate",
            "2",
            "--seed",
            "5",
            "--no-progress",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    // Wait for the partition to be in place (the monkey attaches to three
    // nodes first: on a loaded machine that alone can take many seconds).
    let deadline = Instant::now() + Duration::from_secs(60);
    let split = loop {
        let m = mesh(&watch);
        if !whole(&m) {
            break m;
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("the monkey ended ({status}) before any partition");
        }
        assert!(Instant::now() < deadline, "no partition within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Held for a while (both sides keep pinging each other meanwhile).
    std::thread::sleep(Duration::from_millis(300));
    for w in &watch {
        smol::block_on(eval(
            w,
            "[net_adm:ping(N) || N <- Members].",
            &[("Members", list(c.names().iter().map(|n| atom(n)).collect()))],
        ))
        .unwrap();
    }
    assert!(!whole(&mesh(&watch)), "the partition did not hold");
    // Silent: the monkey does no clean-up at all.
    let killed = Instant::now();
    support::signal(&child.0, signal);
    loop {
        if whole(&mesh(&watch)) {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(2),
            "not healed {:?} after kill {signal}: {:?}",
            killed.elapsed(),
            mesh(&watch)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = killed.elapsed();
    eprintln!("split {split:?}; healed {took:?} after kill {signal}");
    // Nothing left changed: every per-node cookie entry the cut made is gone again.
    let entries = "Tab = hd([T || T <- ets:all(), ets:info(T, name) =:= cookies, \
                   ets:info(T, owner) =:= erlang:whereis(auth)]), ets:tab2list(Tab).";
    for w in &watch {
        let t = smol::block_on(eval(w, entries, &[])).unwrap();
        assert!(
            t.as_list().unwrap_or_default().is_empty(),
            "per-node cookies left on {}: {}",
            w.target(),
            show(&t)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_across_the_cluster_reports_per_node() {
    let c = TestCluster::with_app("spread", 3);
    let dir = scratch("spread");
    let report = dir.join("report.json");
    // The third member is left alone (weight 0); partitions would involve it.
    let config = dir.join("weights.toml");
    std::fs::write(
        &config,
        format!(
            "[ops.partition]\nenabled = false\n[cluster.node.\"{}\"]\nweight = 0\n",
            c.names()[2]
        ),
    )
    .unwrap();
    let (code, out, err) = run(monkey().args([
        "run",
        "--node",
        &c.names()[0],
        "--node",
        &c.names()[1],
        "--node",
        &c.names()[2],
        "--cookie-file",
        &cookie_file(&c, &dir),
        "--config",
        config.to_str().unwrap(),
        "--duration",
        "8s",
        "--rate",
        "6",
        "--seed",
        "21",
        "--recovery-window",
        "3s",
        "--weights",
        "process=30,memory=20,network=30,timing=20",
        "--report",
        report.to_str().unwrap(),
        "--no-progress",
    ]));
    assert!(code == 0 || code == 1, "exit {code}\n{out}\n{err}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap())
        .unwrap_or_else(|e| panic!("report: {e}\n{err}"));
    let by_node = r["extras"]["by_node"]
        .as_object()
        .expect("a by_node section");
    let mut total = 0;
    for (i, n) in c.names().iter().enumerate() {
        let s = &by_node[n];
        let ops = s["ops"].as_u64().unwrap();
        if i == 2 {
            assert_eq!(ops, 0, "weight 0, yet operations ran on {n}: {by_node:?}");
        } else {
            assert!(ops > 0, "no operation on {n}: {by_node:?}");
        }
        assert_eq!(s["state"], "up");
        total += ops;
    }
    total += by_node
        .get("cluster")
        .and_then(|s| s["ops"].as_u64())
        .unwrap_or(0);
    assert_eq!(total, r["total_ops"].as_u64().unwrap());
    assert!(out.contains("### By node"), "{out}");
    let left = &r["left_behind"];
    assert!(
        left["audit"].as_array().unwrap().is_empty()
            && left["undo_failures"].as_array().unwrap().is_empty(),
        "{left}"
    );
    assert!(
        whole(&mesh(&watchers(&c))),
        "the mesh is whole after the run"
    );
    assert!(
        r["target"].as_str().unwrap().starts_with("cluster {"),
        "{}",
        r["target"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
