//! Safety and reproducibility of `run` against the demo system.

mod support;

use chaos_beam::dist::term::TermExt;
use support::{monkey, monkey_run, run, Demo};

const SNAPSHOT: &str = "[{erlang:pid_to_list(P), A} || P <- erlang:processes(), \
    A <- [case application:get_application(P) of {ok, App} -> App; undefined -> none end], \
    A =:= kernel orelse A =:= stdlib orelse A =:= none, \
    element(2, erlang:process_info(P, initial_call)) =/= {erpc, execute_call, 4}, \
    erlang:process_info(P, current_function) =/= {current_function, {erpc, execute_call, 4}}].";

#[test]
fn no_protected_process_is_touched() {
    let demo = Demo::start("run_safe");
    // One connection for before and after: its own processes on the node must not come and go.
    let c = smol::block_on(demo.client());
    let (before, apps_before) = smol::block_on(async {
        let snap = chaos_beam::eval::eval(&c, SNAPSHOT, &[]).await.unwrap();
        let apps = chaos_beam::eval::eval(
            &c,
            "lists:sort([A || {A, _, _} <- application:which_applications()]).",
            &[],
        )
        .await
        .unwrap();
        (
            snap.as_list().unwrap().into_owned(),
            chaos_beam::dist::term::show(&apps),
        )
    });
    assert!(before.len() > 20);
    let events = demo.file("events.jsonl");
    let (code, out, err) = run(monkey_run(&demo).args([
        "--duration",
        "8s",
        "--rate",
        "30",
        "--seed",
        "7",
        "--events",
        events.to_str().unwrap(),
    ]));
    assert!(code == 0 || code == 1, "exit {code}\n{out}\n{err}");
    // The run did kill processes: the protected ones lived through real chaos.
    let kills = support::events(&events)
        .iter()
        .filter(|e| e["killed"] == true)
        .count();
    assert!(kills > 0, "no process was killed\n{out}");
    smol::block_on(async {
        // Every kernel, stdlib and system process that existed before is alive, same pid.
        let check = "[P || {P, _} <- Before, not erlang:is_process_alive(erlang:list_to_pid(P))].";
        let dead = chaos_beam::eval::eval(
            &c,
            check,
            &[("Before", chaos_beam::dist::term::list(before.clone()))],
        )
        .await
        .unwrap();
        assert_eq!(
            dead.as_list().unwrap().len(),
            0,
            "protected processes died: {}",
            chaos_beam::dist::term::show(&dead)
        );
        let apps = chaos_beam::eval::eval(
            &c,
            "lists:sort([A || {A, _, _} <- application:which_applications()]).",
            &[],
        )
        .await
        .unwrap();
        assert_eq!(chaos_beam::dist::term::show(&apps), apps_before);
    });
}

#[test]
fn the_same_seed_gives_the_same_sequence() {
    let demo = Demo::start("run_seed");
    let mut seqs = Vec::new();
    for (i, seed) in ["99", "99", "100"].iter().enumerate() {
        let events = demo.file(&format!("events{i}.jsonl"));
        let (code, out, err) = run(monkey_run(&demo).args([
            "--duration",
            "3s",
            "--rate",
            "20",
            "--seed",
            seed,
            "--events",
            events.to_str().unwrap(),
        ]));
        assert!(code == 0 || code == 1, "exit {code}\n{out}\n{err}");
        let seq: Vec<(String, String, String)> = support::events(&events)
            .iter()
            .map(|e| {
                (
                    e["category"].to_string(),
                    e["op"].to_string(),
                    e["params"].to_string(),
                )
            })
            .collect();
        assert_eq!(seq.len(), 60);
        seqs.push(seq);
    }
    assert_eq!(seqs[0], seqs[1], "same seed, different sequence");
    assert_ne!(seqs[0], seqs[2], "different seeds gave the same sequence");
}

