//! Each built-in operation against the demo system: it really happens, it is
//! confirmed, and its effect is undone.

mod support;

use chaos_beam::chaos::ops::builtin;
use chaos_engine::{Profile, SeededRng, Status};
use support::Demo;

async fn run_op(
    target: &chaos_beam::chaos::BeamTarget,
    name: &str,
    seed: u64,
) -> chaos_engine::Outcome {
    let ops = builtin();
    let op = ops
        .iter()
        .find(|o| o.name() == name)
        .unwrap_or_else(|| panic!("no op {name}"));
    let params = op.plan(&mut SeededRng::new(seed), Profile::Demo);
    op.run(target, &params).await
}

#[test]
fn kill_worker_kills_an_app_worker() {
    let demo = Demo::start("op_kill");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        let out = run_op(&t, "kill_worker", 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let victim = out.victim.clone().unwrap();
        assert_eq!(victim.attr("application"), Some("chaos_demo"));
        assert!(out.detail.contains("'DOWN'"), "{out:?}");
        assert!(out.killed);
    });
}

#[test]
fn suspend_is_confirmed_and_undone() {
    let demo = Demo::start("op_suspend");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        let out = run_op(&t, "suspend", 2).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let effect = out.effect.expect("suspension is an effect");
        let audit = t.audit().await.unwrap();
        assert!(
            audit.iter().any(|a| a.detail.contains("still suspended")
                && a.failure_kind.as_deref() == Some("timing_anomaly")),
            "{audit:?}"
        );
        effect.undo().await.expect("undo");
        let audit = t.audit().await.unwrap();
        assert!(audit.is_empty(), "{audit:?}");
    });
}

#[test]
fn the_audit_reports_a_priority_the_monkey_left_not_one_it_found() {
    let demo = Demo::start("op_prio_audit");
    smol::block_on(async {
        // Left by the monkey: while its effect holds, the audit names it.
        let t = demo.target(Profile::Demo).await;
        let out = run_op(&t, "priority", 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let audit = t.audit().await.unwrap();
        assert!(
            audit.iter().any(|a| a
                .detail
                .contains("still runs at priority low, which the monkey gave it (it had normal)")),
            "{audit:?}"
        );
        out.effect.expect("an effect").undo().await.expect("undo");
        let audit = t.audit().await.unwrap();
        assert!(audit.is_empty(), "{audit:?}");

        // Found low: every OTP process of the demo already runs at low
        // when the monkey comes; giving one low again leaves nothing of ours.
        let each_otp_process = |priority: &str| {
            format!(
                "[catch sys:replace_state(P, fun(S) -> process_flag(priority, {priority}), S end, 1000)
                  || P <- erlang:processes(), application:get_application(P) =:= {{ok, chaos_demo}},
                     proc_lib:initial_call(P) =/= false],
                 ok."
            )
        };
        let client = &t.client;
        chaos_beam::eval::eval(client, &each_otp_process("low"), &[])
            .await
            .unwrap();
        let t2 = demo.target(Profile::Demo).await;
        let out = run_op(&t2, "priority", 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert_eq!(out.measurements["previous"], "low", "{out:?}");
        let audit = t2.audit().await.unwrap();
        assert!(
            !audit.iter().any(|a| a.detail.contains("priority")),
            "a priority it found was reported: {audit:?}"
        );
        out.effect.expect("an effect").undo().await.expect("undo");
        chaos_beam::eval::eval(client, &each_otp_process("normal"), &[])
            .await
            .unwrap();
    });
}
