//! Support for `detect_kinds.rs`: compile a weak fixture application
//! (`tests/fixtures/weak/<app>/`), start a real node running it, run
//! `chaos-monkey run` against it and read what came out.
//!
//! Everything a test creates lives in one scratch directory per node
//! (compiled code, cookie-free files, report, events, the monkey's output);
//! dropping the [`Weak`] node kills the node and removes the directory.

#![allow(dead_code)]

use chaos_beam::dist::term::show;
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_testkit::{NodeBuilder, TestNode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SCRATCH: AtomicU32 = AtomicU32::new(0);

/// Where the fixture applications' sources are.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weak")
}

/// Compile fixture `app` into `out`: every `.erl` with erlc, and its
/// `.app.src` copied as `<app>.app` (the sources are valid `.app` files).
pub fn compile(app: &str, out: &Path) {
    let src = fixtures().join(app);
    let mut erls: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", src.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "erl"))
        .collect();
    erls.sort();
    assert!(!erls.is_empty(), "fixture {app} has no .erl files");
    let out_put = Command::new("erlc")
        .arg("-Wall")
        .arg("+warnings_as_errors")
        .arg("-o")
        .arg(out)
        .args(&erls)
        .output()
        .expect("cannot run erlc: is Erlang/OTP installed?");
    assert!(
        out_put.status.success(),
        "erlc failed for fixture {app}:\n{}{}",
        String::from_utf8_lossy(&out_put.stdout),
        String::from_utf8_lossy(&out_put.stderr)
    );
    std::fs::copy(
        src.join(format!("{app}.app.src")),
        out.join(format!("{app}.app")),
    )
    .unwrap_or_else(|e| panic!("fixture {app}: copying {app}.app.src: {e}"));
}

/// A node running one weak fixture application; killed when dropped.
pub struct Weak {
    /// The fixture application (`weak_<kind>`).
    pub app: String,
    /// The node.
    pub node: TestNode,
    /// Its cookie file.
    pub cookie_file: PathBuf,
    /// Scratch directory (the compiled code is in `ebin/` under it).
    pub dir: PathBuf,
}

