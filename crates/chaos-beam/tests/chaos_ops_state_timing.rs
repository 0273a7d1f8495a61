//! The state, timing and flag-guarded operations against the demo system:
//! each really happens, is confirmed with its own evidence, and is undone.

mod support;

use chaos_beam::chaos::ops::builtin;
use chaos_beam::chaos::BeamTarget;
use chaos_beam::dist::term::{atom, show, Pid, Term, TermExt};
use chaos_beam::eval::eval;
use chaos_engine::{Outcome, Profile, SeededRng, Status};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::Demo;

fn plan(name: &str, seed: u64) -> Value {
    let ops = builtin();
    let op = ops
        .iter()
        .find(|o| o.name() == name)
        .unwrap_or_else(|| panic!("no op {name}"));
    op.plan(&mut SeededRng::new(seed), Profile::Demo)
}

async fn run_with(t: &BeamTarget, name: &str, params: &Value) -> Outcome {
    let ops = builtin();
    let op = ops.iter().find(|o| o.name() == name).unwrap();
    op.run(t, params).await
}

async fn run_op(t: &BeamTarget, name: &str, seed: u64) -> Outcome {
    run_with(t, name, &plan(name, seed)).await
}

async fn ev(t: &BeamTarget, src: &str, bindings: &[(&str, Term)]) -> Term {
    eval(&t.client, src, bindings)
        .await
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

/// The victim's pid as a term (looked up among the current candidates).
async fn victim_pid(t: &BeamTarget, out: &Outcome) -> Pid {
    let text = &out.victim.as_ref().expect("a victim").id;
    t.invalidate().await;
    t.candidates()
        .await
        .unwrap()
        .iter()
        .find(|c| &c.pid_text == text)
        .unwrap_or_else(|| panic!("victim {text} not among the candidates"))
        .pid
        .clone()
}

fn put_keys(port: u16, n: usize) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    for i in 0..n {
        w.write_all(format!("PUT key{i} value-{i}\n").as_bytes())
            .unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line.trim_end(), "OK");
    }
}

/// Until the demo's pool has its 8 sessions again.
async fn wait_healthy(t: &BeamTarget) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = ev(
            t,
            "try length(chaos_demo_pool:workers()) catch _:_ -> 0 end.",
            &[],
        )
        .await;
        if n.as_i64() == Some(8) {
            return;
        }
        assert!(Instant::now() < deadline, "the demo did not recover");
        smol::Timer::after(Duration::from_millis(50)).await;
    }
}

const STORE: &str = "lists:sort(ets:tab2list(chaos_demo_store)).";

async fn finish(t: &BeamTarget) {
    let audit = t.audit().await.unwrap();
    assert!(audit.is_empty(), "{audit:?}");
    let running = ev(
        t,
        "lists:keymember(chaos_demo, 1, application:which_applications()).",
        &[],
    )
    .await;
    assert_eq!(running.as_bool(), Some(true), "chaos_demo still runs");
}

