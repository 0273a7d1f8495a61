//! Shared by the CLI tests: a demo node that is always stopped, and running the binary.

#![allow(dead_code)]

use chaos_beam::demo::{DemoConfig, DemoNode};
use chaos_beam::dist::{ConnectOptions, Cookie, DistClient};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A demo node stopped when dropped, pass or fail.
pub struct Demo {
    pub node: Option<DemoNode>,
    pub state: PathBuf,
}

impl Demo {
    pub fn start(prefix: &str) -> Demo {
        let name = format!("{prefix}_{}", std::process::id());
        let mut cfg = DemoConfig::new(&name);
        cfg.state_dir = std::env::temp_dir().join(format!("cm-cli-test-{name}"));
        let node = DemoNode::start(&cfg).expect("demo node starts");
        Demo {
            node: Some(node),
            state: cfg.state_dir,
        }
    }

    pub fn name(&self) -> String {
        self.node.as_ref().unwrap().info.node.clone()
    }

    pub fn cookie_file(&self) -> String {
        self.node
            .as_ref()
            .unwrap()
            .info
            .cookie_file
            .display()
            .to_string()
    }

    pub fn os_pid(&self) -> u32 {
        self.node.as_ref().unwrap().info.os_pid
    }

    pub async fn client(&self) -> DistClient {
        let n = self.node.as_ref().unwrap();
        let opts = ConnectOptions::new(
            n.node_name(),
            Cookie::resolve(None, Some(&n.info.cookie_file)).unwrap(),
        );
        DistClient::connect(&opts).await.expect("connect")
    }

    /// A scratch file path unique to this demo.
    pub fn file(&self, name: &str) -> PathBuf {
        std::fs::create_dir_all(&self.state).unwrap();
        self.state.join(name)
    }
}

/// What a chaos effect could leave on a demo node, looked at by the test
/// itself (not by the monkey's own audit): `[]` when nothing is left.
const LEFT_BEHIND: &str = r#"
Master = application_controller:get_master(chaos_demo),
Own = [P || P <- erlang:processes(), {group_leader, G} <- [erlang:process_info(P, group_leader)], G =:= Master],
%% ERTS's literal area collector waits suspended while a purged module's literals are collected.
Suspended = [P || P <- erlang:processes(), erlang:process_info(P, status) =:= {status, suspended},
                  not erts_internal:is_system_process(P)],
Modules = [M || {M, _} <- code:all_loaded(), lists:prefix("chaos_monkey_", atom_to_list(M))],
Priority = [P || P <- Own, {priority, Pr} <- [erlang:process_info(P, priority)], Pr =/= normal],
%% Asked in parallel, so a busy process costs 100 ms once, not per process.
Me = self(),
Askers = [{P, erlang:spawn(fun() -> Me ! {sys_status, self(), catch sys:get_status(P, 100)} end)} || P <- Own -- Suspended],
SysSuspended = [P || {P, A} <- Askers,
                     receive {sys_status, A, {status, _, _, [_, suspended | _]}} -> true;
                             {sys_status, A, _} -> false
                     after 1000 -> false end],
Missing = [N || N <- [chaos_demo_registry, chaos_demo_store, chaos_demo_pool, chaos_demo_acceptor,
                      chaos_demo_sup, chaos_demo_session_sup, chaos_demo_tcp_sup, chaos_demo_conn_sup],
                not lists:member(erlang:whereis(N), Own)],
Corrupted = ets:select_count(chaos_demo_store, [{{'_', chaos_monkey_corrupted}, [], [true]}]),
[{K, V} || {K, V} <- [{suspended, Suspended}, {modules, Modules}, {priority, Priority},
                      {sys_suspended, SysSuspended}, {missing_names, Missing}, {corrupted_rows, Corrupted}],
           V =/= [], V =/= 0].
"#;

impl Demo {
    /// Nothing a chaos effect could leave is on the node (a killed
    /// worker's restart may take a moment: 2 s at most), as the test sees it.
    pub fn assert_nothing_left(&self) {
        let watcher = smol::block_on(self.client());
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let left = smol::block_on(chaos_beam::eval::eval(&watcher, LEFT_BEHIND, &[])).unwrap();
            let shown = chaos_beam::dist::term::show(&left);
            if shown == "[]" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "left on the node: {shown}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        watcher.close();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(n) = self.node.take() {
            let _ = n.stop(Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// An HTML report is self-contained: the policy that blocks every fetch,
/// and no URL but the SVG namespace, no script, no link.
pub fn assert_self_contained(page: &str) {
    assert!(page.contains("http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'"));
    assert_eq!(
        page.matches("://").count(),
        page.matches("http://www.w3.org/2000/svg").count()
    );
    for external in ["<script", "<link", "src=", "href=", "url("] {
        assert!(!page.contains(external), "the page has {external}");
    }
}

pub fn monkey() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chaos-monkey"));
    c.env_remove("ERLANG_COOKIE").env_remove("RUST_LOG");
    // Runs are recorded in a test history, never the user's.
    c.env_remove("CHAOS_MONKEY_HISTORY").env(
        "XDG_DATA_HOME",
        std::env::temp_dir().join("cm-test-history"),
    );
    c
}

/// Send `signal` (`-KILL`, `-STOP`, ...) to a child process.
pub fn signal(child: &std::process::Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal} failed");
}

/// `chaos-monkey run` against `demo`, without a progress bar; add the rest.
pub fn monkey_run(demo: &Demo) -> Command {
    let mut c = monkey();
    c.args([
        "run",
        "--node",
        &demo.name(),
        "--cookie-file",
        &demo.cookie_file(),
        "--no-progress",
    ]);
    c
}

pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run chaos-monkey");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Events of a run, sorted by schedule position.
pub fn events(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    v.sort_by_key(|e| e["seq"].as_u64().unwrap());
    v
}

/// Wait (20 s at most) until a run's events file has at least `n` lines.
pub fn wait_for_events(path: &std::path::Path, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let lines = std::fs::read_to_string(path)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run produced no events"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
