//! The supervision snapshot the scenarios compare before and after a fault.

use super::*;

/// The parts of the steady state the scenarios compare before and after a
/// fault: which applications run and each supervisor of their trees.
#[derive(Debug, Clone, Default)]
pub struct Supervision {
    /// Running applications.
    pub applications: Vec<String>,
    /// Every supervisor of the node's own applications.
    pub supervisors: Vec<SupervisorView>,
    /// The node's total memory.
    pub memory_bytes: u64,
}

/// One supervisor in a [`Supervision`].
#[derive(Debug, Clone)]
pub struct SupervisorView {
    /// `app/child_id/...`: its place in the tree, stable across restarts.
    pub key: String,
    /// Its pid now.
    pub pid: String,
    /// Children running.
    pub active: u64,
    /// A simple_one_for_one supervisor (its child count varies by design).
    pub dynamic: bool,
    /// It answered `which_children` in time.
    pub answered: bool,
}

/// Take the [`Supervision`] now (the steady-state snippet, without the
/// name and table checks).
pub(crate) async fn supervision(target: &BeamTarget) -> Result<Supervision, EvalError> {
    let settings = target.detection.lock().unwrap().settings.clone();
    let s = steady(target, &settings, &[], &[], &[]).await?;
    Ok(Supervision {
        applications: s.applications,
        supervisors: s
            .supervisors
            .into_iter()
            .map(|x| SupervisorView {
                key: x.key,
                pid: x.pid,
                active: x.active,
                dynamic: x.dynamic,
                answered: x.answered,
            })
            .collect(),
        memory_bytes: s.memory_bytes,
    })
}

impl BeamTarget {
    /// Every supervisor of the node's own applications as the health sample
    /// sees them now (from the supervision keeper while it runs).
    pub async fn supervisors_now(&self) -> Result<Supervision, EvalError> {
        supervision(self).await
    }
}