#[test]
fn dry_run_changes_nothing() {
    let demo = Demo::start("run_dry");
    let args = [
        "run",
        "--node",
        &demo.name(),
        "--cookie-file",
        &demo.cookie_file(),
        "--duration",
        "5s",
        "--dry-run",
    ];
    // A first dry run parses its snippets on the node (their atoms are the connection's own).
    let (code, _, err) = run(monkey().args(args));
    assert_eq!(code, 0, "{err}");
    let watcher = smol::block_on(demo.client());
    let counts = || {
        smol::block_on(async {
            let v = chaos_beam::eval::eval(&watcher, "[erlang:system_info(process_count), erlang:system_info(ets_count), erlang:system_info(atom_count)].", &[]).await.unwrap();
            v.as_list()
                .unwrap()
                .iter()
                .map(|t| t.as_i64().unwrap())
                .collect::<Vec<i64>>()
        })
    };
    let before = counts();
    let (code, out, err) = run(monkey().args(args));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("eligible victims:"), "{out}");
    assert!(
        out.lines().filter(|l| l.starts_with('[')).count() == 50,
        "{out}"
    );
    // The dry run's own connection goes away asynchronously: poll with a deadline.
    // Its only trace is the atom of its own node name (each connection has a fresh one).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let after = counts();
        if after[0] == before[0]
            && after[1] == before[1]
            && (before[2]..=before[2] + 1).contains(&after[2])
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "counts changed: {before:?} -> {after:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn custom_operations_from_the_config_run() {
    let demo = Demo::start("run_custom");
    let config = demo.file("chaos.toml");
    std::fs::write(
        &config,
        format!(
            "node = \"{}\"\nduration = \"2s\"\nrate = 10\nseed = 1\n[weights]\nstate = 1\n\
             [ops.ets_modify]\nenabled = false\n[ops.ets_delete]\nenabled = false\n\
             [ops.registry_corrupt]\nenabled = false\n[ops.clear_mailbox]\nenabled = false\n\
             [[ops.custom]]\nname = \"count_rows\"\ncategory = \"state\"\nerlang = \"{{rows, ets:info(chaos_demo_store, size), Seed >= 0}}.\"\n\
             success = [\"{{rows, N, true}} when N > 0\"]\n",
            demo.name()
        ),
    )
    .unwrap();
    let events = demo.file("events.jsonl");
    let (code, out, err) = run(monkey().args([
        "run",
        "--config",
        config.to_str().unwrap(),
        "--cookie-file",
        &demo.cookie_file(),
        "--events",
        events.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    let evs = support::events(&events);
    assert_eq!(evs.len(), 20);
    for e in &evs {
        assert_eq!(e["op"], "count_rows");
        assert_eq!(e["outcome"], "confirmed", "{e}");
        assert_eq!(e["detail"], "returned {rows,100,true}", "{e}");
    }
    // Without `success`, only true, ok or {ok, _} confirm: a value that is
    // none of them leaves the operation unconfirmed, with the value.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("success = [\"{rows, N, true} when N > 0\"]\n", "")
            .replace("duration = \"2s\"", "duration = \"1s\""),
    )
    .unwrap();
    let (code, out, err) = run(monkey().args([
        "run",
        "--config",
        config.to_str().unwrap(),
        "--cookie-file",
        &demo.cookie_file(),
        "--events",
        events.to_str().unwrap(),
    ]));
    assert!([0, 5].contains(&code), "{out}\n{err}");
    let evs = support::events(&events);
    assert!(!evs.is_empty());
    for e in &evs {
        assert_eq!(e["outcome"], "unconfirmed", "{e}");
        assert_eq!(
            e["detail"], "returned {rows,100,true}, which matches none of its success patterns",
            "{e}"
        );
    }
}

#[test]
fn protected_names_are_never_victims() {
    let demo = Demo::start("run_protect");
    let events = demo.file("events.jsonl");
    let (code, out, err) = run(monkey_run(&demo).args([
        "--duration",
        "4s",
        "--rate",
        "25",
        "--seed",
        "11",
        "--protect-name",
        "chaos_demo_s*",
        "--protect-name",
        "chaos_demo_registry",
        "--events",
        events.to_str().unwrap(),
    ]));
    assert!(code == 0 || code == 1, "{out}\n{err}");
    let evs = support::events(&events);
    let hit: Vec<String> = evs
        .iter()
        .filter_map(|e| e["victim"]["registered_name"].as_str().map(String::from))
        .collect();
    assert!(!hit.is_empty(), "some named victims are expected");
    for name in &hit {
        assert!(
            !name.starts_with("chaos_demo_s") && name != "chaos_demo_registry",
            "protected {name} was hit"
        );
    }
}

#[test]
fn proxy_faults_run_against_the_service_and_end_with_the_run() {
    let demo = Demo::start("run_proxy");
    let port = demo.node.as_ref().unwrap().info.service_port;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let events = demo.file("events.jsonl");
    let report = demo.file("report.json");
    let proxy = format!("{listen}=127.0.0.1:{port}");
    // A user's client talking to the service through the proxy (a `run`
    // starts no workload of its own): a PING every 10 ms on a kept
    // connection, a new one after any error.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            let mut answered = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok(conn) = std::net::TcpStream::connect(listen) else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_millis(300)));
                let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                let mut writer = conn;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let mut line = String::new();
                    if writer.write_all(b"PING\n").is_err()
                        || reader.read_line(&mut line).map_or(true, |n| n == 0)
                    {
                        break;
                    }
                    answered += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
            answered
        })
    };
    let (code, out, err) = run(monkey_run(&demo).args([
        "--duration",
        "4s",
        "--rate",
        "10",
        "--seed",
        "2",
        "--weights",
        "network=1",
        "--proxy",
        &proxy,
        "--events",
        events.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let answered = client.join().unwrap();
    assert!(answered > 20, "the client got {answered} answers");
    assert!(code == 0 || code == 1, "{out}\n{err}");
    let evs = support::events(&events);
    let proxy_ops: Vec<&serde_json::Value> = evs
        .iter()
        .filter(|e| e["op"].as_str().unwrap().starts_with("proxy_"))
        .collect();
    assert!(
        proxy_ops.len() >= 20,
        "{} proxy operations",
        proxy_ops.len()
    );
    // Each fault is judged when it ends by the traffic it touched: the
    // workload goes through the proxy, so most touched some.
    let confirmed = proxy_ops
        .iter()
        .filter(|e| e["outcome"] == "confirmed")
        .count();
    let details: Vec<String> = proxy_ops
        .iter()
        .map(|e| format!("{} {}: {}", e["op"], e["outcome"], e["detail"]))
        .collect();
    assert!(confirmed >= proxy_ops.len() / 2, "{details:#?}");
    for e in &proxy_ops {
        let touched = e["measurements"]["touched_connections"].as_u64();
        let reset = e["measurements"]["connections_reset"].as_u64();
        match e["outcome"].as_str().unwrap() {
            // Confirmed by what it touched (a reset by the connections it reset).
            "confirmed" => assert!(touched.or(reset).unwrap_or(0) > 0, "{e}"),
            "unconfirmed" => assert!(
                e["detail"]
                    .as_str()
                    .unwrap()
                    .contains("no traffic while it was on")
                    || e["op"] == "proxy_reset",
                "{e}"
            ),
            // Only the runner's own back-pressure may skip one: a proxy is
            // configured, and a fault it could not put in place is a bug.
            "skipped" => assert_eq!(e["detail"], "too many operations still in flight", "{e}"),
            other => panic!("a proxy fault {other}: {e}"),
        }
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["extras"]["proxies"][0]["listen_addr"], listen.to_string());
    // The proxy released its port when the run ended.
    std::net::TcpListener::bind(listen).expect("the proxy's port is free again");
    let bad = run(monkey_run(&demo).args(["--proxy", "10.1.2.3:80=127.0.0.1:1"]));
    assert_eq!(bad.0, 2, "{}", bad.2);
    assert!(bad.2.contains("not a loopback address"), "{}", bad.2);
}
