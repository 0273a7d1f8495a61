//! The demo node commands and `inspect --json` against the demo system.

use chaos_beam::demo::{pid_alive, DemoNode};
use chaos_beam::dist::term::{atom, TermExt};
use chaos_beam::dist::{ConnectOptions, Cookie, DistClient};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A demo node name and state dir unique to one test; stops the node on drop.
struct DemoGuard {
    name: String,
    state: PathBuf,
}

impl DemoGuard {
    fn new(prefix: &str) -> Self {
        let name = format!("{prefix}_{}_{}", std::process::id(), rand_suffix());
        let state = std::env::temp_dir().join(format!("cm-state-{name}"));
        Self { name, state }
    }

    fn monkey(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_chaos-monkey"))
            .args(args)
            .env("CHAOS_MONKEY_STATE_DIR", &self.state)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for DemoGuard {
    fn drop(&mut self) {
        if let Ok(Some(node)) = DemoNode::load(&self.state, &self.name) {
            let _ = node.stop(Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 100_000
}

#[test]
fn demo_node_start_inspect_stop() {
    let demo = DemoGuard::new("cm_demo");
    let (code, out, err) = demo.monkey(&["demo-node", "start", "--name", &demo.name, "--json"]);
    assert_eq!(code, 0, "{err}");
    let info: Value = serde_json::from_str(&out).unwrap();
    let node = info["node"].as_str().unwrap().to_string();
    let cookie_file = info["cookie_file"].as_str().unwrap().to_string();
    let os_pid = info["os_pid"].as_u64().unwrap() as u32;
    assert_eq!(node, format!("{}@localhost", demo.name));
    // The cookie file is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cookie_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    // The cookie is not on the node's command line.
    let cmdline = std::fs::read(format!("/proc/{os_pid}/cmdline")).unwrap();
    let cookie = std::fs::read_to_string(&cookie_file).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(cookie.trim()));

    // A second start is refused while it runs.
    let (code, _, err) = demo.monkey(&["demo-node", "start", "--name", &demo.name]);
    assert_eq!(code, 1);
    assert!(err.contains("already running"), "{err}");

    let (code, out, err) = demo.monkey(&[
        "inspect",
        "--json",
        "--node",
        &node,
        "--cookie-file",
        &cookie_file,
    ]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();

    // Compare with what the node itself reports now.
    let opts = ConnectOptions::new(
        node.parse().unwrap(),
        Cookie::resolve(None, Some(std::path::Path::new(&cookie_file))).unwrap(),
    );
    smol::block_on(async {
        let c = DistClient::connect(&opts).await.unwrap();
        let info = |what: &'static str| {
            let c = c.clone();
            async move {
                c.call("erlang", "system_info", vec![atom(what)])
                    .await
                    .unwrap()
                    .as_i64()
                    .unwrap()
            }
        };
        let procs = info("process_count").await;
        assert!(
            (report["process_count"].as_i64().unwrap() - procs).abs() <= 5,
            "{} vs {procs}",
            report["process_count"]
        );
        assert_eq!(
            report["process_limit"].as_i64().unwrap(),
            info("process_limit").await
        );
        assert_eq!(
            report["port_count"].as_i64().unwrap(),
            info("port_count").await
        );
        assert_eq!(
            report["port_limit"].as_i64().unwrap(),
            info("port_limit").await
        );
        assert_eq!(
            report["atom_limit"].as_i64().unwrap(),
            info("atom_limit").await
        );
        assert_eq!(
            report["ets_count"].as_i64().unwrap(),
            info("ets_count").await
        );
        let apps = c
            .call("application", "which_applications", vec![])
            .await
            .unwrap()
            .as_list()
            .unwrap()
            .len();
        assert_eq!(report["applications"].as_array().unwrap().len(), apps);
    });
    let demo_app = report["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "chaos_demo")
        .expect("chaos_demo runs");
    assert_eq!(demo_app["version"], "0.1.0");
    let tree = &demo_app["supervision_tree"];
    assert_eq!(tree["registered_name"], "chaos_demo_sup");
    let names: Vec<&str> = tree["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["registered_name"].as_str())
        .collect();
    for expected in ["chaos_demo_registry", "chaos_demo_store"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    for key in [
        "otp_release",
        "top_by_queue",
        "top_by_memory",
        "memory_total_bytes",
        "atom_count",
    ] {
        assert!(report.get(key).is_some(), "missing {key}");
    }

    let (code, out, err) = demo.monkey(&["demo-node", "stop", "--name", &demo.name]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stopped"), "{out}");
    assert!(!pid_alive(os_pid), "the node's OS process is still there");
    let (code, _, _) = demo.monkey(&["demo-node", "status", "--name", &demo.name]);
    assert_eq!(code, 1);
}

#[test]
fn demo_command_runs_chaos_and_leaves_nothing_running() {
    let demo = DemoGuard::new("cm_main");
    let report = demo.state.join("demo-report.json");
    std::fs::create_dir_all(&demo.state).unwrap();
    let (code, out, err) = demo.monkey(&[
        "demo",
        "--name",
        &demo.name,
        "--duration",
        "5s",
        "--seed",
        "3",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("Chaos Monkey report — {}@localhost", demo.name)),
        "{out}"
    );
    assert!(out.contains("Total operations: 50"), "{out}");
    assert!(out.contains("the system survived"), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["seed"], 3);
    // The client workload spoke the demo's protocol through its probe:
    // writes acknowledged and read back, requests answered on kept connections.
    let w = &r["extras"]["workload"];
    // How many are answered depends on the plan's proxy faults and on
    // whether a client's kept connection was open before the first one:
    // seed 3 starts with an upstream refusal at 0 ms and another at 1.2 s
    // (most of the 5 s), and on this machine the clients lose that race
    // about every time since 2026-12-03 (ok 2–6 of ~80). Answered at all,
    // and every request accounted for (below), is what is checked.
    let (requests, ok) = (w["requests"].as_u64().unwrap(), w["ok"].as_u64().unwrap());
    assert!(requests >= 20 && ok >= 1, "{w:#}");
    assert!(w["latency_p50_us"].as_u64().unwrap() > 0, "{w:#}");
    assert!(w["lost_writes"].is_u64(), "{w:#}");
    // What went wrong under the proxy's faults is counted, by what the client saw.
    let counted = |m: &Value| {
        m.as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>()
    };
    // Every request ends one way: answered, refused, failed, or a lost write.
    assert_eq!(
        ok + counted(&w["err_answers"])
            + counted(&w["connection_errors"])
            + w["lost_writes"].as_u64().unwrap(),
        requests,
        "{w:#}"
    );
    assert!(
        DemoNode::load(&demo.state, &demo.name).unwrap().is_none(),
        "state left behind"
    );
    // epmd no longer knows the name.
    let epmd = Command::new("epmd").arg("-names").output().unwrap();
    assert!(!String::from_utf8_lossy(&epmd.stdout).contains(&format!("name {} ", demo.name)));
}
