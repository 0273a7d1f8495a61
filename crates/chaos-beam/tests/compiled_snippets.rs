//! Compiled snippets against a real node: a snippet runs interpreted first,
//! compiled once used often enough and settled (a one-off never is), with
//! the same answers (values and exceptions);
//! a snippet the compiler rejects keeps working interpreted; the audit
//! unloads every module; and a lost monkey's modules are unloaded by the
//! janitor on the node.

mod support;

use chaos_beam::chaos::BeamTarget;
use chaos_beam::compiled::COMPILE_AFTER_USES;
use chaos_beam::dist::term::{int, show, Term, TermExt};
use chaos_beam::eval::{eval, EvalError};
use chaos_engine::Profile;
use std::time::{Duration, Instant};
use support::Demo;

/// The run's temporary modules loaded on the node, seen from another connection.
const LOADED: &str =
    "[M || {M, _} <- code:all_loaded(), lists:prefix(\"chaos_monkey_\", atom_to_list(M))].";

/// Where a snippet runs: the name of the module executing it.
const WHERE: &str =
    "{current_function, {M, _, _}} = erlang:process_info(self(), current_function), \
                     {M, X * 2}.";

/// Rejected by the compiler (a local function that does not exist), fine for
/// erl_eval as long as that branch is not taken (`X` is 1). In the same batch
/// as `WHERE`: the others must still be compiled without it.
const UNSAFE: &str = "case X of 1 -> {one, X}; _ -> not_defined_here() end.";

const RAISES: &str = "erlang:error({bad, X}).";

/// Like `WHERE`, used fewer than `COMPILE_AFTER_USES` times: never worth a module.
const ONE_OFF: &str =
    "{current_function, {M, _, _}} = erlang:process_info(self(), current_function), \
                     {M, X}.";

async fn loaded(watcher: &chaos_beam::dist::DistClient) -> Vec<String> {
    eval(watcher, LOADED, &[])
        .await
        .unwrap()
        .as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.as_atom().map(str::to_string))
        .collect()
}

async fn wait_until_unloaded(watcher: &chaos_beam::dist::DistClient, within: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let left = loaded(watcher).await;
        if left.is_empty() {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "modules still loaded after {within:?}: {left:?}"
        );
        smol::Timer::after(Duration::from_millis(20)).await;
    }
}

fn module_of(t: &Term) -> String {
    t.as_tuple().unwrap()[0].as_atom().unwrap().to_string()
}

#[test]
fn snippets_compile_after_repeated_use_answer_the_same_and_are_unloaded() {
    let demo = Demo::start("compiled");
    smol::block_on(async {
        let watcher = demo.client().await;
        let target: BeamTarget = demo.target(Profile::Demo).await;
        target.compile_snippets().await.unwrap();
        let x = [("X", int(21))];
        let first = target.exec(WHERE, &x).await.unwrap();
        assert_eq!(module_of(&first), "erl_eval", "{}", show(&first));
        let odd = target.exec(UNSAFE, &[("X", int(1))]).await.unwrap();
        let raised = target.exec(RAISES, &x).await.unwrap_err();
        // Each used often enough to be worth compiling; all three interpreted so far.
        for _ in 1..COMPILE_AFTER_USES {
            let t = target.exec(WHERE, &x).await.unwrap();
            assert_eq!(module_of(&t), "erl_eval", "{}", show(&t));
            target.exec(UNSAFE, &[("X", int(1))]).await.unwrap();
            target.exec(RAISES, &x).await.unwrap_err();
        }
        // Compiled half a second after the third use, at the next evaluation.
        smol::Timer::after(Duration::from_millis(600)).await;
        let _ = target.exec(WHERE, &x).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let compiled = loop {
            let t = target.exec(WHERE, &x).await.unwrap();
            if module_of(&t) != "erl_eval" || Instant::now() > deadline {
                break t;
            }
            smol::Timer::after(Duration::from_millis(50)).await;
        };
        let module = module_of(&compiled);
        assert!(module.starts_with("chaos_monkey_"), "{}", show(&compiled));
        // A one-off used just under the threshold, before and after that
        // generation: still interpreted, and counted as not compiled.
        for _ in 1..COMPILE_AFTER_USES {
            let t = target.exec(ONE_OFF, &x).await.unwrap();
            assert_eq!(module_of(&t), "erl_eval", "{}", show(&t));
        }
        assert_eq!(chaos_beam::compiled::pending(&target.client), 1);
        assert_eq!(
            compiled.as_tuple().unwrap()[1].as_i64(),
            Some(42),
            "same value compiled"
        );
        assert!(loaded(&watcher).await.contains(&module));
        // The rejected snippet still answers, interpreted.
        assert_eq!(
            show(&target.exec(UNSAFE, &[("X", int(1))]).await.unwrap()),
            show(&odd)
        );
        // The same exception, compiled or not.
        match (raised, target.exec(RAISES, &x).await.unwrap_err()) {
            (
                EvalError::Raised {
                    class: c1,
                    term: t1,
                    ..
                },
                EvalError::Raised {
                    class: c2,
                    term: t2,
                    ..
                },
            ) => {
                assert_eq!(c1, c2);
                assert_eq!(show(&t1), show(&t2));
            }
            other => panic!("not both raised: {other:?}"),
        }
        // The audit unloads the modules first and finds nothing.
        let left = target.audit().await.unwrap();
        assert!(left.is_empty(), "{left:?}");
        assert!(loaded(&watcher).await.is_empty());
        // Later evaluations are interpreted again.
        let after = target.exec(WHERE, &x).await.unwrap();
        assert_eq!(module_of(&after), "erl_eval");
    });
}

