//! Which processes an operation may touch, and what its confirmation looks
//! at, against the demo system: application masters and their helpers are
//! never picked (no workaround hides them from the picker here), and a
//! mailbox flood is confirmed by its own messages in the victim's own queue.

mod support;

use chaos_beam::chaos::ops::builtin;
use chaos_beam::chaos::BeamTarget;
use chaos_beam::dist::term::TermExt;
use chaos_engine::{Outcome, Profile, SeededRng, Status};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::Demo;

async fn run_with(t: &BeamTarget, name: &str, params: &Value) -> Outcome {
    let ops = builtin();
    let op = ops.iter().find(|o| o.name() == name).unwrap();
    let out = op.run(t, params).await;
    eprintln!("{name} {params}: {out:?} {}", out.measurements);
    out
}

fn num(v: &Value, key: &str) -> i64 {
    v.get(key)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

/// The pid texts of every application master on the node and of each
/// master's `application_master:start_it/4` helper, by application.
const MASTERS: &str = "
Text = fun(P) -> list_to_binary(pid_to_list(P)) end,
[{A, Text(M), [Text(H) || H <- Links,
                          is_pid(H),
                          erlang:process_info(H, initial_call) =:= {initial_call, {application_master, start_it, 4}}]}
 || {A, _, _} <- application:which_applications(),
    is_pid(M = application_controller:get_master(A)),
    {links, Links} <- [erlang:process_info(M, links)]].";

/// The safety rule "application masters and their helpers are never
/// touched": neither is ever a candidate, and the ops that end processes,
/// run many times, never end one (the application would stop with it).
#[test]
fn application_masters_and_their_helpers_are_never_picked() {
    let demo = Demo::start("op_masters");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        let found = t.exec(MASTERS, &[]).await.unwrap();
        let mut protected = Vec::new();
        let mut demo_helpers = 0;
        for entry in found.as_list().unwrap().iter() {
            let [app, master, helpers] = entry.as_tuple().unwrap() else {
                panic!("{entry:?}")
            };
            protected.push(master.as_text().unwrap());
            let helpers = helpers.as_list().unwrap();
            if app.as_atom() == Some("chaos_demo") {
                demo_helpers = helpers.len();
            }
            protected.extend(helpers.iter().map(|h| h.as_text().unwrap()));
        }
        // The rule has something to protect: chaos_demo's master and its helper.
        assert_eq!(demo_helpers, 1, "{found:?}");

        let candidates = t.candidates().await.unwrap();
        assert!(!candidates.is_empty());
        for c in candidates.iter() {
            assert!(
                !protected.contains(&c.pid_text),
                "an application master or its helper is a candidate: {c:?}"
            );
        }

        let mut ended = 0;
        for seed in 0..12 {
            for name in ["kill_worker", "exit_signal"] {
                let ops = builtin();
                let op = ops.iter().find(|o| o.name() == name).unwrap();
                let params = op.plan(&mut SeededRng::new(seed), Profile::Demo);
                let out = run_with(&t, name, &params).await;
                if let Some(v) = &out.victim {
                    assert!(!protected.contains(&v.id), "{name} picked {v:?}");
                }
                ended += usize::from(out.killed);
            }
            // chaos_demo is still running: no master was hit.
            let running = t
                .exec(
                    "lists:keymember(chaos_demo, 1, application:which_applications()).",
                    &[],
                )
                .await
                .unwrap();
            assert_eq!(running.as_bool(), Some(true), "seed {seed}");
            t.invalidate().await;
        }
        // The picks were real: processes were ended around the masters.
        assert!(ended > 0, "no operation ended a process");
        let audit = t.audit().await.unwrap();
        assert!(audit.is_empty(), "{audit:?}");
    });
}

