//! The run's process index (`snippets/process_index.erl`): a helper on the
//! node holding a snapshot of every process, renewed at most every
//! [`INDEX_REFRESH`], that answers the health sample's and the victim
//! list's random samples (`snippets/index_sample.erl`), so that neither
//! lists every process each time. Started with the compiled snippets, ended
//! with the lease, stopped before the audit.

use super::*;

/// Starts the run's process index (a helper; see the snippet).
pub(crate) const PROCESS_INDEX: &str = include_str!("../snippets/process_index.erl");

/// How old the process index's snapshot may get before a sample renews it
/// (a snapshot of 10^6 processes costs ~65 ms of the node's CPU,
/// `bench/node_costs`: about 0.2 % of a core at this age). Processes born since are missed by samples until
/// then; nodes small enough to list whole are listed afresh every time.
const INDEX_REFRESH: Duration = Duration::from_secs(30);

impl BeamTarget {
    /// Start the process index: samples and victim lists then draw from its
    /// snapshot instead of listing every process each time. A helper (never
    /// a victim); it ends with the lease, and the audit stops it first.
    pub(super) async fn start_process_index(&self) -> Result<(), EvalError> {
        let bindings = [("RefreshMs", int(INDEX_REFRESH.as_millis() as i64))];
        let t = self.exec(PROCESS_INDEX, &bindings).await?;
        if let Some(pid) = t.as_pid() {
            self.note_helper(&t);
            *self.process_index.lock().unwrap() = Some(pid.clone());
        }
        Ok(())
    }

    /// Start the run's process index and supervision keeper, unless they
    /// run already: with them a health sample and a victim list cost
    /// O(sample), compiled or not (`--no-compile` starts them too).
    pub async fn start_watchers(&self) -> Result<(), EvalError> {
        if self.process_index().is_none() {
            self.start_process_index().await?;
        }
        if self.supervision_keeper().is_none() {
            self.start_supervision_keeper().await?;
        }
        Ok(())
    }

    /// The process index's pid, while it runs.
    pub fn process_index(&self) -> Option<Pid> {
        self.process_index.lock().unwrap().clone()
    }

    /// The process index for a snippet's `ProcessIndex` binding (`none`
    /// when there is none: the snippet lists every process itself).
    pub(crate) fn process_index_term(&self) -> Term {
        match &*self.process_index.lock().unwrap() {
            Some(pid) => Term::from(pid.clone()),
            None => atom("none"),
        }
    }

    /// Stop the process index (before the audit: it is a helper, and its
    /// code may be a compiled module the audit unloads).
    pub(crate) async fn stop_process_index(&self) {
        let pid = self.process_index.lock().unwrap().take();
        if let Some(pid) = pid {
            self.stop_run_helper(pid).await;
        }
    }

    /// Ask a run helper that ends on `release` (the process index, the
    /// supervision keeper) to end, and wait for it; kill it after 2 s.
    pub(super) async fn stop_run_helper(&self, pid: Pid) {
        let stop = "R = erlang:monitor(process, Ix), Ix ! release, \
                    receive {'DOWN', R, process, _, _} -> ok after 2000 -> erlang:exit(Ix, kill), ok end.";
        let _ = self.exec(stop, &[("Ix", Term::from(pid))]).await;
    }
}
