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
            Reply::Confirmed(d, m, _) => Outcome::confirmed(readable(d)).with_measurements(m),
            Reply::Unconfirmed(d, _) => Outcome::unconfirmed(readable(d)),
            Reply::Skipped(d) => Outcome::skipped(readable(d)),
            Reply::Failed(d) => Outcome::failed(readable(d)),
            Reply::Gone => Outcome::skipped("every victim tried died before the operation"),
            Reply::Guarded(d) => Outcome::skipped(readable(d)),
        }
    }
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
