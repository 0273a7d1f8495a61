//! The run's supervision keeper (`snippets/supervision_keeper.erl`): a
//! helper on the node that keeps the health sample's view of every
//! supervisor current incrementally — each supervisor read again only when
//! it or one of its static children exited, when it did not answer, or
//! when its read got old — so that a health sample calls no supervisor that
//! did not change, and a dynamic supervisor of 10^6 children costs O(1).
//! Started with the process index, ended with the lease, stopped before
//! the audit.

use super::*;

/// Starts the run's supervision keeper (a helper; see the snippet).
pub(crate) const SUPERVISION_KEEPER: &str = concat!(
    include_str!("../snippets/sup_read.erl"),
    include_str!("../snippets/supervision_keeper.erl")
);

/// How old a supervisor's read may get before the keeper takes it again
/// even though nothing exited (children added with `start_child` show up
/// then).
const RECHECK: Duration = Duration::from_secs(30);

/// How old a dynamic supervisor's child count may get (its children are
/// not watched one by one; the count only informs, no detector compares it).
const COUNT_AGE: Duration = Duration::from_secs(5);

/// How long one supervisor may take to answer the keeper.
const CALL: Duration = Duration::from_secs(1);

impl BeamTarget {
    /// Start the supervision keeper: health samples then ask it for the
    /// supervisors' view instead of reading every supervisor each time.
    pub async fn start_supervision_keeper(&self) -> Result<(), EvalError> {
        let bindings = [
            ("RecheckMs", int(RECHECK.as_millis() as i64)),
            ("CountMs", int(COUNT_AGE.as_millis() as i64)),
            ("CallMs", int(CALL.as_millis() as i64)),
        ];
        let t = self.exec(SUPERVISION_KEEPER, &bindings).await?;
        if let Some(pid) = t.as_pid() {
            self.note_helper(&t);
            *self.supervision_keeper.lock().unwrap() = Some(pid.clone());
        }
        Ok(())
    }

    /// The supervision keeper's pid, while it runs.
    pub fn supervision_keeper(&self) -> Option<Pid> {
        self.supervision_keeper.lock().unwrap().clone()
    }

    /// The keeper for the steady state's `SupervisionKeeper` binding
    /// (`none`: the snippet reads every supervisor itself).
    pub(crate) fn supervision_keeper_term(&self) -> Term {
        match self.supervision_keeper() {
            Some(pid) => Term::from(pid),
            None => atom("none"),
        }
    }

    /// Stop the supervision keeper (before the audit: it is a helper, and
    /// its code may be a compiled module the audit unloads).
    pub(crate) async fn stop_supervision_keeper(&self) {
        let pid = self.supervision_keeper.lock().unwrap().take();
        if let Some(pid) = pid {
            self.stop_run_helper(pid).await;
        }
    }
}
