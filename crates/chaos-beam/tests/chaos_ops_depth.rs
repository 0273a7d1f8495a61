//! The process and timing operations at the seed's depth, against a small
//! OTP fixture (`fixtures/depth_app`: a generous and a tight worker pool, a
//! watched process and its watcher, a ticker, a producer and its queue, a
//! TCP listener with a connection process per client): an exit signal fans
//! out within the caps, a crash chain links a real victim where the budget
//! allows, monitor_kill watches the monitor's reaction, message_delay and
//! socket_delay slow a process from inside and are removed (also when the
//! lease ends), clear_mailbox drops real messages only when allowed. Each
//! is checked on the node, not by the operation's own word.

use chaos_beam::chaos::ops::builtin;
use chaos_beam::chaos::{BeamTarget, Safety};
use chaos_beam::dist::term::{atom, binary, Term, TermExt};
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_beam::eval::eval;
use chaos_engine::{Outcome, Profile, Status};
use chaos_testkit::{NodeBuilder, TestNode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The fixture compiled into a fresh directory, and a node running it.
fn start_node(prefix: &str) -> (TestNode, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/depth_app");
    let dir = std::env::temp_dir().join(format!("cm-depth-{prefix}-{}", std::process::id()));
    let ebin = dir.join("ebin");
    std::fs::create_dir_all(&ebin).unwrap();
    let erls: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "erl"))
        .collect();
    let out = Command::new("erlc")
        .arg("-o")
        .arg(&ebin)
        .args(&erls)
        .output()
        .expect("erlc");
    assert!(out.status.success(), "{out:?}");
    std::fs::copy(src.join("depth_app.app.src"), ebin.join("depth_app.app")).unwrap();
    let node = NodeBuilder::new(prefix)
        .code_path(&ebin)
        .start_expr("{ok, _} = application:ensure_all_started(depth_app)")
        .start();
    (node, dir)
}

async fn target(node: &TestNode, profile: Profile, safety: Safety) -> BeamTarget {
    let opts = ConnectOptions::new(
        node.name.parse().unwrap(),
        Cookie::new(node.cookie.clone(), CookieSource::Flag).unwrap(),
    );
    let client = DistClient::connect(&opts).await.expect("connect");
    BeamTarget::new(client, profile, safety, 5).await.unwrap()
}

async fn run(t: &BeamTarget, name: &str, params: Value) -> Outcome {
    let ops = builtin();
    let op = ops.iter().find(|o| o.name() == name).unwrap();
    let out = op.run(t, &params).await;
    eprintln!("{name} {params}: {out:?} {}", out.measurements);
    out
}

