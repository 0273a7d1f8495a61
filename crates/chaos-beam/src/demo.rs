//! The demo system and its launcher.
//!
//! The demo system (`demo/chaos_demo` in the repository) is an OTP
//! application shaped like an MCP server: a registry, a store owning a public
//! ETS table, a pool of session workers, and a TCP line-protocol listener on
//! 127.0.0.1. Its sources are embedded in this crate; [`DemoNode::start`]
//! writes them to a state directory, compiles them with `erlc` and starts a
//! named node with a random cookie. The node reads the cookie from a private
//! `.erlang.cookie` in its own HOME (never a command line, where `ps` would
//! show it); a 0600 copy is kept for other commands (`--cookie-file`).

use crate::dist::NodeName;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

include!(concat!(env!("OUT_DIR"), "/demo_sources.rs"));

/// The application's name.
pub const DEMO_APP: &str = "chaos_demo";

/// Why the demo node could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// `erl` or `erlc` is not installed.
    #[error("`{0}` was not found on PATH: install Erlang/OTP (on Debian: apt-get install -y erlang-nox)")]
    ErlangMissing(&'static str),
    /// The sources did not compile.
    #[error("erlc could not compile the demo system:\n{0}")]
    Compile(String),
    /// Already running.
    #[error("demo node {node} is already running (OS pid {pid}); stop it with `chaos-monkey demo-node stop --name {name}`")]
    AlreadyRunning {
        /// Node name.
        node: String,
        /// Short name.
        name: String,
        /// OS pid.
        pid: u32,
    },
    /// The node exited or did not get ready in time.
    #[error("demo node {node} did not start: {reason}\n--- last lines of {log} ---\n{tail}")]
    StartFailed {
        /// Node name.
        node: String,
        /// What happened.
        reason: String,
        /// Log file.
        log: String,
        /// Its last lines.
        tail: String,
    },
    /// File system trouble.
    #[error("{what} {path}: {error}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> DemoError + 'a {
    move |error| DemoError::Io {
        what,
        path: path.to_path_buf(),
        error,
    }
}

/// How to start a demo node.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Short name; the node is `NAME@localhost`.
    pub name: String,
    /// Root of the state directories.
    pub state_dir: PathBuf,
    /// Application environment overrides: (key, Erlang term text).
    pub app_env: Vec<(String, String)>,
    /// How long to wait for the application to be up.
    pub start_timeout: Duration,
    /// Extra `erl` arguments (for example `+P 2000000`, `-pa DIR`).
    pub extra_args: Vec<String>,
}

impl DemoConfig {
    /// Defaults: `$CHAOS_MONKEY_STATE_DIR` or `<tmp>/chaos-monkey`, 30 s to start.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            state_dir: default_state_dir(),
            app_env: Vec::new(),
            start_timeout: Duration::from_secs(30),
            extra_args: Vec::new(),
        }
    }
}

/// Where demo nodes keep their files unless told otherwise.
pub fn default_state_dir() -> PathBuf {
    std::env::var_os("CHAOS_MONKEY_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("chaos-monkey"))
}

/// A started demo node, as recorded in its state directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoInfo {
    /// Full node name.
    pub node: String,
    /// OS pid of the BEAM.
    pub os_pid: u32,
    /// The demo's TCP service port on 127.0.0.1.
    pub service_port: u16,
    /// File holding the cookie (0600).
    pub cookie_file: PathBuf,
    /// The node's stdout/stderr.
    pub log_file: PathBuf,
    /// This node's state directory.
    pub dir: PathBuf,
}

/// A demo node. Dropping it does not stop it; call [`DemoNode::stop`].
#[derive(Debug)]
pub struct DemoNode {
    /// What is known about it.
    pub info: DemoInfo,
    child: Option<Child>,
}

/// How a stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopOutcome {
    /// Stopped by SIGTERM (the node's orderly `init:stop`).
    Stopped,
    /// Had to be killed.
    Killed,
    /// Was not running; its files were removed.
    WasNotRunning,
}

fn node_dir(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("demo").join(name)
}

fn which(tool: &'static str) -> Result<(), DemoError> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(DemoError::ErlangMissing(tool))
    }
}

/// Escape text for an Erlang string literal.
fn erl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn write_private(path: &Path, contents: &str) -> Result<(), DemoError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path).map_err(io_err("cannot create", path))?;
    f.write_all(contents.as_bytes())
        .map_err(io_err("cannot write", path))
}

