//! Helpers: processes an operation leaves on the target to hold an effect
//! (a suspension, memory, a decoy name, a saved ETS row) and to undo it.
//!
//! The protocol every helper follows:
//! * it undoes its effect and exits when it receives `release`, or by itself
//!   when its deadline passes (so a lost monkey leaves nothing for long);
//! * it exits with `{undone, ok}` or `{undone, {failed, Why}}`.
//!
//! [`HelperEffect`] is the engine-side [`Effect`]: it sends `release` when the
//! hold time is up and reads the helper's exit reason.

use super::Affected;
use crate::dist::term::{show, Term, TermExt};
use crate::dist::DistClient;
use crate::eval::eval_with_timeout;
use chaos_engine::Effect;
use futures::future::BoxFuture;
use std::time::Duration;

const RELEASE: &str = "R = erlang:monitor(process, Helper), Helper ! release, \
    receive {'DOWN', R, process, _, Why} -> Why after 5000 -> erlang:exit(Helper, kill), timeout end.";

/// Margin between the planned hold and a helper's own deadline.
pub(crate) const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

/// An effect held by a helper process on the target.
pub struct HelperEffect {
    client: DistClient,
    helper: Term,
    hold: Duration,
    what: String,
    /// The effect ends by itself when the helper dies (suspensions, held memory).
    ends_with_helper: bool,
    affected: Option<(Affected, String)>,
    name: Option<(super::ChaosNames, String)>,
}

impl HelperEffect {
    /// An effect held by `helper` for `hold`.
    pub fn new(client: &DistClient, helper: Term, hold: Duration, what: impl Into<String>) -> Self {
        Self {
            client: client.clone(),
            helper,
            hold,
            what: what.into(),
            ends_with_helper: false,
            affected: None,
            name: None,
        }
    }

    /// The effect is lifted by the runtime when the helper dies (so a helper
    /// that is already gone means the effect is gone too).
    pub fn ends_with_helper(mut self) -> Self {
        self.ends_with_helper = true;
        self
    }

    /// Give the registered name back to the detectors when undone.
    pub fn releasing_name(mut self, names: super::ChaosNames, name: &str) -> Self {
        self.name = Some((names, name.to_string()));
        self
    }

    /// Clear the victim's blast-radius entry when undone.
    pub fn clearing(mut self, affected: Affected, pid_text: &str) -> Self {
        self.affected = Some((affected, pid_text.to_string()));
        self
    }
}

impl Effect for HelperEffect {
    fn describe(&self) -> String {
        format!("{} (helper {})", self.what, show(&self.helper))
    }

    fn hold(&self) -> Duration {
        self.hold
    }

    fn undo(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let result = eval_with_timeout(
                &self.client,
                RELEASE,
                &[("Helper", self.helper.clone())],
                Duration::from_secs(10),
            )
            .await;
            if let Some((affected, pid)) = &self.affected {
                affected.lock().unwrap().remove(pid);
            }
            if let Some((names, name)) = &self.name {
                names.lock().unwrap().remove(name);
            }
            let why = result.map_err(|e| format!("could not release: {e}"))?;
            match why.as_tuple() {
                Some([tag, r]) if tag.as_atom() == Some("undone") && r.as_atom() == Some("ok") => {
                    Ok(())
                }
                Some([tag, r]) if tag.as_atom() == Some("undone") => {
                    Err(format!("undo failed: {}", show(r)))
                }
                _ if why.as_atom() == Some("noproc") && self.ends_with_helper => Ok(()),
                _ if why.as_atom() == Some("noproc") => Err(
                    "the helper was already gone, so the effect may not have been undone"
                        .to_string(),
                ),
                _ => Err(format!("helper ended with {}", show(&why))),
            }
        })
    }
}