#[test]
fn the_janitor_unloads_the_modules_when_the_monkey_is_lost() {
    let demo = Demo::start("compiled_lost");
    smol::block_on(async {
        let watcher = demo.client().await;
        let target: BeamTarget = demo.target(Profile::Demo).await;
        target.compile_snippets().await.unwrap();
        let x = [("X", int(1))];
        for _ in 0..COMPILE_AFTER_USES {
            target.exec(WHERE, &x).await.unwrap();
        }
        smol::Timer::after(Duration::from_millis(600)).await;
        target.exec(WHERE, &x).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while loaded(&watcher).await.is_empty() {
            assert!(Instant::now() < deadline, "nothing was compiled");
            smol::Timer::after(Duration::from_millis(20)).await;
        }
        // The monkey's connection goes away without any clean-up.
        target.client.close();
        drop(target);
        let took = wait_until_unloaded(&watcher, Duration::from_secs(5)).await;
        eprintln!("unloaded {took:?} after the monkey's connection closed");
    });
}

#[test]
fn the_primed_snippets_are_every_one_the_operations_use() {
    let demo = Demo::start("compiled_primed");
    smol::block_on(async {
        let watcher = demo.client().await;
        let target = demo
            .target(Profile::Demo)
            .await
            .with_detection(Default::default())
            .await
            .unwrap();
        target.compile_snippets().await.unwrap();
        assert_eq!(chaos_beam::compiled::pending(&target.client), 0);
        // Every built-in operation, gated ones included, once each.
        let ops = chaos_beam::chaos::ops::builtin();
        let mut rng = chaos_engine::SeededRng::new(5);
        let mut confirmed = 0;
        for op in &ops {
            let params = op.plan(&mut rng, Profile::Demo);
            let out = op.run(&target, &params).await;
            confirmed += usize::from(out.status == chaos_engine::Status::Confirmed);
            if let Some(effect) = out.effect {
                let _ = effect.undo().await;
            }
            assert_eq!(
                chaos_beam::compiled::pending(&target.client),
                0,
                "{} used a snippet that was not primed",
                op.name()
            );
        }
        assert_eq!(
            chaos_beam::compiled::stats(&target.client).compiled_later,
            0
        );
        assert!(
            confirmed * 2 > ops.len(),
            "only {confirmed} of {} operations were confirmed",
            ops.len()
        );
        chaos_engine::Target::sample(&target).await.unwrap();
        target.candidates().await.unwrap();
        assert_eq!(
            chaos_beam::compiled::pending(&target.client),
            0,
            "the health sample or the victim list used a snippet that was not primed"
        );
        assert_eq!(
            loaded(&watcher).await.len(),
            1,
            "only the primed generation was compiled"
        );
        let left = target.audit().await.unwrap();
        assert!(left.is_empty(), "{left:?}");
    });
}

#[test]
fn the_process_index_answers_samples_and_is_gone_after_the_audit() {
    let demo = Demo::start("cs_index");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        t.compile_snippets().await.unwrap();
        let ix = t.process_index().expect("a run's snippets start the index");
        assert!(t.helpers().contains(&ix), "the index is a helper");
        let watcher = demo.client().await;
        let ask = "R = make_ref(), Ix ! {sample, self(), R, Max}, \
                   receive {process_sample, R, Total, Pids} -> {Total, length(Pids), erlang:system_info(process_count)} \
                   after 5000 -> timeout end.";
        // A small sample of a bigger node: drawn from the snapshot.
        let small = eval(
            &watcher,
            ask,
            &[("Ix", Term::from(ix.clone())), ("Max", int(5))],
        )
        .await
        .unwrap();
        let small = small.as_tuple().expect("the index answered");
        assert_eq!(small[1].as_i64(), Some(5), "{small:?}");
        let total = small[0].as_i64().unwrap();
        assert!(total > 5, "{small:?}");
        // All of them when the node is no bigger than the sample.
        let all = eval(
            &watcher,
            ask,
            &[("Ix", Term::from(ix.clone())), ("Max", int(1_000_000))],
        )
        .await
        .unwrap();
        let all = all.as_tuple().unwrap();
        let listed = all[1].as_i64().unwrap();
        let count = all[2].as_i64().unwrap();
        assert!((listed - count).abs() <= 5, "{all:?}");
        // Victim lists and health samples draw from it.
        assert!(!t.candidates().await.unwrap().is_empty());
        // The audit stops it first (its code may be in the modules it unloads).
        let audit = t.audit().await.unwrap();
        assert!(audit.is_empty(), "{audit:?}");
        assert!(t.process_index().is_none());
        let alive = eval(
            &watcher,
            "erlang:is_process_alive(Ix).",
            &[("Ix", Term::from(ix))],
        )
        .await
        .unwrap();
        assert_eq!(alive.as_atom(), Some("false"));
    });
}
