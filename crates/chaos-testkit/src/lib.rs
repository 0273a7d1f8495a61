//! Test support: real Erlang nodes for tests, started on loopback with a unique
//! name and a random cookie, and always stopped — when the [`TestNode`] is
//! dropped (also while a failing test unwinds) and, as a last resort, by a
//! timer inside the node itself so a SIGKILLed test run leaves no node behind.
//! [`cluster`] starts several of them as one Erlang cluster; [`rabbit`] a
//! private RabbitMQ node, where it is installed.

pub mod cluster;
pub mod rabbit;
pub use cluster::TestCluster;
pub use rabbit::RabbitNode;

use rand::distr::{Alphanumeric, SampleString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Printed by a test node once it is fully started.
const READY_MARK: &str = "chaos-testkit-ready";

/// How long a test node lives at most if nobody stops it.
const MAX_NODE_LIFETIME: Duration = Duration::from_secs(900);

/// How long to wait for a node to come up.
const START_DEADLINE: Duration = Duration::from_secs(30);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Name style of a test node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameStyle {
    /// `-sname name` → `name@localhost`.
    Short,
    /// `-name name@127.0.0.1`.
    Long,
}

/// Options for starting a test node.
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    prefix: String,
    style: NameStyle,
    extra_args: Vec<String>,
    /// Erlang expressions run after start, before the node reports ready.
    start_exprs: Vec<String>,
    code_paths: Vec<PathBuf>,
    envs: Vec<(String, String)>,
    /// A fixed cookie (cluster members share one); random when `None`.
    cookie: Option<String>,
    /// A fixed unique name (a cluster knows its members' names up front).
    name: Option<String>,
}

impl NodeBuilder {
    /// A plain `erl` node named after `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            style: NameStyle::Short,
            extra_args: Vec::new(),
            start_exprs: Vec::new(),
            code_paths: Vec::new(),
            envs: Vec::new(),
            cookie: None,
            name: None,
        }
    }

    /// Use this cookie instead of a random one (nodes of one cluster share it).
    pub fn cookie(mut self, cookie: &str) -> Self {
        self.cookie = Some(cookie.to_string());
        self
    }

    /// An environment variable for the node's OS process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_string(), value.to_string()));
        self
    }

    /// Use `-name NAME@127.0.0.1` instead of `-sname NAME` (host `localhost`).
    pub fn long_name(mut self) -> Self {
        self.style = NameStyle::Long;
        self
    }

    /// Extra command-line arguments for `erl` (for example `+P 2000000`).
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_string());
        self
    }

    /// Add a code path (`-pa`).
    pub fn code_path(mut self, dir: &Path) -> Self {
        self.code_paths.push(dir.to_path_buf());
        self
    }

    /// An Erlang expression evaluated at start; the node is ready once all ran.
    pub fn start_expr(mut self, expr: &str) -> Self {
        self.start_exprs.push(expr.to_string());
        self
    }

    /// Start the node and wait until it is ready.
    pub fn start(self) -> TestNode {
        let unique = self
            .name
            .clone()
            .unwrap_or_else(|| unique_name(&self.prefix));
        let cookie = self.cookie.clone().unwrap_or_else(random_cookie);
        let (name_flag, name_arg, full_name, host) = match self.style {
            NameStyle::Short => (
                "-sname",
                format!("{unique}@localhost"),
                format!("{unique}@localhost"),
                "localhost",
            ),
            NameStyle::Long => (
                "-name",
                format!("{unique}@127.0.0.1"),
                format!("{unique}@127.0.0.1"),
                "127.0.0.1",
            ),
        };
        let _ = host;
        let mut eval = format!(
            "{{ok, _}} = timer:apply_after({}, erlang, halt, []), ",
            MAX_NODE_LIFETIME.as_millis()
        );
        for e in &self.start_exprs {
            eval.push_str(e.trim_end_matches(['.', ' ']));
            eval.push_str(", ");
        }
        eval.push_str(&format!("io:format(\"~s~n\", [\"{READY_MARK}\"])."));

        let mut cmd = Command::new("erl");
        cmd.arg(name_flag)
            .arg(&name_arg)
            .arg("-setcookie")
            .arg(&cookie)
            .arg("-noinput")
            .arg("-kernel")
            .arg("inet_dist_use_interface")
            .arg("{127,0,0,1}");
        for p in &self.code_paths {
            cmd.arg("-pa").arg(p);
        }
        cmd.args(&self.extra_args)
            .arg("-eval")
            .arg(&eval)
            // An epmd started by this node listens on loopback only.
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd
            .spawn()
            .expect("cannot start `erl`: is Erlang/OTP installed?");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node = TestNode {
            name: full_name,
            cookie,
            child: Some(child),
            output: Vec::new(),
            cookie_file: None,
        };
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.trim() == READY_MARK => break,
                Ok(line) => node.output.push(line),
                Err(_) => {
                    let out = node.output.join("\n");
                    node.stop();
                    panic!(
                        "test node {} did not become ready in {START_DEADLINE:?}; output:\n{out}",
                        node.name
                    );
                }
            }
        }
        // Keep draining stdout so the node never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        node
    }
}

/// `prefix_<os pid>_<counter>_<random>`: unique across parallel test binaries.
fn unique_name(prefix: &str) -> String {
    format!(
        "{}_{}_{}_{}",
        prefix,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        Alphanumeric
            .sample_string(&mut rand::rng(), 6)
            .to_lowercase()
    )
}

fn random_cookie() -> String {
    Alphanumeric
        .sample_string(&mut rand::rng(), 24)
        .to_uppercase()
}

/// A running Erlang node owned by a test. Dropping it kills the node.
#[derive(Debug)]
pub struct TestNode {
    /// Full node name, `name@host`.
    pub name: String,
    /// The node's cookie (random, test-only).
    pub cookie: String,
    child: Option<Child>,
    output: Vec<String>,
    cookie_file: Option<PathBuf>,
}

impl TestNode {
    /// Start a plain node (shortcut for `NodeBuilder::new(prefix).start()`).
    pub fn start(prefix: &str) -> TestNode {
        NodeBuilder::new(prefix).start()
    }

    /// OS pid of the node.
    pub fn os_pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// A file holding the cookie (mode 0600), created on first use.
    pub fn cookie_file(&mut self) -> PathBuf {
        if let Some(p) = &self.cookie_file {
            return p.clone();
        }
        let path = std::env::temp_dir().join(format!("{}.cookie", self.name.replace('@', "_at_")));
        std::fs::write(&path, &self.cookie).expect("write cookie file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        self.cookie_file = Some(path.clone());
        path
    }

    /// The short name part (before `@`).
    pub fn short_name(&self) -> &str {
        self.name.split('@').next().unwrap_or(&self.name)
    }

    /// Kill the node now (SIGKILL) and wait for it to be gone.
    pub fn kill(&mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(p) = self.cookie_file.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn unused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