#[test]
fn ets_ops_corrupt_and_delete_rows_and_put_them_back() {
    let demo = Demo::start("op_ets");
    put_keys(demo.info().service_port, 20);
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        let before = ev(&t, STORE, &[]).await;
        let n = before.as_list().unwrap().len();
        assert!(n >= 20, "the PUT keys are there: {n}");

        for seed in [1, 2] {
            let out = run_op(&t, "ets_modify", seed).await;
            assert_eq!(out.status, Status::Confirmed, "{out:?}");
            let victim = out.victim.clone().unwrap();
            assert_eq!(victim.attr("registered_name"), Some("chaos_demo_store"));
            let now = ev(&t, STORE, &[]).await;
            let rows = now.as_list().unwrap();
            let corrupted: Vec<_> = rows
                .iter()
                .filter(|r| show(r).contains("chaos_monkey_corrupted"))
                .collect();
            assert_eq!(corrupted.len(), 1, "{}", show(&now));
            assert_eq!(rows.len(), n);
            out.effect.expect("an effect").undo().await.expect("undo");
            assert_eq!(show(&ev(&t, STORE, &[]).await), show(&before));
        }

        // The application rewrites the corrupted row meanwhile: its value stays.
        let out = run_op(&t, "ets_modify", 3).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let rewritten = ev(
            &t,
            "[K] = [K || {K, chaos_monkey_corrupted} <- ets:tab2list(chaos_demo_store)], \
             ets:insert(chaos_demo_store, {K, <<\"rewritten\">>}), K.",
            &[],
        )
        .await;
        out.effect.expect("an effect").undo().await.expect("undo");
        let row = ev(&t, "ets:lookup(chaos_demo_store, K).", &[("K", rewritten)]).await;
        assert!(show(&row).contains("rewritten"), "{}", show(&row));
        let before = ev(&t, STORE, &[]).await;

        for seed in [4, 5] {
            let out = run_op(&t, "ets_delete", seed).await;
            assert_eq!(out.status, Status::Confirmed, "{out:?}");
            assert!(out.detail.contains("deleted"), "{out:?}");
            let now = ev(&t, STORE, &[]).await;
            assert_eq!(now.as_list().unwrap().len(), n - 1, "{}", show(&now));
            out.effect.expect("an effect").undo().await.expect("undo");
            assert_eq!(show(&ev(&t, STORE, &[]).await), show(&before));
        }
        finish(&t).await;
    });
}

#[test]
fn ets_ops_skip_an_empty_table() {
    let demo = Demo::start("op_ets_empty");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        // The demo store starts with preloaded rows: empty it first.
        ev(&t, "ets:delete_all_objects(chaos_demo_store).", &[]).await;
        for name in ["ets_modify", "ets_delete"] {
            let out = run_op(&t, name, 1).await;
            assert_eq!(out.status, Status::Skipped, "{out:?}");
            assert!(out.effect.is_none());
        }
        finish(&t).await;
    });
}

