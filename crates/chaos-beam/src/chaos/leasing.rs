//! The monkey's lease on the node ([`crate::lease`]): started with the first
//! snippet that holds an effect, renewed while the monkey lives, ended after
//! the run's clean-up; every effect holder undoes when it ends.

use super::*;

/// The monkey's lease on the node: every effect holder undoes when it
/// ends. Started with the first snippet that holds an effect (a dry run
/// starts nothing).
pub(super) struct Leasing {
    pub(super) lease: smol::lock::OnceCell<crate::lease::Lease>,
    /// The lease term (`--lease`).
    term: Mutex<Duration>,
}

impl Leasing {
    /// Not started yet, with the default term.
    pub(super) fn new() -> Self {
        Self {
            lease: smol::lock::OnceCell::new(),
            term: Mutex::new(crate::lease::DEFAULT_TERM),
        }
    }
}

impl BeamTarget {
    /// The lease term (`--lease`): how long effects outlive a silent monkey.
    pub fn set_lease_term(&self, term: Duration) {
        *self.leasing.term.lock().unwrap() = term;
        if let Some(lease) = self.leasing.lease.get() {
            lease.set_term(term);
        }
    }

    /// The lease term in force.
    pub fn lease_term(&self) -> Duration {
        *self.leasing.term.lock().unwrap()
    }

    /// The lease's counters (renewals, early ends while connected).
    pub fn lease_stats(&self) -> crate::lease::LeaseStats {
        self.leasing
            .lease
            .get()
            .map(|l| l.stats())
            .unwrap_or_default()
    }

    /// End of the run, after clean-up and the audit: the lease keeper exits
    /// (any holder still waiting undoes its effect at once).
    pub fn end_lease(&self) {
        if let Some(lease) = self.leasing.lease.get() {
            lease.end();
        }
    }

    /// The lease keeper's pid, starting the lease when it is not yet.
    pub async fn lease_keeper(&self) -> Result<Pid, EvalError> {
        let lease = self
            .leasing
            .lease
            .get_or_try_init(|| async {
                let term = *self.leasing.term.lock().unwrap();
                crate::lease::Lease::start(&self.client, term).await
            })
            .await?;
        Ok(lease.keeper())
    }
}
