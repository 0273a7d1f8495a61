//! Helpers: processes an operation leaves on the target to hold an effect
//! (a suspension, memory, a decoy name, a saved ETS row) and to undo it.
//!
//! The protocol every helper follows:
//! * it undoes its effect and exits when it receives `release`; at once when
//!   the monkey's lease keeper goes (the monkey killed, frozen or cut off —
//!   [`crate::lease`]); or by itself when its deadline passes;
//! * it waits in [`crate::hold_until_released`] (one fragment for all).
//! * it exits with `{undone, ok}` or `{undone, {failed, Why}}`.
//!
//! [`HelperEffect`] is the engine-side [`Effect`]: it sends `release` when the
//! hold time is up and reads the helper's exit reason.

use super::Affected;
use crate::dist::term::{atom, show, Term, TermExt};
use crate::dist::{DistClient, Event, RecvError};
use crate::eval::eval_with_timeout;
use chaos_engine::Effect;
use futures::future::BoxFuture;
use std::time::Duration;

/// Kills a helper that did not finish its undo in time.
pub(crate) const KILL_HELPER: &str = "erlang:exit(Helper, kill).";

/// How long a released helper may take to undo before it is killed, unless
/// its effect says otherwise ([`HelperEffect::patient`]).
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// The exit reason [`HelperEffect::release`] answers for a helper it had to
/// kill (no helper exits with it).
const KILLED_BY_US: &str = "chaos_monkey_killed_helper";

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
    /// The run's helper set, to drop this one from once it is seen gone.
    helpers: Option<super::Helpers>,
    /// Processes the helper's end takes with it (linked to it), dropped from
    /// the run's helper set with it: else the set, sent with every victim
    /// list, grows with every such operation for the rest of the run.
    companions: Vec<eetf::Pid>,
    /// How long a released helper may take to undo before it is killed.
    release_wait: Duration,
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
            helpers: None,
            companions: Vec::new(),
            release_wait: RELEASE_WAIT,
        }
    }

    /// The helper's undo may wait this long for its victim (longer than the
    /// helper's own wait, so that it can say what it saw rather than be
    /// killed first).
    pub fn patient(mut self, release_wait: Duration) -> Self {
        self.release_wait = release_wait;
        self
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

    /// Drop the helper from the run's set once its release saw it gone.
    pub fn forgetting(mut self, helpers: super::Helpers) -> Self {
        self.helpers = Some(helpers);
        self
    }

    /// Processes that end with the helper, forgotten with it.
    pub fn with_companions(mut self, pids: Vec<eetf::Pid>) -> Self {
        self.companions = pids;
        self
    }

    /// Clear the victim's blast-radius entry when undone.
    pub fn clearing(mut self, affected: Affected, pid_text: &str) -> Self {
        self.affected = Some((affected, pid_text.to_string()));
        self
    }
}

impl HelperEffect {
    /// Send `release` from one of our own mailboxes, which monitors the
    /// helper: no code runs on the target for it. Answers the helper's exit
    /// reason (`noproc` when it was gone already); a helper that does not
    /// finish in time is killed.
    async fn release(&self) -> Result<Term, String> {
        let Some(pid) = self.helper.as_pid() else {
            return Err(format!("{} is not a pid", show(&self.helper)));
        };
        let mailbox = self.client.mailbox();
        let monitor = mailbox.monitor(pid);
        mailbox.send(pid, atom("release"));
        let deadline = std::time::Instant::now() + self.release_wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match mailbox.recv_timeout(left).await {
                Ok(Event::Down {
                    reference, reason, ..
                }) if reference == monitor => return Ok(reason),
                Ok(_) => continue,
                Err(RecvError::Timeout(_)) => {
                    let killed = eval_with_timeout(
                        &self.client,
                        KILL_HELPER,
                        &[("Helper", self.helper.clone())],
                        Duration::from_secs(5),
                    )
                    .await;
                    return match killed {
                        Ok(_) => Ok(atom(KILLED_BY_US)),
                        Err(e) => Err(format!("could not release: {e}")),
                    };
                }
                Err(RecvError::Disconnected) => {
                    return Err("could not release: the connection is closed".to_string())
                }
            }
        }
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
            let result = self.release().await;
            if let Some((affected, pid)) = &self.affected {
                affected.lock().unwrap().remove(pid);
            }
            if let Some((names, name)) = &self.name {
                names.lock().unwrap().release(name);
            }
            let why = result?;
            if let (Some(helpers), Some(pid)) = (&self.helpers, self.helper.as_pid()) {
                let mut helpers = helpers.lock().unwrap();
                helpers.remove(pid);
                for c in &self.companions {
                    helpers.remove(c);
                }
            }
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
                _ if why.as_atom() == Some(KILLED_BY_US) => Err(format!(
                    "the helper did not finish its undo within {} s and was killed",
                    self.release_wait.as_secs()
                )),
                _ => Err(format!("helper ended with {}", show(&why))),
            }
        })
    }
}