#[test]
fn registry_and_timing_ops_are_confirmed_and_undone() {
    let demo = Demo::start("op_state_timing");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;

        // registry_corrupt, both modes
        for (seed, mode) in [
            (1, "unregister"),
            (2, "decoy"),
            (3, "unregister"),
            (4, "decoy"),
        ] {
            let mut params = plan("registry_corrupt", seed);
            params["mode"] = mode.into();
            let out = run_with(&t, "registry_corrupt", &params).await;
            assert_eq!(out.status, Status::Confirmed, "{out:?}");
            let victim = out.victim.clone().unwrap();
            let name = atom(victim.attr("registered_name").unwrap());
            let pid = victim_pid(&t, &out).await;
            let now = ev(&t, "whereis(Name).", &[("Name", name.clone())]).await;
            match mode {
                "unregister" => assert_eq!(now.as_atom(), Some("undefined"), "{out:?}"),
                _ => {
                    let decoy = now.as_pid().expect("the decoy holds the name");
                    assert_ne!(decoy, &pid);
                    assert!(t.helpers().contains(decoy), "the decoy is our helper");
                }
            }
            out.effect.expect("an effect").undo().await.expect("undo");
            let back = ev(&t, "whereis(Name).", &[("Name", name)]).await;
            assert_eq!(back.as_pid(), Some(&pid), "{victim:?}");
        }

        // priority
        let out = run_op(&t, "priority", 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let pid = victim_pid(&t, &out).await;
        let prio = "element(2, erlang:process_info(P, priority)).";
        let p = ev(&t, prio, &[("P", pid.clone().into())]).await;
        assert_eq!(p.as_atom(), Some("low"));
        out.effect.expect("an effect").undo().await.expect("undo");
        let p = ev(&t, prio, &[("P", pid.into())]).await;
        assert_eq!(p.as_atom(), Some("normal"));

        // sys_suspend
        let out = run_op(&t, "sys_suspend", 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let pid = victim_pid(&t, &out).await;
        let status = "{status, _, _, [_, S | _]} = sys:get_status(P, 1000), S.";
        let s = ev(&t, status, &[("P", pid.clone().into())]).await;
        assert_eq!(s.as_atom(), Some("suspended"));
        out.effect.expect("an effect").undo().await.expect("undo");
        let s = ev(&t, status, &[("P", pid.clone().into())]).await;
        assert_eq!(s.as_atom(), Some("running"));
        let answers = ev(
            &t,
            "try sys:get_state(P, 1000), true catch _:_ -> false end.",
            &[("P", pid.into())],
        )
        .await;
        assert_eq!(answers.as_bool(), Some(true));

        // clear_mailbox
        for seed in [1, 2] {
            let out = run_op(&t, "clear_mailbox", seed).await;
            assert_eq!(out.status, Status::Confirmed, "{out:?}");
            assert!(out.effect.is_none());
            let m = &out.measurements;
            let sent = m["sent"].as_i64().unwrap();
            assert!((50..=500).contains(&sent), "{m}");
            assert_eq!(m["removed"].as_i64(), Some(sent), "{m}");
            assert!(m["queue_before"].as_i64().unwrap() >= sent, "{m}");
            assert!(m["queue_after"].as_i64().unwrap() < sent, "{m}");
        }

        // scheduler_contention: confirmed by the scheduling latency of
        // normal-priority work, not by the spinners having run.
        let schedulers = ev(&t, "erlang:system_info(schedulers_online).", &[])
            .await
            .as_i64()
            .unwrap();
        let contend = |busy_ms: i64, priority: &str| serde_json::json!({ "busy_ms": busy_ms, "priority": priority });
        // High priority: normal work waits for (about) the whole burst.
        let out = run_with(&t, "scheduler_contention", &contend(200, "high")).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let m = &out.measurements;
        assert_eq!(m["processes"].as_i64(), Some(schedulers), "{m}");
        let before = m["latency_before_us"].as_i64().unwrap();
        let during = m["latency_during_us"].as_i64().unwrap();
        assert!(before < 100_000, "{m}");
        assert!(during >= 100_000, "normal work waited half the burst: {m}");
        assert_eq!(m["rise_us"].as_i64(), Some(during - before), "{m}");
        assert!(
            out.detail
                .contains(&format!("{before} us before, {during} us while")),
            "{out:?}"
        );
        // Low priority: the same spinners for as long, but normal work runs
        // first — the latency does not rise, so nothing is confirmed.
        let out = run_with(&t, "scheduler_contention", &contend(200, "low")).await;
        assert_eq!(out.status, Status::Unconfirmed, "{out:?}");
        assert!(out.detail.contains("below the 100000 us"), "{out:?}");
        // A planned burst (1–50 ms): confirmed exactly when the measured
        // rise reaches half of it.
        let params = plan("scheduler_contention", 1);
        let busy = params["busy_ms"].as_i64().unwrap();
        assert!((1..=50).contains(&busy), "{params}");
        assert_eq!(params["priority"], "high", "{params}");
        let out = run_with(&t, "scheduler_contention", &params).await;
        match out.status {
            Status::Confirmed => {
                let rise = out.measurements["rise_us"].as_i64().unwrap();
                assert!(rise >= busy * 500, "{out:?}");
            }
            Status::Unconfirmed => assert!(out.detail.contains("below the"), "{out:?}"),
            _ => panic!("{out:?}"),
        }
        // Parameters it refuses.
        for bad in [contend(0, "high"), contend(10, "max")] {
            let out = run_with(&t, "scheduler_contention", &bad).await;
            assert_eq!(out.status, Status::Failed, "{bad}: {out:?}");
        }

        finish(&t).await;
    });
}

/// A sys suspension still held at the audit is named (the audit asks the
/// processes whose `sys` state the monkey changed), and gone once undone.
#[test]
fn the_audit_names_a_process_left_sys_suspended() {
    let demo = Demo::start("st_sys_audit");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        let out = run_op(&t, "sys_suspend", 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let victim = out.victim.clone().expect("a victim").id;
        let audit = t.audit().await.unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.detail == format!("process {victim} is still sys-suspended")),
            "{audit:?}"
        );
        out.effect.expect("an effect").undo().await.expect("undo");
        let audit = t.audit().await.unwrap();
        assert!(audit.is_empty(), "{audit:?}");
    });
}

