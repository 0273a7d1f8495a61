//! The caps on what chaos may do at once: kills per second, and the share
//! of an application's processes under an effect (the blast radius).

use super::*;

/// The caps on what chaos may do at once: kills per second, and the share
/// of an application's processes under an effect (the blast radius).
#[derive(Default)]
pub(super) struct Budget {
    /// When the recent kills happened.
    pub(super) kills: Mutex<VecDeque<Instant>>,
    /// Effects in place, by victim pid text → application.
    pub(super) affected: Affected,
}

impl BeamTarget {
    /// Record that an effect is in place on `victim` (for the blast-radius cap);
    /// the returned handle clears it when the effect is undone.
    pub fn affect(&self, victim: &Candidate) -> Affected {
        {
            let mut touched = self.ledger.touched.lock().unwrap();
            if touched.len() < MAX_TOUCHED {
                touched.insert(victim.pid.clone());
            }
        }
        self.budget
            .affected
            .lock()
            .unwrap()
            .insert(victim.pid_text.clone(), victim.app.clone());
        self.budget.affected.clone()
    }

    /// The monkey set `pid`'s priority from `had` to `set` (the first
    /// priority seen is the one it had before the monkey came).
    pub(crate) fn priority_changed(&self, pid: &Pid, had: &str, set: &str) {
        let mut changed = self.ledger.priorities.lock().unwrap();
        if changed.len() < MAX_TOUCHED {
            let entry = changed
                .entry(pid.clone())
                .or_insert_with(|| (had.to_string(), set.to_string()));
            entry.1 = set.to_string();
        }
    }

    /// Remember `victim` for the audit's `sys:get_status` (a sys suspension
    /// or a debug hook stays in the process if its undo fails); other
    /// victims are not asked, which on a 10^6-process node after a long
    /// run is tens of thousands of requests fewer.
    pub(crate) fn touch_sys_state(&self, victim: &Candidate) {
        let mut touched = self.ledger.sys_touched.lock().unwrap();
        if touched.len() < MAX_TOUCHED {
            touched.insert(victim.pid.clone());
        }
    }

    /// `helper` owns `tables` ETS tables of the monkey's own.
    pub(crate) fn helper_holds_tables(&self, helper: &Term, tables: u64) {
        if let Some(pid) = helper.as_pid() {
            let mut held = self.ledger.helper_tables.lock().unwrap();
            if held.len() < MAX_TOUCHED {
                held.insert(pid.clone(), tables);
            }
        }
    }

    /// What the monkey itself holds on the node now: its live helpers
    /// (processes) and the ETS tables they own. A run at hundreds of
    /// operations a second holds hundreds of each; the leak checks do not
    /// count them as the system's growth.
    pub(crate) fn own_holdings(&self) -> (u64, u64) {
        let helpers = self.ledger.helpers.lock().unwrap();
        let mut held = self.ledger.helper_tables.lock().unwrap();
        held.retain(|pid, _| helpers.contains(pid));
        (helpers.len() as u64, held.values().sum())
    }

    /// `true` while an effect is in place on this victim.
    pub(crate) fn is_affected(&self, pid_text: &str) -> bool {
        self.budget.affected.lock().unwrap().contains_key(pid_text)
    }

    pub(super) async fn app_share_ok(&self, victim: &Candidate) -> bool {
        let Some(app) = &victim.app else { return true };
        let total = self
            .victims
            .cache
            .lock()
            .await
            .per_app
            .get(&victim.app)
            .copied()
            .unwrap_or(0);
        let cap = ((total as f64 * self.safety.max_app_share).floor() as usize).max(1);
        let now = self
            .budget
            .affected
            .lock()
            .unwrap()
            .values()
            .filter(|a| a.as_ref() == Some(app))
            .count();
        now < cap
    }

    /// `true` when one more kill fits under the kills-per-second cap (and counts it).
    pub fn take_kill(&self) -> bool {
        let mut kills = self.budget.kills.lock().unwrap();
        let now = Instant::now();
        while kills
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            kills.pop_front();
        }
        if kills.len() as u32 >= self.safety.max_kills_per_sec {
            return false;
        }
        kills.push_back(now);
        true
    }
}