impl Weak {
    /// Compile `app`, start a node with it on the code path (after
    /// `configure` had its say on the builder; it also gets the scratch
    /// directory, for files the node should write) and start the application
    /// with `application:ensure_all_started/1` (a `temporary` application:
    /// its end never takes the node down). Ready once the application runs.
    pub fn start(app: &str, configure: impl FnOnce(NodeBuilder, &Path) -> NodeBuilder) -> Weak {
        let dir = std::env::temp_dir().join(format!(
            "cm-weak-{app}-{}-{}",
            std::process::id(),
            SCRATCH.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let ebin = dir.join("ebin");
        std::fs::create_dir_all(&ebin).unwrap();
        compile(app, &ebin);
        let prefix: String = app.trim_start_matches("weak_").chars().take(12).collect();
        let builder = NodeBuilder::new(&format!("wk_{prefix}")).code_path(&ebin);
        let mut node = configure(builder, &dir)
            .start_expr(&format!(
                "{{ok, _}} = application:ensure_all_started({app})"
            ))
            .start();
        let cookie_file = node.cookie_file();
        Weak {
            app: app.to_string(),
            node,
            cookie_file,
            dir,
        }
    }

    /// A path in the scratch directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Wait (at most 30 s) until a spawned run has written its first events:
    /// its clock is running.
    pub fn wait_until_running(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let path = self.file("events.jsonl");
        while std::fs::read_to_string(&path)
            .map(|t| t.lines().count())
            .unwrap_or(0)
            == 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the run wrote no events"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Evaluate Erlang expressions on the node (own short-lived connection);
    /// the value printed as Erlang text, like `true` or `{undefined,true}`.
    pub fn eval(&self, source: &str) -> String {
        let opts = ConnectOptions::new(
            self.node.name.parse().expect("node name"),
            Cookie::new(self.node.cookie.clone(), CookieSource::Flag).unwrap(),
        );
        smol::block_on(async {
            let c = DistClient::connect(&opts)
                .await
                .unwrap_or_else(|e| panic!("connect to {}: {e}", self.node.name));
            let v = chaos_beam::eval::eval(&c, source, &[])
                .await
                .unwrap_or_else(|e| panic!("eval `{source}` on {}: {e}", self.node.name));
            c.close();
            show(&v)
        })
    }

    /// [`Weak::eval`] of an integer expression.
    pub fn eval_int(&self, source: &str) -> i64 {
        let text = self.eval(source);
        text.parse()
            .unwrap_or_else(|_| panic!("`{source}` gave {text}, not an integer"))
    }

    /// Poll `source` until it evaluates to `true` (panics with `what` after `limit`).
    pub fn wait_true(&self, source: &str, limit: Duration, what: &str) {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.eval(source);
            if v == "true" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "fixture {}: {what}: `{source}` still gives {v} after {limit:?}",
                self.app
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `chaos-monkey run` arguments against this node: `duration`, rate 10,
    /// seed 1, `--recovery-window 2s`, `--only-app` this application, report
    /// and events in the scratch directory, then `extra`.
    pub fn run_args(&self, duration: &str, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "run",
            "--node",
            &self.node.name,
            "--cookie-file",
            self.cookie_file.to_str().unwrap(),
            "--duration",
            duration,
            "--rate",
            "10",
            "--seed",
            "1",
            "--report",
            self.file("report.json").to_str().unwrap(),
            "--events",
            self.file("events.jsonl").to_str().unwrap(),
            "--no-progress",
            "--recovery-window",
            "2s",
            "--only-app",
            &self.app,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// Start the monkey with `args` (see [`Weak::run_args`]); its stdout and
    /// stderr go to files in the scratch directory.
    pub fn spawn_monkey(&self, args: &[String]) -> Monkey {
        let _ = std::fs::remove_file(self.file("report.json"));
        let _ = std::fs::remove_file(self.file("events.jsonl"));
        let child = Command::new(env!("CARGO_BIN_EXE_chaos-monkey"))
            .args(args)
            .env_remove("ERLANG_COOKIE")
            .env_remove("RUST_LOG")
            // Runs are recorded in a test history, never the user's.
            .env_remove("CHAOS_MONKEY_HISTORY")
            .env(
                "XDG_DATA_HOME",
                std::env::temp_dir().join("cm-test-history"),
            )
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.file("monkey.out")).unwrap())
            .stderr(std::fs::File::create(self.file("monkey.err")).unwrap())
            .spawn()
            .expect("start chaos-monkey");
        Monkey {
            child: Some(child),
            started: Instant::now(),
            dir: self.dir.clone(),
            args: args.to_vec(),
        }
    }

    /// Run the monkey for `duration` with `extra` flags and wait for it.
    pub fn monkey(&self, duration: &str, extra: &[&str]) -> Run {
        let limit = humantime::parse_duration(duration).unwrap() + Duration::from_secs(40);
        self.spawn_monkey(&self.run_args(duration, extra))
            .wait(limit)
    }
}

impl Drop for Weak {
    fn drop(&mut self) {
        self.node.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `chaos-monkey run`; killed if dropped while running.
pub struct Monkey {
    child: Option<Child>,
    /// When it was started.
    pub started: Instant,
    dir: PathBuf,
    args: Vec<String>,
}

impl Monkey {
    /// Wait for it to exit (killing it and panicking after `limit`) and collect the results.
    pub fn wait(mut self, limit: Duration) -> Run {
        let mut child = self.child.take().unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if self.started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chaos-monkey still running after {limit:?}; killed. stderr:\n{}",
                    read(&self.dir.join("monkey.err"))
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let ended = Instant::now();
        let report = std::fs::read_to_string(self.dir.join("report.json"))
            .ok()
            .map(|t| serde_json::from_str(&t).expect("the report is JSON"));
        let events = std::fs::read_to_string(self.dir.join("events.jsonl"))
            .map(|t| {
                t.lines()
                    .map(|l| serde_json::from_str(l).expect("an event is JSON"))
                    .collect()
            })
            .unwrap_or_default();
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout: read(&self.dir.join("monkey.out")),
            stderr: read(&self.dir.join("monkey.err")),
            report,
            events,
            ended,
            elapsed: ended - self.started,
            args: std::mem::take(&mut self.args),
        };
        // Shown with `cargo test -- --nocapture` (and with a failing test's output).
        eprintln!("{}", run.context());
        run
    }
}

impl Drop for Monkey {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// What a finished run left: exit code, output, report, events.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub report: Option<Value>,
    pub events: Vec<Value>,
    /// When the process exited.
    pub ended: Instant,
    pub elapsed: Duration,
    pub args: Vec<String>,
}

impl Run {
    /// Everything worth seeing when an assertion fails.
    pub fn context(&self) -> String {
        let modes = self
            .report
            .as_ref()
            .map(|r| serde_json::to_string_pretty(&r["failure_modes"]).unwrap())
            .unwrap_or_else(|| "(no report)".into());
        let tail: Vec<&str> = self.stderr.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "chaos-monkey {}\nexit {} after {:?}; {} events\nfailure_modes: {modes}\nstderr (tail):\n{}",
            self.args.join(" "),
            self.code,
            self.elapsed,
            self.events.len(),
            tail.join("\n")
        )
    }

    /// The run went through to its report with one of the `codes`.
    pub fn assert_completed(&self, codes: &[i32]) {
        assert!(
            codes.contains(&self.code) && self.report.is_some(),
            "the run did not complete with exit {codes:?} and a report\n{}",
            self.context()
        );
    }

    /// The report's failure modes.
    pub fn modes(&self) -> Vec<Value> {
        self.report
            .as_ref()
            .and_then(|r| r["failure_modes"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The failure modes of `kind`; panics when there is none, or when
    /// `mention` is given and no such failure mode's subject or evidence
    /// contains it (case-insensitive).
    pub fn assert_mode(&self, kind: &str, mention: Option<&str>) -> Vec<Value> {
        let found: Vec<Value> = self
            .modes()
            .into_iter()
            .filter(|m| m["kind"] == kind)
            .collect();
        assert!(
            !found.is_empty(),
            "no `{kind}` failure mode in the report\n{}",
            self.context()
        );
        if let Some(word) = mention {
            let word = word.to_lowercase();
            assert!(
                found.iter().any(|m| {
                    format!("{} {}", m["subject"], m["evidence"])
                        .to_lowercase()
                        .contains(&word)
                }),
                "no `{kind}` failure mode names `{word}` in its subject or evidence\n{}",
                self.context()
            );
        }
        found
    }

    /// Events in which the monkey killed the process registered as `name`.
    pub fn kills_of(&self, name: &str) -> usize {
        self.events
            .iter()
            .filter(|e| e["killed"] == true && e["victim"]["registered_name"] == name)
            .count()
    }
}