/// A victim busy for longer than the monkey's usual 5 s wait for a helper
/// (here 7 s inside one callback) still gets its priority back, and the undo
/// says so: it used to kill the helper at 5 s and report "helper ended with
/// timeout" while the restore sat queued.
#[test]
fn priority_restore_waits_for_a_busy_victim() {
    let demo = Demo::start("st_prio_busy");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        let out = run_op(&t, "priority", 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let pid = victim_pid(&t, &out).await;
        // Busy 7 s in a callback of its own (a system message it must
        // finish before it reads the restore).
        ev(
            &t,
            "_ = proc_lib:spawn(fun() -> catch sys:replace_state(P, fun(S) -> timer:sleep(7000), S end, infinity) end), ok.",
            &[("P", pid.clone().into())],
        )
        .await;
        let sleeping =
            "erlang:process_info(P, current_function) =:= {current_function, {timer, sleep, 1}}.";
        let deadline = Instant::now() + Duration::from_secs(5);
        while ev(&t, sleeping, &[("P", pid.clone().into())])
            .await
            .as_bool()
            != Some(true)
        {
            assert!(Instant::now() < deadline, "the victim never got busy");
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        let undone = out.effect.expect("an effect").undo().await;
        assert_eq!(undone, Ok(()), "after {:?}", started.elapsed());
        assert!(
            started.elapsed() >= Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let prio = "element(2, erlang:process_info(P, priority)).";
        let p = ev(&t, prio, &[("P", pid.into())]).await;
        assert_eq!(p.as_atom(), Some("normal"));
        finish(&t).await;
    });
}

#[test]
fn guarded_ops_are_confirmed() {
    let demo = Demo::start("op_guarded");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;

        // atom_exhaustion: irreversible, so no effect
        let count = "erlang:system_info(atom_count).";
        let a0 = ev(&t, count, &[]).await.as_i64().unwrap();
        let out = run_op(&t, "atom_exhaustion", 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert!(out.effect.is_none());
        assert!(out.detail.contains("cannot be undone"), "{out:?}");
        let created = out.measurements["atoms_created"].as_i64().unwrap();
        assert!((1..=2000).contains(&created), "{out:?}");
        let a1 = ev(&t, count, &[]).await.as_i64().unwrap();
        assert!(a1 - a0 >= created, "{a0} -> {a1}, {created} created");
        // The same tag again creates nothing new.
        let again = run_op(&t, "atom_exhaustion", 1).await;
        assert_eq!(again.status, Status::Unconfirmed, "{again:?}");

        // port_exhaustion
        let ports = "erlang:system_info(port_count).";
        let p0 = ev(&t, ports, &[]).await.as_i64().unwrap();
        let out = run_op(&t, "port_exhaustion", 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let opened = out.measurements["ports_opened"].as_i64().unwrap();
        assert!((1..=200).contains(&opened), "{out:?}");
        let p1 = ev(&t, ports, &[]).await.as_i64().unwrap();
        assert!(p1 - p0 >= opened, "{p0} -> {p1}, {opened} opened");
        out.effect.expect("an effect").undo().await.expect("undo");
        let p2 = ev(&t, ports, &[]).await.as_i64().unwrap();
        assert!(p2 <= p1 - opened, "{p1} -> {p2} after closing {opened}");

        // kill_supervisor: a non-top supervisor dies and comes back, a few
        // times with different victims; the top supervisor is never chosen.
        for seed in [1, 2, 3] {
            let out = run_op(&t, "kill_supervisor", seed).await;
            assert_eq!(out.status, Status::Confirmed, "{out:?}");
            assert!(out.killed);
            let victim = out.victim.clone().unwrap();
            assert_eq!(victim.attr("application"), Some("chaos_demo"));
            assert_ne!(victim.attr("registered_name"), Some("chaos_demo_sup"));
            assert!(out.measurements["restart_ms"].as_i64().is_some(), "{out:?}");
            let name = atom(victim.attr("registered_name").unwrap());
            let back = ev(&t, "is_pid(whereis(Name)).", &[("Name", name)]).await;
            assert_eq!(back.as_bool(), Some(true), "{out:?}");
            wait_healthy(&t).await;
        }
        finish(&t).await;
    });
}
