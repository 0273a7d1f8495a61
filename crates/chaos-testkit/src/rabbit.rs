//! A private RabbitMQ node for tests (Debian's `rabbitmq-server`, run as
//! the test's own user): its own directory, cookie, node name, AMQP and
//! distribution ports, all on loopback, no plugins unless asked; stopped
//! and its directory removed when dropped, also while a failing test
//! unwinds. [`RabbitNode::installed`] tells whether the machine has it.

use crate::{random_cookie, unique_name, unused_port};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs the real scripts (the /usr/sbin wrappers `su` to
/// the rabbitmq user and reset the environment).
const BIN: &str = "/usr/lib/rabbitmq/bin";

/// How long RabbitMQ gets to start.
const START_DEADLINE: Duration = Duration::from_secs(120);

/// A running RabbitMQ node owned by a test.
pub struct RabbitNode {
    /// `name@localhost`.
    pub node: String,
    /// The node's cookie file (mode 0600).
    pub cookie_file: PathBuf,
    /// Its AMQP port on 127.0.0.1.
    pub amqp_port: u16,
    /// The management plugin's HTTP port on 127.0.0.1, when enabled.
    pub http_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
}

impl RabbitNode {
    /// Whether `rabbitmq-server` is installed here.
    pub fn installed() -> bool {
        Path::new(BIN).join("rabbitmq-server").exists()
    }

    /// Start a node; `management` also enables the HTTP API plugin.
    /// Panics (with RabbitMQ's output) when it does not come up.
    pub fn start(management: bool) -> RabbitNode {
        RabbitNode::start_with(management, "")
    }

    /// The same, with `extra` lines added to its `rabbitmq.conf`.
    pub fn start_with(management: bool, extra: &str) -> RabbitNode {
        let name = unique_name("cmrmq");
        let dir = std::env::temp_dir().join(format!("cm-rabbit-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["mnesia", "log", "plugins-expand"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let cookie_file = dir.join(".erlang.cookie");
        std::fs::write(&cookie_file, random_cookie()).unwrap();
        set_mode(&cookie_file, 0o600);
        set_mode(&dir, 0o700);
        let amqp_port = unused_port();
        let dist_port = unused_port();
        let http_port = management.then(unused_port);
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
        std::fs::write(
            dir.join("enabled_plugins"),
            if management {
                "[rabbitmq_management]."
            } else {
                "[]."
            },
        )
        .unwrap();
        let mut conf = format!(
            "listeners.tcp.1 = 127.0.0.1:{amqp_port}\nlog.console = false\nlog.file.level = info\n"
        );
        if let Some(p) = http_port {
            conf.push_str(&format!(
                "management.tcp.port = {p}\nmanagement.tcp.ip = 127.0.0.1\n"
            ));
        }
        conf.push_str(extra);
        std::fs::write(dir.join("rabbitmq.conf"), conf).unwrap();
        let node = format!("{name}@localhost");
        let out = std::fs::File::create(dir.join("server.out")).unwrap();
        let child = Command::new(Path::new(BIN).join("rabbitmq-server"))
            .current_dir(&dir)
            .env("HOME", &dir)
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_PLUGINS_EXPAND_DIR", dir.join("plugins-expand"))
            .env("RABBITMQ_PID_FILE", dir.join("rabbit.pid"))
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("rabbitmq-server starts");
        let mut r = RabbitNode {
            node,
            cookie_file,
            amqp_port,
            http_port,
            dir,
            child: Some(child),
        };
        r.wait_until_up();
        r
    }

    /// Up: `rabbitmqctl await_startup` says so, and the listeners accept.
    fn wait_until_up(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "rabbitmq-server exited ({status}) during start-up: {}",
                    self.output()
                );
            }
            let ready = self
                .ctl(&["-q", "--timeout", "10", "await_startup"])
                .is_some_and(|o| o.status.success());
            let ports = [Some(self.amqp_port), self.http_port];
            if ready
                && ports.iter().flatten().all(|p| {
                    std::net::TcpStream::connect_timeout(
                        &([127, 0, 0, 1], *p).into(),
                        Duration::from_secs(1),
                    )
                    .is_ok()
                })
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "RabbitMQ did not start within {START_DEADLINE:?}: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Run a RabbitMQ CLI tool against this node.
    pub fn ctl(&self, args: &[&str]) -> Option<std::process::Output> {
        Command::new(Path::new(BIN).join("rabbitmqctl"))
            .env("HOME", &self.dir)
            .env("RABBITMQ_CONF_ENV_FILE", self.dir.join("rabbitmq-env.conf"))
            .args(["-n", &self.node])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()
    }

    /// Evaluate an Erlang expression on the node; its printed value.
    pub fn eval(&self, expr: &str) -> String {
        self.ctl(&["-q", "eval", expr])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }

    /// The tail of the server's output and log, for failure messages.
    pub fn output(&self) -> String {
        let out = std::fs::read_to_string(self.dir.join("server.out")).unwrap_or_default();
        let tail: Vec<&str> = out.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    fn stop(&mut self) {
        let _ = self.ctl(&["-q", "--timeout", "30", "stop"]);
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // The beam itself, by the pid file it wrote (never by name).
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("rabbit.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let cmdline =
                    std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if cmdline.contains(&self.node) {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        self.stop();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