/// `true` when a process with this pid exists (and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a pid we recorded; no memory is involved.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl DemoNode {
    /// Compile the demo system and start it; returns once the application is up.
    pub fn start(cfg: &DemoConfig) -> Result<DemoNode, DemoError> {
        which("erl")?;
        which("erlc")?;
        let node = format!("{}@localhost", cfg.name);
        let dir = node_dir(&cfg.state_dir, &cfg.name);
        if let Some(existing) = Self::load(&cfg.state_dir, &cfg.name)? {
            if pid_alive(existing.info.os_pid) {
                return Err(DemoError::AlreadyRunning {
                    node,
                    name: cfg.name.clone(),
                    pid: existing.info.os_pid,
                });
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        let src = dir.join("src");
        let ebin = dir.join("ebin");
        for d in [&src, &ebin] {
            std::fs::create_dir_all(d).map_err(io_err("cannot create", d))?;
        }
        let mut erl_files = Vec::new();
        for (name, contents) in DEMO_SOURCES {
            let path = src.join(name);
            std::fs::write(&path, contents).map_err(io_err("cannot write", &path))?;
            if let Some(app) = name.strip_suffix(".app.src") {
                let app_file = ebin.join(format!("{app}.app"));
                std::fs::write(&app_file, contents).map_err(io_err("cannot write", &app_file))?;
            } else if name.ends_with(".erl") {
                erl_files.push(path);
            }
        }
        let out = Command::new("erlc")
            .arg("-o")
            .arg(&ebin)
            .args(&erl_files)
            .output()
            .map_err(io_err("cannot run erlc for", &src))?;
        if !out.status.success() {
            return Err(DemoError::Compile(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }

        let cookie = Alphanumeric
            .sample_string(&mut rand::rng(), 32)
            .to_uppercase();
        let cookie_file = dir.join("cookie");
        write_private(&cookie_file, &cookie)?;
        // The node reads its cookie from $HOME/.erlang.cookie: `-setcookie` (even
        // through -args_file) ends up on the BEAM's command line, visible to `ps`.
        let home = dir.join("home");
        std::fs::create_dir_all(&home).map_err(io_err("cannot create", &home))?;
        write_private(&home.join(".erlang.cookie"), &cookie)?;
        let ready_file = dir.join("ready");
        let log_file = dir.join("node.log");
        let log = std::fs::File::create(&log_file).map_err(io_err("cannot create", &log_file))?;
        let log2 = log.try_clone().map_err(io_err("cannot open", &log_file))?;

        let boot = format!(
            "case application:ensure_all_started({DEMO_APP}) of \
               {{ok, _}} -> ok = file:write_file({ready}, integer_to_list({DEMO_APP}:port())); \
               Error -> io:format(\"demo application failed to start: ~p~n\", [Error]), erlang:halt(1) \
             end.",
            ready = erl_string(&ready_file.to_string_lossy()),
        );
        let mut cmd = Command::new("erl");
        cmd.arg("-sname")
            .arg(&node)
            .arg("-noinput")
            .arg("-kernel")
            .arg("inet_dist_use_interface")
            .arg("{127,0,0,1}")
            .arg("-pa")
            .arg(&ebin);
        for (k, v) in &cfg.app_env {
            cmd.arg(format!("-{DEMO_APP}")).arg(k).arg(v);
        }
        cmd.args(&cfg.extra_args);
        cmd.arg("-eval")
            .arg(&boot)
            // If this starts epmd, it listens on loopback only.
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // Its own process group: a Ctrl-C meant for us does not reach the node.
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().map_err(io_err("cannot start erl in", &dir))?;
        let deadline = Instant::now() + cfg.start_timeout;
        let fail = |reason: String| DemoError::StartFailed {
            node: node.clone(),
            reason,
            log: log_file.display().to_string(),
            tail: tail(&log_file, 20),
        };
        let service_port = loop {
            if let Ok(text) = std::fs::read_to_string(&ready_file) {
                if let Ok(p) = text.trim().parse::<u16>() {
                    break p;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(fail(format!("the node exited ({status})")));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("not ready after {:?}", cfg.start_timeout)));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let info = DemoInfo {
            node,
            os_pid: child.id(),
            service_port,
            cookie_file,
            log_file,
            dir: dir.clone(),
        };
        let info_path = dir.join("node.json");
        std::fs::write(
            &info_path,
            serde_json::to_string_pretty(&info).expect("serialisable"),
        )
        .map_err(io_err("cannot write", &info_path))?;
        Ok(DemoNode {
            info,
            child: Some(child),
        })
    }

    /// The demo node recorded under `state_dir`, if any (running or not).
    pub fn load(state_dir: &Path, name: &str) -> Result<Option<DemoNode>, DemoError> {
        let path = node_dir(state_dir, name).join("node.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("cannot read", &path)(e)),
        };
        match serde_json::from_str::<DemoInfo>(&text) {
            Ok(info) => Ok(Some(DemoNode { info, child: None })),
            Err(_) => Ok(None),
        }
    }

    /// The node's name.
    pub fn node_name(&self) -> NodeName {
        self.info.node.parse().expect("we built it")
    }

    /// `true` while the node's OS process exists.
    pub fn is_running(&mut self) -> bool {
        if let Some(child) = &mut self.child {
            return matches!(child.try_wait(), Ok(None));
        }
        pid_alive(self.info.os_pid)
    }

    /// Stop the node (SIGTERM, then SIGKILL after `grace`) and remove its files.
    pub fn stop(mut self, grace: Duration) -> Result<StopOutcome, DemoError> {
        let outcome = if !self.is_running() {
            StopOutcome::WasNotRunning
        } else {
            signal(self.info.os_pid, libc::SIGTERM);
            if self.wait_gone(grace) {
                StopOutcome::Stopped
            } else {
                signal(self.info.os_pid, libc::SIGKILL);
                self.wait_gone(Duration::from_secs(10));
                StopOutcome::Killed
            }
        };
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        std::fs::remove_dir_all(&self.info.dir).map_err(io_err("cannot remove", &self.info.dir))?;
        Ok(outcome)
    }

    fn wait_gone(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if !self.is_running() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        !self.is_running()
    }
}
