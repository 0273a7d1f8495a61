//! Custom operations from the config (`[[ops.custom]]`): an Erlang
//! expression evaluated on the target. It is confirmed only when its value
//! matches one of the operation's success patterns (by default `true`,
//! `ok` or `{ok, _}`), matched on the node; another value leaves it
//! unconfirmed, with the value; an exception fails it. The expression gets
//! `Seed` (an integer drawn from the run's seed) as a binding.

use super::BeamTarget;
use crate::dist::term::{int, show, TermExt};
use crate::eval::eval_with_timeout;
use chaos_engine::{Category, Operation, Outcome, Profile, SeededRng};
use futures::future::BoxFuture;
use serde_json::{json, Value};

/// What a custom operation's value must match when the config says nothing.
pub const DEFAULT_SUCCESS: [&str; 3] = ["true", "ok", "{ok, _}"];

/// A user-defined operation.
pub struct CustomOp {
    name: &'static str,
    category: Category,
    /// The expression, and the match of its value against the success
    /// patterns, as one source evaluated on the node.
    source: String,
}

impl CustomOp {
    /// A custom operation whose value must match one of `success` (Erlang
    /// case-clause heads); the name lives for the whole program.
    pub fn new(name: &str, category: Category, source: &str, success: &[String]) -> Self {
        let expr = source.trim().trim_end_matches('.');
        let clauses: String = success.iter().map(|p| format!("{p} -> true; ")).collect();
        Self {
            name: Box::leak(name.to_string().into_boxed_str()),
            category,
            source: format!(
                "ChaosMonkeyCustomValue = begin {expr} end,\n\
                 {{ChaosMonkeyCustomValue, case ChaosMonkeyCustomValue of {clauses}_ -> false end}}."
            ),
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
                    let (value, matched) = match v.as_tuple() {
                        Some([value, m]) => (value.clone(), m.as_atom() == Some("true")),
                        _ => (v.clone(), false),
                    };
                    let mut text = show(&value);
                    if text.len() > 200 {
                        text.truncate(200);
                        text.push('…');
                    }
                    if matched {
                        Outcome::confirmed(format!("returned {text}"))
                    } else {
                        Outcome::unconfirmed(format!(
                            "returned {text}, which matches none of its success patterns"
                        ))
                    }
                }
                Err(e) => Outcome::failed(e.to_string()),
            }
        })
    }
}
