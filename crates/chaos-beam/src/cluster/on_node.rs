//! [`OnNode`]: any single-node operation, run on a member of the cluster.
//! The member is drawn from the run's node stream by weight (weight 0:
//! never); the operation itself is unchanged and sees that member's
//! [`BeamTarget`](crate::chaos::BeamTarget). The outcome is tagged with the
//! member, so the report can break operations down by node.

use super::ClusterTarget;
use crate::chaos::BeamTarget;
use chaos_engine::{Category, Operation, Outcome, Profile, SeededRng, Victim};
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;

/// A single-node operation on a member picked at run time.
pub struct OnNode<O: ?Sized>(pub Arc<O>);

impl<O: Operation<BeamTarget> + ?Sized> Operation<ClusterTarget> for OnNode<O> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn category(&self) -> Category {
        self.0.category()
    }

    fn describe(&self) -> &'static str {
        self.0.describe()
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> Value {
        self.0.plan(rng, profile)
    }

    fn run<'a>(&'a self, ctx: &'a ClusterTarget, params: &'a Value) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Some(member) = ctx.pick() else {
                return Outcome::skipped("no reachable member with a weight above 0");
            };
            let outcome = self.0.run(&member.target, params).await;
            on_node(outcome, &member.name)
        })
    }
}

/// Tag `outcome` with the node it ran on (a node-only victim when it had none).
pub fn on_node(mut outcome: Outcome, node: &str) -> Outcome {
    let victim = outcome.victim.get_or_insert_with(Victim::default);
    victim.node = Some(node.to_string());
    outcome
}
