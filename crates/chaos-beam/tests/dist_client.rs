//! The distribution client against real nodes.

use chaos_beam::dist::term::{atom, int, TermExt};
use chaos_beam::dist::{CallError, ConnectOptions, Cookie, CookieSource, DistClient, Event};
use chaos_testkit::{NodeBuilder, TestNode};
use std::time::{Duration, Instant};

fn opts(node: &TestNode) -> ConnectOptions {
    ConnectOptions::new(
        node.name.parse().unwrap(),
        Cookie::new(node.cookie.clone(), CookieSource::Flag).unwrap(),
    )
}

async fn connect(node: &TestNode) -> DistClient {
    DistClient::connect(&opts(node)).await.expect("connect")
}

#[test]
fn calls_return_values_and_we_are_hidden() {
    let node = TestNode::start("dist_basic");
    smol::block_on(async {
        let c = connect(&node).await;
        let name = c.call("erlang", "node", vec![]).await.unwrap();
        assert_eq!(name.as_atom(), Some(node.name.as_str()));
        // Hidden: listed in nodes(hidden), never in nodes().
        let visible = c.call("erlang", "nodes", vec![]).await.unwrap();
        assert_eq!(visible.as_list().unwrap().len(), 0);
        let hidden = c
            .call("erlang", "nodes", vec![atom("hidden")])
            .await
            .unwrap();
        let hidden: Vec<String> = hidden
            .as_list()
            .unwrap()
            .iter()
            .filter_map(|t| t.as_text())
            .collect();
        assert_eq!(hidden, vec![c.local_name().to_string()]);
        let sum = c.call("erlang", "+", vec![int(40), int(2)]).await.unwrap();
        assert_eq!(sum.as_i64(), Some(42));
    });
}

#[test]
fn exceptions_come_back_as_errors_and_the_loop_survives_output() {
    let node = TestNode::start("dist_exc");
    smol::block_on(async {
        let c = connect(&node).await;
        let e = c
            .call("erlang", "error", vec![atom("boom")])
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CallError::Raised { class, .. } if class == "error"),
            "{e}"
        );
        assert!(e.to_string().contains("boom"));
        let e = c
            .call("erlang", "throw", vec![atom("ball")])
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CallError::Raised { class, .. } if class == "throw"),
            "{e}"
        );
        // Remote output must not reach us nor break the connection.
        let r = c
            .call(
                "io",
                "format",
                vec![
                    "hello from the target~n".to_string().into(),
                    chaos_beam::dist::term::list(vec![]),
                ],
            )
            .await
            .unwrap();
        assert_eq!(r.as_atom(), Some("ok"));
        let again = c.call("erlang", "node", vec![]).await.unwrap();
        assert!(again.as_atom().is_some());
    });
}

#[test]
fn many_calls_in_flight_at_once() {
    let node = TestNode::start("dist_many");
    smol::block_on(async {
        let c = connect(&node).await;
        let calls = (0..500).map(|i| {
            let c = c.clone();
            async move {
                c.call("erlang", "abs", vec![int(-i)])
                    .await
                    .unwrap()
                    .as_i64()
                    .unwrap()
            }
        });
        let results = futures::future::join_all(calls).await;
        assert_eq!(results, (0..500).collect::<Vec<_>>());
    });
}

#[test]
fn a_timed_out_call_fails_clearly_and_its_process_is_killed() {
    let node = TestNode::start("dist_timeout");
    smol::block_on(async {
        let c = connect(&node).await;
        let before = c
            .call("erlang", "system_info", vec![atom("process_count")])
            .await
            .unwrap()
            .as_i64()
            .unwrap();
        let started = Instant::now();
        let e = c
            .call_with_timeout(
                "timer",
                "sleep",
                vec![int(60_000)],
                Duration::from_millis(300),
            )
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(matches!(e, CallError::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("timer:sleep/1 timed out"), "{e}");
        // The sleeping process is gone: poll with a deadline.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let sleepers = chaos_beam::eval::eval(
                &c,
                "length([P || P <- erlang:processes(), erlang:process_info(P, current_function) =:= {current_function, {timer, sleep, 1}}]).",
                &[],
            )
            .await
            .unwrap();
            if sleepers.as_i64() == Some(0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "timed-out call still running on the target"
            );
            smol::Timer::after(Duration::from_millis(20)).await;
        }
        let after = c
            .call("erlang", "system_info", vec![atom("process_count")])
            .await
            .unwrap()
            .as_i64()
            .unwrap();
        assert!(
            after <= before,
            "process count grew from {before} to {after}"
        );
    });
}

