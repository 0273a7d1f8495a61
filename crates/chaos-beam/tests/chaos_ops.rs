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
