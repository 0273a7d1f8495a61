//! A test-only example of adding a scenario: this file, plus two lines in
//! `scenarios/mod.rs` (the `mod` and the entry in `all()`). The harness
//! around it (steady state before, probe writes, recovery wait, cascading
//! failures, data loss) comes for free from `harness::run_one`.

use super::{ScenarioCtx, Settings};
use chaos_engine::scenario::{Observation, Scenario};
use futures::future::BoxFuture;
use std::time::Instant;

/// Spawn and end a short-lived process on the node; the node stays whole.
pub struct ExampleBlip;

impl Scenario<ScenarioCtx, Settings> for ExampleBlip {
    fn name(&self) -> &'static str {
        "example_blip"
    }

    fn fault(&self) -> &'static str {
        "start one process that ends at once (a test-only example)"
    }

    fn expected(&self, _settings: &Settings) -> String {
        "the node stays whole".into()
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let start = Instant::now();
            let done = ctx
                .target
                .exec("erlang:spawn(fun() -> ok end), ok.", &[])
                .await;
            Observation::judged(done.is_ok(), format!("spawned: {done:?}"))
                .detected(Some(start.elapsed()))
                .recovered(Some(start.elapsed()))
        })
    }
}

mod tests {
    use super::*;
    use chaos_engine::StopSignal;

    /// Listed, and the harness runs it with its checks around it.
    #[test]
    fn the_example_scenario_plugs_in() {
        assert!(super::super::all()
            .iter()
            .any(|s| s.name() == "example_blip"));
        let node = chaos_testkit::TestNode::start("example_scn");
        smol::block_on(async {
            let target = crate::chaos::test_target(&node).await;
            let ctx = ScenarioCtx::new(target, Default::default(), StopSignal::new()).await;
            let r = super::super::run_one(&ctx, &ExampleBlip).await;
            assert!(r.passed, "{r:?}");
            assert!(r.cascading_failures.is_empty(), "{r:?}");
            ctx.target.client.close();
        });
    }
}