#[test]
fn mailbox_receives_messages_links_and_monitors() {
    let node = TestNode::start("dist_mailbox");
    smol::block_on(async {
        let c = connect(&node).await;
        let mb = c.mailbox();
        // The target sends to our pid.
        c.call(
            "erlang",
            "send",
            vec![mb.pid().clone().into(), atom("hello")],
        )
        .await
        .unwrap();
        match mb.recv_timeout(Duration::from_secs(5)).await.unwrap() {
            Event::Message(t) => assert_eq!(t.as_atom(), Some("hello")),
            other => panic!("unexpected {other:?}"),
        }
        // A process that waits for a message, then exits with a reason.
        let src = "erlang:spawn(fun() -> receive stop -> exit(stopped_by_test) end end).";
        let victim = chaos_beam::eval::eval(&c, src, &[]).await.unwrap();
        let victim = victim.as_pid().unwrap().clone();
        let reference = mb.monitor(&victim);
        mb.link(&victim);
        // Let the monitor and link land before the stop message: both are ordered on the connection.
        mb.send(&victim, atom("stop"));
        let mut saw_down = false;
        let mut saw_exit = false;
        while !(saw_down && saw_exit) {
            match mb.recv_timeout(Duration::from_secs(5)).await.unwrap() {
                Event::Down {
                    reference: r,
                    reason,
                    ..
                } => {
                    assert_eq!(r, reference);
                    assert_eq!(reason.as_atom(), Some("stopped_by_test"));
                    saw_down = true;
                }
                Event::Exit { from, reason } => {
                    assert_eq!(from, victim);
                    assert_eq!(reason.as_atom(), Some("stopped_by_test"));
                    saw_exit = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    });
}

#[test]
fn target_can_monitor_our_mailbox() {
    let node = TestNode::start("dist_watch");
    smol::block_on(async {
        let c = connect(&node).await;
        let mb = c.mailbox();
        let me = mb.pid().clone();
        // A watcher on the target monitors our pid and reports the DOWN back to a second mailbox.
        let reporter = c.mailbox();
        let src = "erlang:spawn(fun() -> R = erlang:monitor(process, Me), Rep ! monitoring, receive {'DOWN', R, process, _, Why} -> Rep ! {down, Why} end end).";
        chaos_beam::eval::eval(
            &c,
            src,
            &[("Me", me.into()), ("Rep", reporter.pid().clone().into())],
        )
        .await
        .unwrap();
        match reporter.recv_timeout(Duration::from_secs(5)).await.unwrap() {
            Event::Message(t) => assert_eq!(t.as_atom(), Some("monitoring")),
            other => panic!("{other:?}"),
        }
        drop(mb);
        match reporter.recv_timeout(Duration::from_secs(5)).await.unwrap() {
            Event::Message(t) => assert_eq!(chaos_beam::dist::term::show(&t), "{down,normal}"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn node_death_fails_pending_calls_at_once() {
    let mut node = TestNode::start("dist_death");
    smol::block_on(async {
        let c = connect(&node).await;
        let pending = {
            let c = c.clone();
            smol::spawn(async move {
                c.call_with_timeout("timer", "sleep", vec![int(30_000)], Duration::from_secs(30))
                    .await
            })
        };
        // Make sure the call is on the target before killing it.
        c.call("erlang", "node", vec![]).await.unwrap();
        let killed = Instant::now();
        node.kill();
        let e = pending.await.unwrap_err();
        assert!(e.is_disconnect(), "{e}");
        assert!(
            killed.elapsed() < Duration::from_secs(2),
            "took {:?}",
            killed.elapsed()
        );
        // Later calls fail immediately too.
        let e = c.call("erlang", "node", vec![]).await.unwrap_err();
        assert!(e.is_disconnect());
        assert!(c.closed_reason().is_some());
    });
}

#[test]
fn long_names_work() {
    let node = NodeBuilder::new("dist_long").long_name().start();
    smol::block_on(async {
        let c = connect(&node).await;
        let name = c.call("erlang", "node", vec![]).await.unwrap();
        assert_eq!(name.as_atom(), Some(node.name.as_str()));
    });
}

#[test]
fn negative_integers_survive_the_round_trip() {
    let node = TestNode::start("dist_ints");
    smol::block_on(async {
        let c = connect(&node).await;
        for v in [-1i64, -255, -300, 0, 255, 256, 1 << 40, -(1 << 40)] {
            let r = c
                .call("erlang", "integer_to_list", vec![int(v)])
                .await
                .unwrap();
            assert_eq!(r.as_text().unwrap(), v.to_string());
        }
    });
}

#[test]
fn a_silent_node_is_declared_gone_within_one_tick() {
    // SIGSTOP freezes the node without closing the socket: only the tick can tell.
    let mut node = TestNode::start("dist_frozen");
    let tick = Duration::from_millis(800);
    smol::block_on(async {
        let mut o = opts(&node);
        o.tick = tick;
        o.call_timeout = Duration::from_secs(30);
        let c = DistClient::connect(&o).await.unwrap();
        let pid = node.os_pid().to_string();
        let stop = std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap();
        assert!(stop.success());
        let frozen = Instant::now();
        let e = c.call("erlang", "node", vec![]).await.unwrap_err();
        let took = frozen.elapsed();
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status();
        assert!(e.is_disconnect(), "{e}");
        assert!(e.to_string().contains("did not answer"), "{e}");
        // Declared gone after one tick of silence (plus one liveness step of slack).
        assert!(took <= tick + tick / 2, "took {took:?}");
    });
    node.kill();
}

#[test]
fn unexpected_messages_are_dropped_and_the_connection_lives_on() {
    let node = TestNode::start("dist_junk");
    smol::block_on(async {
        let c = connect(&node).await;
        let gone = c.mailbox().pid().clone(); // the mailbox is dropped at once
        let junk = chaos_beam::dist::term::tuple(vec![atom("junk"), int(1)]);
        c.call("erlang", "send", vec![gone.clone().into(), junk.clone()])
            .await
            .unwrap();
        // An exit signal and a monitor to a pid of ours that no longer exists.
        c.call("erlang", "exit", vec![gone.clone().into(), atom("bye")])
            .await
            .unwrap();
        let down = chaos_beam::eval::eval(
            &c,
            "R = erlang:monitor(process, Gone), receive {'DOWN', R, process, _, Why} -> Why after 5000 -> timeout end.",
            &[("Gone", gone.into())],
        )
        .await
        .unwrap();
        assert_eq!(down.as_atom(), Some("noproc"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.stats().unexpected < 2 {
            assert!(Instant::now() < deadline, "stats: {:?}", c.stats());
            smol::Timer::after(Duration::from_millis(5)).await;
        }
        assert_eq!(
            c.call("erlang", "node", vec![]).await.unwrap().as_atom(),
            Some(node.name.as_str())
        );
        assert!(c.closed_reason().is_none());
    });
}

#[test]
fn dropping_the_last_handle_closes_the_connection() {
    let node = TestNode::start("dist_drop");
    smol::block_on(async {
        let watcher = connect(&node).await;
        let count = || async {
            let v = watcher
                .call("erlang", "nodes", vec![atom("hidden")])
                .await
                .unwrap();
            v.as_list().unwrap().len()
        };
        let c = connect(&node).await;
        let c2 = c.clone();
        assert_eq!(count().await, 2);
        drop(c);
        assert_eq!(
            c2.call("erlang", "node", vec![]).await.unwrap().as_atom(),
            Some(node.name.as_str())
        );
        drop(c2);
        let deadline = Instant::now() + Duration::from_secs(5);
        while count().await != 1 {
            assert!(
                Instant::now() < deadline,
                "the dropped connection is still there"
            );
            smol::Timer::after(Duration::from_millis(10)).await;
        }
    });
}

/// Monkeys connect as `chaos_monkey_<slot>` from a fixed set (no new atom
/// per connection): several connecting at once, and one connecting while
/// another holds a name, all get distinct names and none disturbs another.
#[test]
fn connections_take_distinct_names_from_the_fixed_set_and_leave_each_other_alone() {
    let node = TestNode::start("dist_slots");
    smol::block_on(async {
        let first = connect(&node).await;
        let o = opts(&node);
        let together = futures::future::join_all((0..4).map(|_| DistClient::connect(&o))).await;
        let mut clients: Vec<DistClient> = together.into_iter().map(|c| c.unwrap()).collect();
        clients.push(first);
        let mut names: Vec<String> = clients.iter().map(|c| c.local_name().to_string()).collect();
        for n in &names {
            assert!(n.starts_with("chaos_monkey_"), "{n}");
            let slot = n["chaos_monkey_".len()..].split('@').next().unwrap();
            let slot: u32 = slot.parse().unwrap();
            assert!(
                (1..=chaos_beam::dist::connect::NAME_SLOTS).contains(&slot),
                "{n}"
            );
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 5, "{names:?}");
        // Every connection still answers, the first one included.
        for c in &clients {
            let sum = c.call("erlang", "+", vec![int(1), int(2)]).await.unwrap();
            assert_eq!(sum.as_i64(), Some(3));
        }
        let hidden = clients[0]
            .call("erlang", "nodes", vec![atom("hidden")])
            .await
            .unwrap();
        assert_eq!(hidden.as_list().unwrap().len(), 5);
    });
}
