//! What a snippet answers, read into a [`Reply`] and then an engine outcome.

use super::*;

/// A snippet's answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Done and observed: detail, measurements, and the helper holding the
    /// effect when there is one (`{confirmed, Detail, Measurements, Helper}`).
    Confirmed(String, Value, Option<Term>),
    /// Done, not observed (a helper may still hold an effect:
    /// `{unconfirmed, Detail, Measurements, Helper}`).
    Unconfirmed(String, Option<Term>),
    /// Not done.
    Skipped(String),
    /// Tried and failed.
    Failed(String),
    /// The victim died before the operation: pick another.
    Gone,
    /// Killing this victim would break a supervisor's restart budget or hit
    /// a single point of failure (`{guarded, Why}`, from the budget gate):
    /// pick another; the reason is the skip reason when none fits.
    Guarded(String),
}

impl Reply {
    /// The helper holding the effect, if the snippet left one.
    pub fn helper(&self) -> Option<&Term> {
        match self {
            Reply::Confirmed(_, _, h) | Reply::Unconfirmed(_, h) => h.as_ref(),
            _ => None,
        }
    }

    /// Read a snippet's answer.
    pub fn from_term(t: &Term) -> Reply {
        let text = |t: &Term| t.as_text().unwrap_or_else(|| crate::dist::term::show(t));
        match t.as_tuple() {
            Some([tag, d, m, h]) if tag.as_atom() == Some("confirmed") => {
                Reply::Confirmed(text(d), to_json(m), Some(h.clone()))
            }
            Some([tag, d, m]) if tag.as_atom() == Some("confirmed") => {
                Reply::Confirmed(text(d), to_json(m), None)
            }
            Some([tag, d]) if tag.as_atom() == Some("confirmed") => {
                Reply::Confirmed(text(d), Value::Null, None)
            }
            Some([tag, d]) if tag.as_atom() == Some("unconfirmed") => {
                Reply::Unconfirmed(text(d), None)
            }
            Some([tag, d, _m, h]) if tag.as_atom() == Some("unconfirmed") => {
                Reply::Unconfirmed(text(d), Some(h.clone()))
            }
            Some([tag, d]) if tag.as_atom() == Some("skipped") => Reply::Skipped(text(d)),
            Some([tag, d]) if tag.as_atom() == Some("failed") => Reply::Failed(text(d)),
            Some([tag, d]) if tag.as_atom() == Some("guarded") => Reply::Guarded(text(d)),
            _ if t.as_atom() == Some("gone") => Reply::Gone,
            _ => Reply::Failed(format!("unexpected answer {}", crate::dist::term::show(t))),
        }
    }

    /// As an engine outcome.
    pub fn outcome(self) -> Outcome {
        let readable = |d: String| crate::elixir::readable(&d).into_owned();
        match self {
            Reply::Confirmed(d, mut m, _) => {
                readable_strings(&mut m);
                let note = budget_note(&m);
                let out = Outcome::confirmed(readable(d)).with_measurements(m);
                match note {
                    Some(note) => out.with_budget(note),
                    None => out,
                }
            }
            Reply::Unconfirmed(d, _) => Outcome::unconfirmed(readable(d)),
            Reply::Skipped(d) => Outcome::skipped(readable(d)),
            Reply::Failed(d) => Outcome::failed(readable(d)),
            Reply::Gone => Outcome::skipped("every victim tried died before the operation"),
            Reply::Guarded(d) => Outcome::skipped(readable(d)).with_budget(guarded(1)),
        }
    }
}

/// Every text in a snippet's measurements written the Elixir way (names of
/// supervisors charged, predictions): they reach the report as evidence.
fn readable_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = crate::elixir::readable(s) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(readable_strings),
        Value::Object(map) => map.values_mut().for_each(readable_strings),
        _ => {}
    }
}

/// The note of an operation whose picks a budget turned away `n` times.
pub fn guarded(n: u64) -> chaos_engine::budget::BudgetNote {
    chaos_engine::budget::BudgetNote {
        guarded: n,
        ..Default::default()
    }
}

/// What a gated kill's answer says about restart budgets (`charged` and
/// `prediction` in its measurements, from `snippets/budget_gate.erl`), typed
/// for the engine. The measurements are written the Elixir way already.
fn budget_note(m: &Value) -> Option<chaos_engine::budget::BudgetNote> {
    use chaos_engine::budget::{BudgetCharge, BudgetNote, Prediction};
    let charges: Vec<BudgetCharge> = m
        .get("charged")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| {
                    Some(BudgetCharge {
                        owner: c.get("supervisor")?.as_str()?.to_string(),
                        limit: c.get("intensity")?.as_u64()?,
                        period_s: c.get("period_s")?.as_u64()?,
                        used: c.get("used")?.as_u64()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let prediction = m.get("prediction").and_then(|p| {
        Some(Prediction {
            predicted: p.get("predicted")?.as_str()?.to_string(),
            group: p
                .get("application")
                .and_then(Value::as_str)
                .map(str::to_string),
            came_true: p.get("came_true").and_then(Value::as_bool),
            after_ms: p.get("after_ms").and_then(Value::as_u64),
            unchecked: p
                .get("unchecked")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    });
    (!charges.is_empty() || prediction.is_some()).then_some(BudgetNote {
        charges,
        prediction,
        guarded: 0,
    })
}

/// Mark an outcome as a kill, with how the victim came back as the snippet
/// measured it (`restart_ms`, `detect_us`, `recovered` in its answer map):
/// the engine reads these typed, never from the measurement map.
pub fn killed(out: Outcome) -> Outcome {
    let m = &out.measurements;
    let recovery = Recovery {
        detect_us: m.get("detect_us").and_then(Value::as_u64),
        restart_ms: m.get("restart_ms").and_then(Value::as_u64),
        recovered: m.get("recovered").and_then(Value::as_bool),
    };
    out.killing().with_recovery(recovery)
}
