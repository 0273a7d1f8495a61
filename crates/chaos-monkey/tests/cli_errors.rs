//! Every attach error: its message and its exit code, against real nodes.

use chaos_testkit::{unused_port, NodeBuilder, TestNode};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn monkey(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaos-monkey"));
    cmd.args(args)
        .env_remove("ERLANG_COOKIE")
        .env_remove("RUST_LOG");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run chaos-monkey");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn node_name_without_host_is_a_usage_error() {
    let (code, _, err) = run(&mut monkey(&["inspect", "--node", "app", "--cookie", "x"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("node name 'app' has no host part"), "{err}");
}

#[test]
fn no_cookie_anywhere_is_a_usage_error() {
    let home = std::env::temp_dir().join(format!("cm-empty-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let (code, _, err) = run(monkey(&["inspect", "--node", "app@localhost"]).env("HOME", &home));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no Erlang cookie"), "{err}");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn unknown_node_lists_the_names_epmd_has() {
    let node = TestNode::start("cli_known");
    let (code, out, err) = run(&mut monkey(&[
        "inspect",
        "--node",
        "no_such_node@localhost",
        "--cookie",
        &node.cookie,
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("has no node named 'no_such_node'"), "{err}");
    assert!(
        err.contains(node.short_name()),
        "epmd's names should be listed: {err}"
    );
    assert!(!out.contains(&node.cookie) && !err.contains(&node.cookie));
}

#[test]
fn no_epmd_on_the_host() {
    let port = unused_port().to_string();
    let (code, _, err) = run(&mut monkey(&[
        "inspect",
        "--node",
        "app@localhost",
        "--cookie",
        "x",
        "--epmd-port",
        &port,
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!("no epmd at localhost:{port}")),
        "{err}"
    );
    assert!(err.contains("--port"), "should suggest --port: {err}");
}

#[test]
fn a_node_without_epmd_is_reached_with_port() {
    let no_epmd = unused_port().to_string();
    let dist_port = unused_port().to_string();
    let node = NodeBuilder::new("cli_noepmd")
        .env("ERL_EPMD_PORT", &no_epmd)
        .arg("-start_epmd")
        .arg("false")
        .arg("-erl_epmd_port")
        .arg(&dist_port)
        .start();
    let args = [
        "inspect",
        "--json",
        "--node",
        &node.name,
        "--cookie",
        &node.cookie,
    ];
    let (code, _, err) = run(monkey(&args).env("ERL_EPMD_PORT", &no_epmd));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("no epmd at localhost:") && err.contains("pass --port"),
        "{err}"
    );
    let mut with_port = args.to_vec();
    with_port.extend(["--port", &dist_port]);
    let (code, out, err) = run(monkey(&with_port).env("ERL_EPMD_PORT", &no_epmd));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("\"node\": \"{}\"", node.name)),
        "{out}"
    );
}

#[test]
fn nothing_listening_on_the_given_port() {
    let port = unused_port().to_string();
    let (code, _, err) = run(&mut monkey(&[
        "inspect",
        "--node",
        "app@localhost",
        "--cookie",
        "x",
        "--port",
        &port,
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot connect to app@localhost"), "{err}");
}

#[test]
fn unresolvable_host() {
    let (code, _, err) = run(&mut monkey(&[
        "inspect",
        "--node",
        "app@no-such-host.invalid",
        "--cookie",
        "x",
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("cannot resolve host 'no-such-host.invalid'"),
        "{err}"
    );
}

#[test]
fn wrong_cookie_says_where_it_came_from_never_its_value() {
    let node = TestNode::start("cli_cookie");
    let wrong = "WRONGCOOKIEVALUE123";
    let file = std::env::temp_dir().join(format!("cm-wrong-cookie-{}", std::process::id()));
    std::fs::write(&file, wrong).unwrap();
    let (code, out, err) = run(&mut monkey(&[
        "-vvv",
        "inspect",
        "--node",
        &node.name,
        "--cookie-file",
        file.to_str().unwrap(),
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("rejected our cookie"), "{err}");
    assert!(
        err.contains(&format!("--cookie-file {}", file.display())),
        "{err}"
    );
    for secret in [wrong, node.cookie.as_str()] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "cookie leaked"
        );
    }
    // From the environment: the message names the variable.
    let (code, _, err) =
        run(monkey(&["inspect", "--node", &node.name]).env("ERLANG_COOKIE", wrong));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("the ERLANG_COOKIE environment variable"),
        "{err}"
    );
    assert!(!err.contains(wrong));
    let _ = std::fs::remove_file(file);
}

#[test]
fn the_right_cookie_never_appears_even_at_trace_level() {
    let mut node = TestNode::start("cli_trace");
    let file = node.cookie_file();
    let (code, out, err) = run(&mut monkey(&[
        "-vvv",
        "inspect",
        "--json",
        "--node",
        &node.name,
        "--cookie-file",
        file.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains(&node.cookie) && !err.contains(&node.cookie),
        "cookie leaked"
    );
    assert!(
        err.contains("connecting"),
        "trace logging should be on: {err}"
    );
    // `inspect --json` against a plain node: its counts are the node's own.
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let opts = chaos_beam::dist::ConnectOptions::new(
        node.name.parse().unwrap(),
        chaos_beam::dist::Cookie::new(node.cookie.clone(), chaos_beam::dist::CookieSource::Flag)
            .unwrap(),
    );
    smol::block_on(async {
        let c = chaos_beam::dist::DistClient::connect(&opts).await.unwrap();
        for (key, slack) in [
            ("process_count", 5),
            ("process_limit", 0),
            ("port_count", 0),
            ("ets_count", 0),
        ] {
            let v = c
                .call(
                    "erlang",
                    "system_info",
                    vec![chaos_beam::dist::term::atom(key)],
                )
                .await
                .unwrap();
            let v = chaos_beam::dist::term::TermExt::as_i64(&v).unwrap();
            assert!(
                (report[key].as_i64().unwrap() - v).abs() <= slack,
                "{key}: {} vs {v}",
                report[key]
            );
        }
    });
}

#[test]
fn the_node_dying_during_a_call_is_an_error_not_a_hang() {
    // logger_sup is held suspended, so inspect waits on it (2 s) — long enough to kill the node mid-call.
    let mut node = NodeBuilder::new("cli_dying")
        .start_expr("Holder = erlang:spawn(fun() -> true = erlang:suspend_process(erlang:whereis(logger_sup)), receive never -> ok end end), erlang:register(test_suspender, Holder)")
        .start();
    let file = node.cookie_file();
    let child = monkey(&[
        "inspect",
        "--node",
        &node.name,
        "--cookie-file",
        file.to_str().unwrap(),
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Wait until the monkey is attached (its hidden connection is visible on the node).
    let watcher_opts = chaos_beam::dist::ConnectOptions::new(
        node.name.parse().unwrap(),
        chaos_beam::dist::Cookie::new(node.cookie.clone(), chaos_beam::dist::CookieSource::Flag)
            .unwrap(),
    );
    smol::block_on(async {
        let watcher = chaos_beam::dist::DistClient::connect(&watcher_opts)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let hidden = watcher
                .call(
                    "erlang",
                    "nodes",
                    vec![chaos_beam::dist::term::atom("hidden")],
                )
                .await
                .unwrap();
            let n = chaos_beam::dist::term::TermExt::as_list(&hidden)
                .unwrap()
                .len();
            if n >= 2 {
                break;
            }
            assert!(Instant::now() < deadline, "the monkey never attached");
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        // The inspect call is in flight once its request sits in the suspended supervisor's queue.
        loop {
            let queued = chaos_beam::eval::eval(
                &watcher,
                "element(2, erlang:process_info(erlang:whereis(logger_sup), message_queue_len)).",
                &[],
            )
            .await
            .unwrap();
            if chaos_beam::dist::term::TermExt::as_i64(&queued).unwrap_or(0) >= 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "inspect never reached logger_sup"
            );
            smol::Timer::after(Duration::from_millis(10)).await;
        }
    });
    let killed = Instant::now();
    node.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "took {:?}",
        killed.elapsed()
    );
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("connection to") && err.contains("lost"),
        "{err}"
    );
}

/// Every command that attaches takes the same connection flags: `run` and
/// `scenarios` accept `--connect-timeout` like `inspect` (an unreachable node
/// is exit 3, not a usage error).
#[test]
fn every_attaching_command_takes_the_connection_flags() {
    let port = unused_port().to_string();
    for command in ["inspect", "run", "scenarios"] {
        let (code, _, err) = run(&mut monkey(&[
            command,
            "--node",
            "app@localhost",
            "--cookie",
            "x",
            "--port",
            &port,
            "--connect-timeout",
            "2s",
            "--call-timeout",
            "2s",
            "--tick",
            "1s",
        ]));
        assert_eq!(code, 3, "{command}: {err}");
        assert!(
            err.contains("cannot connect to app@localhost"),
            "{command}: {err}"
        );
    }
}
