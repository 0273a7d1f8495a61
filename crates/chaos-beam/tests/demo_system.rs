//! The demo system, started by its launcher: the line protocol, its limits,
//! and recovery from killed processes.

use chaos_beam::demo::{DemoConfig, DemoNode};
use chaos_beam::dist::term::{atom, TermExt};
use chaos_beam::dist::{ConnectOptions, Cookie, DistClient};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Stops the demo node when the test ends, pass or fail.
struct Running(Option<DemoNode>, std::path::PathBuf);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(n) = self.0.take() {
            let _ = n.stop(Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn start(prefix: &str, env: &[(&str, &str)]) -> Running {
    let name = format!("{prefix}_{}", std::process::id());
    let mut cfg = DemoConfig::new(&name);
    cfg.state_dir = std::env::temp_dir().join(format!("cm-demo-test-{name}"));
    cfg.app_env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let node = DemoNode::start(&cfg).expect("demo node starts");
    Running(Some(node), cfg.state_dir)
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    fn ask(&mut self, line: &str) -> String {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
        self.read_line()
    }

    /// Like `ask`, but a refused or reset connection gives `None`.
    fn try_ask(&mut self, line: &str) -> Option<String> {
        self.writer.write_all(format!("{line}\n").as_bytes()).ok()?;
        let mut reply = String::new();
        self.reader.read_line(&mut reply).ok()?;
        Some(reply.trim_end().to_string())
    }

    fn read_line(&mut self) -> String {
        let mut reply = String::new();
        self.reader.read_line(&mut reply).unwrap();
        reply.trim_end().to_string()
    }
}

#[test]
fn speaks_the_line_protocol_and_enforces_its_limits() {
    let demo = start(
        "cm_proto",
        &[("max_connections", "3"), ("max_line_length", "64")],
    );
    let port = demo.0.as_ref().unwrap().info.service_port;
    let mut c = Conn::open(port);
    assert_eq!(c.ask("PING"), "PONG");
    assert_eq!(c.ask("PUT k1 hello world"), "OK");
    assert_eq!(c.ask("GET k1"), "VALUE hello world");
    assert_eq!(c.ask("GET nope"), "NOT_FOUND");
    assert_eq!(c.ask("CALL echo hi there"), "RESULT hi there");
    assert_eq!(c.ask("CALL upper abc"), "RESULT ABC");
    assert_eq!(c.ask("CALL nosuch x"), "ERR unknown_tool");
    assert_eq!(c.ask("FLY"), "ERR unknown_command");
    assert_eq!(c.ask("PUT"), "ERR bad_arguments");
    assert!(c.ask("STATS").starts_with("STATS connections="));
    // Beyond the connection limit: refused with a reason.
    let _c2 = Conn::open(port);
    let _c3 = Conn::open(port);
    let mut c4 = Conn::open(port);
    assert_eq!(c4.read_line(), "ERR too_many_connections");
    // An overlong line is refused and the connection closed; the server lives on.
    assert_eq!(c.ask(&"x".repeat(200)), "ERR line_too_long");
    let mut rest = Vec::new();
    let _ = c.reader.read_to_end(&mut rest);
    drop(c4);
    // The closed connection's slot frees once its handler has exited.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = Conn::open(port);
        match again.try_ask("PING").as_deref() {
            Some("PONG") => break,
            Some("ERR too_many_connections") | Some("") | None => {}
            Some(other) => panic!("unexpected reply {other:?}"),
        }
        assert!(Instant::now() < deadline, "the slot never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn recovers_from_killed_processes() {
    let demo = start("cm_kill", &[]);
    let node = demo.0.as_ref().unwrap();
    let port = node.info.service_port;
    let opts = ConnectOptions::new(
        node.node_name(),
        Cookie::resolve(None, Some(&node.info.cookie_file)).unwrap(),
    );
    smol::block_on(async {
        let c = DistClient::connect(&opts).await.unwrap();
        for name in [
            "chaos_demo_store",
            "chaos_demo_registry",
            "chaos_demo_acceptor",
            "chaos_demo_pool",
        ] {
            let before = c.call("erlang", "whereis", vec![atom(name)]).await.unwrap();
            let before = before
                .as_pid()
                .unwrap_or_else(|| panic!("{name} is not registered"))
                .clone();
            c.call("erlang", "exit", vec![before.clone().into(), atom("kill")])
                .await
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let now = c.call("erlang", "whereis", vec![atom(name)]).await.unwrap();
                if now.as_pid().is_some_and(|p| *p != before) {
                    break;
                }
                assert!(Instant::now() < deadline, "{name} was not restarted");
                smol::Timer::after(Duration::from_millis(10)).await;
            }
        }
        let apps = c
            .call("application", "which_applications", vec![])
            .await
            .unwrap();
        assert!(apps
            .as_list()
            .unwrap()
            .iter()
            .any(|a| a.as_tuple().and_then(|t| t[0].as_atom()) == Some("chaos_demo")));
    });
    // The service answers on the same port after the acceptor's restart.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            drop(s);
            let mut c = Conn::open(port);
            if c.ask("PING") == "PONG" {
                break;
            }
        }
        assert!(Instant::now() < deadline, "service did not come back");
        std::thread::sleep(Duration::from_millis(20));
    }
}
