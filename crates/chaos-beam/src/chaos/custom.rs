//! Custom operations from the config (`[[ops.custom]]`): an Erlang
//! expression evaluated on the target. It is confirmed when the expression
//! returns, and failed (with the exception) when it raises. The expression
//! gets `Seed` (an integer drawn from the run's seed) as a binding.

use super::BeamTarget;
use crate::dist::term::{int, show};
use crate::eval::eval_with_timeout;
use chaos_engine::{Category, Operation, Outcome, Profile, SeededRng};
use futures::future::BoxFuture;
use serde_json::{json, Value};

/// A user-defined operation.
pub struct CustomOp {
    name: &'static str,
    category: Category,
    source: String,
}

impl CustomOp {
    /// A custom operation; the name lives for the whole program.
    pub fn new(name: &str, category: Category, source: &str) -> Self {
        Self {
            name: Box::leak(name.to_string().into_boxed_str()),
            category,
            source: source.to_string(),
        }
    }
}

impl Operation<BeamTarget> for CustomOp {
    fn name(&self) -> &'static str {
        self.name
    }

    fn category(&self) -> Category {
        self.category
    }

    fn describe(&self) -> &'static str {
        "custom operation from the config (an Erlang expression)"
    }

    fn plan(&self, rng: &mut SeededRng, _profile: Profile) -> Value {
        json!({ "seed": rng.range_inclusive(0, i32::MAX as u64) })
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, params: &'a Value) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let seed = params.get("seed").and_then(Value::as_i64).unwrap_or(0);
            match eval_with_timeout(
                &ctx.client,
                &self.source,
                &[("Seed", int(seed))],
                super::OP_TIMEOUT,
            )
            .await
            {
                Ok(v) => {
                    let mut text = show(&v);
                    if text.len() > 200 {
                        text.truncate(200);
                        text.push('…');
                    }
                    Outcome::confirmed(format!("returned {text}"))
                }
                Err(e) => Outcome::failed(e.to_string()),
            }
        })
    }
}