async fn ev(t: &BeamTarget, src: &str, bindings: &[(&str, Term)]) -> Term {
    eval(&t.client, src, bindings)
        .await
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn num(v: &Value, key: &str) -> i64 {
    v.get(key)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

async fn pause(ms: u64) {
    smol::Timer::after(Duration::from_millis(ms)).await;
}

/// Every candidate but those `keep` says yes to is recorded as the
/// monkey's own (so the picker leaves it alone).
async fn only(t: &BeamTarget, keep: impl Fn(&chaos_beam::chaos::Candidate) -> bool) {
    t.invalidate().await;
    for c in t.candidates().await.unwrap().iter() {
        if !keep(c) {
            t.note_helper(&Term::from(c.pid.clone()));
        }
    }
    t.invalidate().await;
}

/// The pids of a supervisor's children, as text.
async fn children(t: &BeamTarget, sup: &str) -> Vec<String> {
    let r = ev(
        t,
        "[list_to_binary(pid_to_list(P)) || {_, P, _, _} <- supervisor:which_children(S), is_pid(P)].",
        &[("S", atom(sup))],
    )
    .await;
    let mut v: Vec<String> = r
        .as_list()
        .unwrap()
        .iter()
        .map(|p| p.as_text().unwrap())
        .collect();
    v.sort();
    v
}

async fn count(t: &BeamTarget, name: &str) -> i64 {
    ev(t, "gen_server:call(N, count).", &[("N", atom(name))])
        .await
        .as_i64()
        .unwrap()
}

/// Whether `name` (or the pid in `pid`) carries the monkey's delay hook.
const HOOKED: &str = "{status, _, _, [_, _, _, Dbg | _]} = sys:get_status(P, 2000), \
    [x || {{chaos_monkey_delay, _}, _} <- Dbg] =/= [].";

#[test]
fn exit_signal_fans_out_within_the_kill_cap_and_the_restart_budgets() {
    let (node, _dir) = start_node("depth_exit");
    smol::block_on(async {
        // Only the two pools' workers (names protected).
        let mut safety = Safety::default()
            .with_protect_names(vec!["*".into()])
            .unwrap();
        safety.max_kills_per_sec = 10;
        let mut t = target(&node, Profile::Demo, safety).await;
        let pool_before = children(&t, "depth_pool_sup").await;
        let tight_before = children(&t, "depth_tight_sup").await;
        let out = run(&t, "exit_signal", json!({ "fanout": 3 })).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let m = &out.measurements;
        assert_eq!(num(m, "fanout"), 3);
        assert_eq!(num(m, "capped"), 0, "{m}");
        assert_eq!(num(m, "signalled"), 3, "{m}");
        assert_eq!(num(m, "died"), 3, "{m}");
        assert!(out.killed);
        assert!(out.detail.contains("'DOWN' with chaos_test"), "{out:?}");
        // On the node: exactly three pool workers were replaced (three
        // different victims), the tight pool (no restart to spare) was not
        // touched: the gate turned its workers away when they were drawn.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = children(&t, "depth_pool_sup").await;
            let replaced = pool_before.iter().filter(|p| !now.contains(p)).count();
            if replaced == 3 && now.len() == 6 {
                break;
            }
            assert!(Instant::now() < deadline, "{pool_before:?} -> {now:?}");
            pause(20).await;
        }
        assert_eq!(children(&t, "depth_tight_sup").await, tight_before);
        let victims = m["victims"].as_array().unwrap();
        assert_eq!(victims.len(), 3);
        for v in victims {
            assert!(
                pool_before.contains(&v["pid"].as_str().unwrap().to_string()),
                "{v}"
            );
        }

        // The kills-per-second cap: one kill a second, three planned.
        pause(1100).await;
        t.safety.max_kills_per_sec = 1;
        let pool_now = children(&t, "depth_pool_sup").await;
        let out = run(&t, "exit_signal", json!({ "fanout": 3 })).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let m = &out.measurements;
        assert_eq!((num(m, "signalled"), num(m, "capped")), (1, 2), "{m}");
        assert!(
            out.detail
                .contains("2 not signalled: maximum kills per second reached"),
            "{out:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = children(&t, "depth_pool_sup").await;
            let replaced = pool_now.iter().filter(|p| !now.contains(p)).count();
            if replaced == 1 && now.len() == 6 {
                break;
            }
            assert!(Instant::now() < deadline, "{pool_now:?} -> {now:?}");
            pause(20).await;
        }

        // Only the tight pool left: every pick is guarded, nothing signalled.
        pause(1100).await;
        t.safety.max_kills_per_sec = 10;
        only(&t, |c| tight_before.contains(&c.pid_text)).await;
        let out = run(&t, "exit_signal", json!({ "fanout": 2 })).await;
        assert_eq!(out.status, Status::Skipped, "{out:?}");
        assert_eq!(num(&out.measurements, "signalled"), 0);
        assert!(num(&out.measurements, "guarded") >= 1, "{out:?}");
        assert!(out.detail.contains("restart budget"), "{out:?}");
        assert!(out.budget.as_ref().is_some_and(|b| b.guarded >= 1));
        assert_eq!(children(&t, "depth_tight_sup").await, tight_before);
    });
}

#[test]
fn link_crash_chain_links_a_real_victim_where_the_budget_allows() {
    let (node, _dir) = start_node("depth_chain");
    smol::block_on(async {
        let safety = Safety::default()
            .with_protect_names(vec!["*".into()])
            .unwrap();
        let t = target(&node, Profile::Demo, safety).await;
        // The demo profile plans a real victim too.
        let ops = builtin();
        let op = ops.iter().find(|o| o.name() == "link_crash_chain").unwrap();
        let planned = op.plan(&mut chaos_engine::SeededRng::new(1), Profile::Demo);
        assert_eq!(planned["link_victim"], Value::Bool(true));

        let pool_before = children(&t, "depth_pool_sup").await;
        let out = run(
            &t,
            "link_crash_chain",
            json!({ "chain_length": 4, "link_victim": true }),
        )
        .await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert!(out.detail.starts_with("linked to a real victim"), "{out:?}");
        assert_eq!(out.measurements["real_victim"], Value::Bool(true));
        assert_eq!(num(&out.measurements, "died"), 4);
        assert!(out.killed);
        let victim = out.victim.clone().unwrap().id;
        assert!(pool_before.contains(&victim), "{victim} in {pool_before:?}");
        let dead = ev(
            &t,
            "erlang:is_process_alive(list_to_pid(binary_to_list(P))).",
            &[("P", binary(victim.as_bytes()))],
        )
        .await;
        assert_eq!(dead.as_bool(), Some(false), "the linked victim died");

        // Only the tight pool: the gate turns every worker away, so the
        // chain is the monkey's own, and it says why.
        let tight = children(&t, "depth_tight_sup").await;
        only(&t, |c| tight.contains(&c.pid_text)).await;
        pause(1100).await;
        let out = run(
            &t,
            "link_crash_chain",
            json!({ "chain_length": 3, "link_victim": true }),
        )
        .await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert!(
            out.detail.starts_with("own processes only (restart budget"),
            "{out:?}"
        );
        assert_eq!(out.measurements["real_victim"], Value::Bool(false));
        assert_eq!(num(&out.measurements, "died"), 3);
        assert!(!out.killed && out.victim.is_none());
        assert_eq!(children(&t, "depth_tight_sup").await, tight);
    });
}

#[test]
fn monitor_kill_confirms_the_monitors_down_and_its_reaction() {
    let (node, _dir) = start_node("depth_monitor");
    smol::block_on(async {
        let t = target(&node, Profile::Demo, Safety::default()).await;
        let watcher = ev(
            &t,
            "list_to_binary(pid_to_list(whereis(depth_watcher))).",
            &[],
        )
        .await
        .as_text()
        .unwrap();
        assert_eq!(count(&t, "depth_watcher").await, 0);
        let out = run(&t, "monitor_kill", json!({ "pick": 0 })).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert!(out.killed);
        let v = out.victim.clone().unwrap();
        assert_eq!(v.attr("registered_name"), Some("depth_watched"), "{v:?}");
        let m = &out.measurements;
        assert_eq!(num(m, "watchers"), 1, "{m}");
        assert_eq!(num(m, "handled"), 1, "{m}");
        let r = &m["reactions"][0];
        assert_eq!(r["watcher"], Value::from(watcher.as_str()), "{m}");
        assert_eq!(r["reaction"], "handled", "{m}");
        assert!(r["reductions"].as_i64().unwrap() > 0, "{m}");
        assert!(out.detail.contains("handled its 'DOWN'"), "{out:?}");
        // The watcher's own state counted the 'DOWN'.
        assert_eq!(count(&t, "depth_watcher").await, 1);

        // A watcher that cannot get to its mailbox (sys-suspended): the
        // 'DOWN' is seen queued; behind 1,500 other messages, a backlog
        // whose monitor fired. Both confirm; resumed, it counts them.
        let watching = "W = whereis(depth_watcher), \
            {monitored_by, By} = process_info(whereis(depth_watched), monitored_by), \
            lists:member(W, By).";
        for (flood, reaction) in [(0, "queued"), (1500, "backlog")] {
            let deadline = Instant::now() + Duration::from_secs(5);
            while ev(&t, watching, &[]).await.as_bool() != Some(true) {
                assert!(
                    Instant::now() < deadline,
                    "the watcher watches the new process"
                );
                pause(10).await;
            }
            ev(
                &t,
                "W = whereis(depth_watcher), ok = sys:suspend(W), [W ! junk || _ <- lists:seq(1, N)], ok.",
                &[("N", chaos_beam::dist::term::int(flood))],
            )
            .await;
            pause(1100).await; // the kills-per-second window
            let out = run(&t, "monitor_kill", json!({ "pick": 0 })).await;
            ev(&t, "sys:resume(whereis(depth_watcher)).", &[]).await;
            assert_eq!(out.status, Status::Confirmed, "{out:?}");
            let m = &out.measurements;
            assert_eq!(m["reactions"][0]["reaction"], reaction, "{m}");
            if reaction == "backlog" {
                assert!(out.detail.contains("its monitor fired"), "{out:?}");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while count(&t, "depth_watcher").await != 3 {
            assert!(Instant::now() < deadline, "the watcher counts all three");
            pause(10).await;
        }

        // Nobody monitored (the watched process protected): skipped, saying why.
        let safety = Safety::default()
            .with_protect_names(vec!["depth_watched".into()])
            .unwrap();
        let t2 = target(&node, Profile::Demo, safety).await;
        let out = run(&t2, "monitor_kill", json!({ "pick": 0 })).await;
        assert_eq!(out.status, Status::Skipped, "{out:?}");
        assert!(
            out.detail
                .contains("monitored by another application process"),
            "{out:?}"
        );
    });
}

#[test]
fn message_delay_slows_every_message_and_is_removed_on_release_and_lease_end() {
    let (node, _dir) = start_node("depth_delay");
    smol::block_on(async {
        let t = target(&node, Profile::Demo, Safety::default()).await;
        let ticker = ev(&t, "whereis(depth_ticker).", &[]).await;
        only(&t, |c| c.name.as_deref() == Some("depth_ticker")).await;
        // The tick rate without the hook (a tick every 10 ms).
        let rate = |ms: u64| {
            let t = &t;
            async move {
                let a = count(t, "depth_ticker").await;
                pause(ms).await;
                count(t, "depth_ticker").await - a
            }
        };
        let normal = rate(500).await;
        assert!(normal >= 20, "{normal} ticks in 500 ms");
        let out = run(
            &t,
            "message_delay",
            json!({ "delay_ms": 200, "hold_ms": 5000 }),
        )
        .await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let m = &out.measurements;
        assert!(num(m, "during_us") - num(m, "before_us") >= 100_000, "{m}");
        assert!(num(m, "delayed") >= 1, "{m}");
        let hooked = ev(&t, HOOKED, &[("P", ticker.clone())]).await;
        assert_eq!(hooked.as_bool(), Some(true));
        // Measured on the node: at most one tick per 200 ms now.
        let slowed = rate(1000).await;
        assert!(
            slowed <= 7,
            "{slowed} ticks in 1 s with a 200 ms delay each"
        );
        // The after-run audit would see a hook left behind.
        let hook_left = |a: &[chaos_engine::AuditFinding]| {
            a.iter().any(|f| f.detail.contains("message-delay hook"))
        };
        assert!(hook_left(&t.audit().await.unwrap()));
        out.effect.expect("an effect").undo().await.expect("undo");
        let hooked = ev(&t, HOOKED, &[("P", ticker.clone())]).await;
        assert_eq!(hooked.as_bool(), Some(false), "the hook is removed");
        assert!(!hook_left(&t.audit().await.unwrap()));
        let back = rate(500).await;
        assert!(back >= 20, "{back} ticks in 500 ms after the release");

        // The lease ends (the monkey killed or cut off): the holder removes the hook.
        let out = run(
            &t,
            "message_delay",
            json!({ "delay_ms": 300, "hold_ms": 20000 }),
        )
        .await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert_eq!(
            ev(&t, HOOKED, &[("P", ticker.clone())]).await.as_bool(),
            Some(true)
        );
        // The keeper runs at high priority: a node kept busy must not make
        // its renewals late (that undoes every effect early).
        let keeper = t.lease_keeper().await.unwrap();
        assert_eq!(
            ev(
                &t,
                "erlang:process_info(K, priority).",
                &[("K", keeper.into())]
            )
            .await
            .as_tuple()
            .and_then(|p| p[1].as_atom()),
            Some("high")
        );
        let ended = Instant::now();
        t.end_lease();
        loop {
            if ev(&t, HOOKED, &[("P", ticker.clone())]).await.as_bool() == Some(false) {
                break;
            }
            assert!(
                ended.elapsed() < Duration::from_secs(2),
                "the hook outlived the lease"
            );
            pause(20).await;
        }
        let back = rate(500).await;
        assert!(back >= 20, "{back} ticks in 500 ms after the lease ended");

        // A process that gets no message: nothing delayed, unconfirmed.
        let t = target(&node, Profile::Demo, Safety::default()).await;
        let idle = ev(
            &t,
            "[P | _] = [P || {_, P, _, _} <- supervisor:which_children(depth_pool_sup)], P.",
            &[],
        )
        .await;
        let idle_text = ev(
            &t,
            "list_to_binary(pid_to_list(P)).",
            &[("P", idle.clone())],
        )
        .await
        .as_text()
        .unwrap();
        only(&t, |c| c.pid_text == idle_text).await;
        let out = run(
            &t,
            "message_delay",
            json!({ "delay_ms": 50, "hold_ms": 1000 }),
        )
        .await;
        assert_eq!(out.status, Status::Unconfirmed, "{out:?}");
        assert!(out.detail.contains("nothing delayed yet"), "{out:?}");
        out.effect
            .expect("the hook stays for its hold")
            .undo()
            .await
            .expect("undo");
        assert_eq!(ev(&t, HOOKED, &[("P", idle)]).await.as_bool(), Some(false));
    });
}

#[test]
fn socket_delay_delays_a_connections_reads_as_its_client_sees() {
    let (node, _dir) = start_node("depth_socket");
    smol::block_on(async {
        let t = target(&node, Profile::Demo, Safety::default()).await;
        let port = ev(&t, "gen_server:call(depth_listener, port).", &[])
            .await
            .as_i64()
            .unwrap() as u16;
        // A client that sends a line and waits for its echo, over and over;
        // each round trip is recorded with when it ended.
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let rtts: Arc<Mutex<Vec<(Instant, Duration)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let client = {
            let (rtts, stop) = (rtts.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut w = stream;
                while !stop.load(Ordering::SeqCst) {
                    let t0 = Instant::now();
                    w.write_all(b"ping\n").unwrap();
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    assert_eq!(line, "ping\n");
                    rtts.lock().unwrap().push((Instant::now(), t0.elapsed()));
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        // Wait for the connection process and a few round trips.
        let deadline = Instant::now() + Duration::from_secs(5);
        while rtts.lock().unwrap().len() < 5 {
            assert!(Instant::now() < deadline, "no echo");
            pause(10).await;
        }
        let out = run(
            &t,
            "socket_delay",
            json!({ "delay_ms": 150, "hold_ms": 1500, "pick": 0 }),
        )
        .await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert!(out.detail.contains("socket message"), "{out:?}");
        let m = &out.measurements;
        assert!(num(m, "delayed_socket") >= 1, "{m}");
        assert!(num(m, "during_us") - num(m, "before_us") >= 75_000, "{m}");
        let held_from = Instant::now();
        pause(600).await;
        // A delay in progress at the release ends at once (shorter).
        let released = Instant::now();
        out.effect.expect("an effect").undo().await.expect("undo");
        pause(500).await;
        stop.store(true, Ordering::SeqCst);
        client.join().unwrap();
        // The client saw it: round trips that ended while the hook held took
        // the delay; those after the release are fast again.
        let rtts = rtts.lock().unwrap();
        let during: Vec<Duration> = rtts
            .iter()
            .filter(|(at, _)| *at > held_from && *at < released)
            .map(|(_, d)| *d)
            .collect();
        assert!(during.len() >= 2, "{during:?}");
        assert!(
            during.iter().all(|d| *d >= Duration::from_millis(140)),
            "{during:?}"
        );
        let after: Vec<Duration> = rtts
            .iter()
            .filter(|(at, _)| *at > released + Duration::from_millis(160))
            .map(|(_, d)| *d)
            .collect();
        assert!(
            !after.is_empty() && after.iter().all(|d| *d < Duration::from_millis(100)),
            "{after:?}"
        );
    });
}

#[test]
fn clear_mailbox_drops_real_messages_only_with_allow_message_loss() {
    let (node, _dir) = start_node("depth_loss");
    smol::block_on(async {
        let params = json!({ "messages": 100, "window_ms": 300, "max_drop": 1000 });
        // Without the flag: only the monkey's own messages; the queue loses nothing.
        let t = target(&node, Profile::Aggressive, Safety::default()).await;
        only(&t, |c| c.name.as_deref() == Some("depth_queue")).await;
        let out = run(&t, "clear_mailbox", params.clone()).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert_eq!(num(&out.measurements, "removed"), 100);
        assert!(!out.detail.contains("MESSAGE LOSS"), "{out:?}");
        assert!(t.message_loss().is_none(), "nothing real was lost");

        // With it, interpreted: skipped, saying why (an interpreted receive
        // inside the victim crashed OTP 25's emulator), and nothing lost.
        let mut safety = Safety::default();
        safety.allow_message_loss = true;
        let t = target(&node, Profile::Aggressive, safety).await;
        only(&t, |c| c.name.as_deref() == Some("depth_queue")).await;
        let out = run(&t, "clear_mailbox", params.clone()).await;
        assert_eq!(out.status, Status::Skipped, "{out:?}");
        assert!(out.detail.contains("only as compiled code"), "{out:?}");
        assert!(t.message_loss().is_none(), "nothing real was lost");

        // Compiled (a run's default): the queue's real items are dropped,
        // counted, and the application's own counts show exactly that loss.
        t.compile_snippets().await.expect("compile");
        let out = run(&t, "clear_mailbox", params).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert!(out.detail.starts_with("MESSAGE LOSS: dropped"), "{out:?}");
        let m = &out.measurements;
        let dropped = num(m, "dropped");
        assert!(dropped >= 10, "300 ms of items every 5 ms: {m}");
        assert_eq!(num(m, "message_loss"), dropped);
        assert!(num(m, "queue_in_after") <= num(m, "queue_in_before"), "{m}");
        assert_eq!(m["dropped_kinds"][0]["kind"], "$gen_cast", "{m}");
        // The run's report gets the loss (extras.message_loss).
        let loss = t
            .message_loss()
            .expect("the loss is recorded for the report");
        assert_eq!(loss["total_dropped"].as_i64(), Some(dropped), "{loss}");
        assert_eq!(loss["drops"][0]["name"], "depth_queue", "{loss}");
        let sent = ev(&t, "gen_server:call(depth_producer, stop_producing).", &[])
            .await
            .as_i64()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let q = ev(
                &t,
                "element(2, process_info(whereis(depth_queue), message_queue_len)).",
                &[],
            )
            .await;
            if q.as_i64() == Some(0) {
                break;
            }
            assert!(Instant::now() < deadline);
            pause(10).await;
        }
        let received = count(&t, "depth_queue").await;
        assert_eq!(sent - received, dropped, "sent {sent}, received {received}");
        // Resumed: it answers and is not sys-suspended.
        let status = ev(
            &t,
            "{status, _, _, [_, S | _]} = sys:get_status(depth_queue, 1000), S.",
            &[],
        )
        .await;
        assert_eq!(status.as_atom(), Some("running"));
    });
}