/// A victim that never reads its queue and already holds 30 messages of its
/// own: the flood is confirmed by exactly its own messages in that queue,
/// and the numbers it reports are the victim's (checked on the node).
#[test]
fn mailbox_flood_is_confirmed_by_its_messages_in_the_victims_queue() {
    let demo = Demo::start("op_flood");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        // A worker of chaos_demo (by its group leader), marked as an OTP
        // process, that waits for `stop` and so reads no other message.
        let sink = t
            .exec(
                "GL = application_controller:get_master(chaos_demo), \
                 erlang:spawn(fun() -> erlang:group_leader(GL, self()), \
                                       put('$initial_call', {chaos_test_sink, init, 1}), \
                                       [self() ! {own, I} || I <- lists:seq(1, 30)], \
                                       receive stop -> ok after 60000 -> ok end end).",
                &[],
            )
            .await
            .unwrap();
        let queue = "element(2, erlang:process_info(P, message_queue_len)).";
        let deadline = Instant::now() + Duration::from_secs(5);
        while t
            .exec(queue, &[("P", sink.clone())])
            .await
            .unwrap()
            .as_i64()
            != Some(30)
        {
            assert!(
                Instant::now() < deadline,
                "the sink never had its 30 messages"
            );
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        // Every other worker is shielded: the sink is the only victim.
        let only = support::shield_all_but(&t, &sink).await;
        assert!(only.otp, "{only:?}");

        let out = run_with(&t, "mailbox_flood", &json!({ "count": 1000 })).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert_eq!(out.victim.as_ref().unwrap().id, only.pid_text);
        let m = &out.measurements;
        assert_eq!(num(m, "sent"), 1000, "{m}");
        assert_eq!(num(m, "queue_before"), 30, "{m}");
        assert_eq!(num(m, "ours_in_queue"), 1000, "{m}");
        assert_eq!(num(m, "queue_len"), 1030, "{m}");
        assert_eq!(m["died"], Value::Bool(false), "{m}");
        assert!(!out.killed);
        assert!(
            out.detail
                .contains("1000 of them were in its queue (30 before the flood, peak 1030)"),
            "{out:?}"
        );
        // On the node: the victim's queue holds its 30 and the 1000 flood messages.
        let held = t
            .exec(
                "{messages, Ms} = erlang:process_info(P, messages), \
                 {length(Ms), length([x || {'$chaos_monkey_flood', _, _} <- Ms])}.",
                &[("P", sink.clone())],
            )
            .await
            .unwrap();
        assert_eq!(chaos_beam::dist::term::show(&held), "{1030,1000}");

        t.exec("P ! stop.", &[("P", sink)]).await.unwrap();
    });
}

/// A process a `proc_lib:spawn` of a fun started runs its own receive loop
/// and never answers `sys`: it is no OTP victim (message_delay, sys_suspend
/// skip it at once); one with a named entry point that still does not
/// answer is skipped after one unanswered request, not counted as an error.
#[test]
fn a_proc_lib_fun_is_no_otp_victim_and_a_silent_one_is_skipped() {
    let demo = Demo::start("op_notsys");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        let spawn = "GL = application_controller:get_master(chaos_demo), \
                     proc_lib:spawn(fun() -> erlang:group_leader(GL, self()), \
                                             receive stop -> ok after 60000 -> ok end end).";
        let fun_proc = t.exec(spawn, &[]).await.unwrap();
        let c = support::shield_all_but(&t, &fun_proc).await;
        assert!(
            c.initial_call.contains("-fun-"),
            "proc_lib records the fun: {c:?}"
        );
        assert!(!c.otp, "a proc_lib fun counted as answering sys: {c:?}");
        let out = run_with(
            &t,
            "message_delay",
            &json!({"delay_ms": 50, "hold_ms": 500}),
        )
        .await;
        assert_eq!(out.status, Status::Skipped, "{out:?}");
        assert!(out.detail.contains("no eligible OTP"), "{out:?}");

        // A named entry point, but a plain receive loop: picked, asked once, skipped.
        let named = t
            .exec(
                "GL = application_controller:get_master(chaos_demo), \
                 erlang:spawn(fun() -> erlang:group_leader(GL, self()), \
                                       put('$initial_call', {chaos_test_silent, init, 1}), \
                                       receive stop -> ok after 60000 -> ok end end).",
                &[],
            )
            .await
            .unwrap();
        t.exec("P ! stop.", &[("P", fun_proc)]).await.unwrap();
        let c = support::shield_all_but(&t, &named).await;
        assert!(c.otp, "{c:?}");
        let out = run_with(
            &t,
            "message_delay",
            &json!({"delay_ms": 50, "hold_ms": 500}),
        )
        .await;
        assert_eq!(out.status, Status::Skipped, "{out:?}");
        assert!(
            out.detail.contains("did not answer a system request"),
            "{out:?}"
        );
        t.exec("P ! stop.", &[("P", named)]).await.unwrap();
    });
}
