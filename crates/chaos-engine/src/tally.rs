//! Running totals of a run's operations, updated as each one finishes, so an
//! hour at thousands of operations a second keeps the monkey's memory flat.
//! Every event still goes whole to the observer (live log, events file); the
//! report is built from these totals.
//!
//! Exact: counts per category, per operation and per outcome, kills.
//! Bounded: distinct error and skip reasons (at most [`MAX_REASONS`] each,
//! the rest counted under one line), kept unrecovered kills (the first
//! [`MAX_KEPT`]), and the restart and detection times behind the
//! percentiles (exact up to [`Reservoir::CAPACITY`] values, then a uniform
//! reservoir sample; count and maximum stay exact).

use crate::category::Category;
use crate::operation::Status;
use crate::record::Event;
use serde_json::Value;
use std::collections::BTreeMap;

/// Distinct (operation, reason) pairs kept per outcome kind.
pub const MAX_REASONS: usize = 200;

/// Unrecovered kills kept whole for the report's evidence.
pub const MAX_KEPT: usize = 100;

/// The reason text that stands for every reason past [`MAX_REASONS`].
pub const OTHER_REASONS: &str = "(other reasons, not listed one by one)";

/// Recovery figures keyed by the victim's group (the target names the kind of group).
pub const GROUP: &str = "group";

/// Recovery figures keyed by operation.
pub const OPERATION: &str = "operation";

/// Outcome counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Operations.
    pub ops: u64,
    /// Confirmed.
    pub confirmed: u64,
    /// Unconfirmed.
    pub unconfirmed: u64,
    /// Skipped.
    pub skipped: u64,
    /// Failed.
    pub failed: u64,
}

impl Counts {
    fn add(&mut self, s: Status) {
        self.ops += 1;
        match s {
            Status::Confirmed => self.confirmed += 1,
            Status::Unconfirmed => self.unconfirmed += 1,
            Status::Skipped => self.skipped += 1,
            Status::Failed => self.failed += 1,
        }
    }
}

/// Values for percentiles in bounded memory: every value up to
/// [`Reservoir::CAPACITY`], then a uniform sample of that size (Algorithm R,
/// with a fixed-seed generator so a report is reproducible).
#[derive(Debug, Clone, Default)]
pub struct Reservoir {
    values: Vec<u64>,
    count: u64,
    max: u64,
    state: u64,
}

impl Reservoir {
    /// Values kept exactly before sampling starts.
    pub const CAPACITY: usize = 1 << 16;

    /// Add one value.
    pub fn add(&mut self, v: u64) {
        self.count += 1;
        self.max = self.max.max(v);
        if self.values.len() < Self::CAPACITY {
            self.values.push(v);
            return;
        }
        // splitmix64: cheap, deterministic; only the reservoir's fairness depends on it.
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let j = z % self.count;
        if (j as usize) < Self::CAPACITY {
            self.values[j as usize] = v;
        }
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value added (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The kept values, sorted.
    pub fn sorted(&self) -> Vec<u64> {
        let mut v = self.values.clone();
        v.sort_unstable();
        v
    }
}

/// Restart and detection times of the kills of one group.
#[derive(Debug, Clone, Default)]
pub struct RecoveryGroup {
    /// Kills whose recovery was watched.
    pub kills: u64,
    /// Restart times (ms) of those that came back in time.
    pub restart_ms: Reservoir,
    /// Kill-to-noticed times (µs).
    pub detect_us: Reservoir,
}

/// The running totals.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Every operation.
    pub total: Counts,
    /// Per category.
    pub by_category: BTreeMap<Category, Counts>,
    /// Per operation, with its category.
    pub by_op: BTreeMap<&'static str, (Category, Counts)>,
    /// Failed operations by (operation, reason).
    pub errors: BTreeMap<(&'static str, String), u64>,
    /// Skipped operations by (operation, reason).
    pub skips: BTreeMap<(&'static str, String), u64>,
    /// Victims killed.
    pub kills: u64,
    /// Killed victims that were not back in time (the first [`MAX_KEPT`]).
    pub unrecovered: Vec<Event>,
    /// Unrecovered kills beyond those kept.
    pub unrecovered_more: u64,
    /// Recovery per ([`GROUP`] | [`OPERATION`], key).
    pub recovery: BTreeMap<(&'static str, String), RecoveryGroup>,
    /// Every restart time (ms), over all kills.
    pub restarts: Reservoir,
    /// Per node, in cluster runs (operations whose victim names its node).
    pub by_node: BTreeMap<String, NodeCounts>,
    /// Restart budgets charged, predictions, faults turned away.
    pub budgets: crate::budget::BudgetTally,
    /// The last [`RECENT_KEPT`] operations to finish: when the target is
    /// lost, those in flight then finish last, so they are the evidence of
    /// what it was doing.
    pub recent: std::collections::VecDeque<RecentOp>,
}

/// How many of the last finished operations [`Tally::recent`] keeps.
pub const RECENT_KEPT: usize = 12;

/// What [`Tally::recent`] keeps of an operation: when it started, what it
/// was, on whom, how it ended (the detail cut at 200 characters).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentOp {
    pub t_ms: u64,
    pub op: &'static str,
    pub victim: Option<String>,
    pub outcome: Status,
    pub detail: String,
}

/// One node's share of a cluster run.
#[derive(Debug, Clone, Default)]
pub struct NodeCounts {
    /// Outcomes.
    pub counts: Counts,
    /// Victims killed there.
    pub kills: u64,
    /// Operations by name.
    pub by_op: BTreeMap<&'static str, u64>,
}

impl Tally {
    /// Count one finished operation.
    pub fn add(&mut self, e: &Event) {
        self.total.add(e.outcome);
        if self.recent.len() == RECENT_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(RecentOp {
            t_ms: e.t_ms,
            op: e.op,
            victim: e.victim.as_ref().map(|v| v.name().to_string()),
            outcome: e.outcome,
            detail: e.detail.chars().take(200).collect(),
        });
        self.by_category
            .entry(e.category)
            .or_default()
            .add(e.outcome);
        self.by_op
            .entry(e.op)
            .or_insert_with(|| (e.category, Counts::default()))
            .1
            .add(e.outcome);
        match e.outcome {
            Status::Failed => count_reason(&mut self.errors, e),
            Status::Skipped => count_reason(&mut self.skips, e),
            _ => {}
        }
        if e.killed {
            self.kills += 1;
            self.add_kill(e);
        }
        if let Some(note) = &e.budget {
            self.budgets.add(e.t_ms, e.op, note);
        }
        if let Some(node) = e.victim.as_ref().and_then(|v| v.node.as_ref()) {
            let n = self.by_node.entry(node.clone()).or_default();
            n.counts.add(e.outcome);
            n.kills += u64::from(e.killed);
            *n.by_op.entry(e.op).or_default() += 1;
        }
    }

    fn add_kill(&mut self, e: &Event) {
        let recovery = e.recovery.unwrap_or_default();
        if let Some(r) = recovery.restart_ms {
            self.restarts.add(r);
        }
        if recovery.lost() {
            if self.unrecovered.len() < MAX_KEPT {
                let mut kept = e.clone();
                kept.params = Value::Null;
                self.unrecovered.push(kept);
            } else {
                self.unrecovered_more += 1;
            }
        }
        if !recovery.watched() {
            return; // nobody watched this one come back
        }
        let group = e
            .victim
            .as_ref()
            .and_then(|v| v.group.clone())
            .unwrap_or_else(|| "(none)".into());
        for key in [(GROUP, group), (OPERATION, e.op.to_string())] {
            let g = self.recovery.entry(key).or_default();
            g.kills += 1;
            if let Some(r) = recovery.restart_ms {
                g.restart_ms.add(r);
            }
            if let Some(d) = recovery.detect_us {
                g.detect_us.add(d);
            }
        }
    }
}

fn count_reason(map: &mut BTreeMap<(&'static str, String), u64>, e: &Event) {
    let key = (e.op, e.detail.clone());
    if let Some(n) = map.get_mut(&key) {
        *n += 1;
    } else if map.len() < MAX_REASONS {
        map.insert(key, 1);
    } else {
        *map.entry((e.op, OTHER_REASONS.to_string())).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(op: &'static str, outcome: Status, detail: &str, m: Value, killed: bool) -> Event {
        Event {
            seq: 0,
            t_ms: 0,
            scheduled_ms: 0,
            late_us: 0,
            category: Category::Process,
            op,
            params: json!({"big": "x"}),
            victim: None,
            outcome,
            detail: detail.into(),
            duration_us: 0,
            recovery: killed.then(|| crate::operation::Recovery {
                restart_ms: m.get("restart_ms").and_then(Value::as_u64),
                detect_us: m.get("detect_us").and_then(Value::as_u64),
                recovered: m.get("recovered").and_then(Value::as_bool),
            }),
            measurements: m,
            killed,
            budget: None,
        }
    }

    #[test]
    fn counts_are_exact_and_reasons_bounded() {
        let mut t = Tally::default();
        for i in 0..(MAX_REASONS + 50) {
            t.add(&event(
                "a",
                Status::Failed,
                &format!("why {i}"),
                Value::Null,
                false,
            ));
        }
        t.add(&event("a", Status::Confirmed, "", Value::Null, false));
        assert_eq!(t.total.ops, MAX_REASONS as u64 + 51);
        assert_eq!(t.total.failed, MAX_REASONS as u64 + 50);
        assert_eq!(t.by_op["a"].1.confirmed, 1);
        assert_eq!(t.errors.len(), MAX_REASONS + 1);
        assert_eq!(t.errors[&("a", OTHER_REASONS.to_string())], 50);
        assert_eq!(t.errors.values().sum::<u64>(), MAX_REASONS as u64 + 50);
    }

    #[test]
    fn kills_feed_recovery_groups_and_keep_a_bounded_list_of_the_lost() {
        let mut t = Tally::default();
        for r in 0..10u64 {
            let m = json!({"restart_ms": r, "detect_us": 100 + r, "recovered": true});
            t.add(&event("kill_worker", Status::Confirmed, "", m, true));
        }
        for _ in 0..(MAX_KEPT + 7) {
            let m = json!({"restart_ms": null, "recovered": false});
            t.add(&event("kill_worker", Status::Confirmed, "", m, true));
        }
        // Not watched: neither a restart time nor a verdict.
        t.add(&event(
            "kill_worker",
            Status::Confirmed,
            "",
            json!({}),
            true,
        ));
        assert_eq!(t.kills, 10 + MAX_KEPT as u64 + 7 + 1);
        assert_eq!(t.unrecovered.len(), MAX_KEPT);
        assert_eq!(t.unrecovered_more, 7);
        assert!(t.unrecovered[0].params.is_null(), "kept events are compact");
        let g = &t.recovery[&("operation", "kill_worker".to_string())];
        assert_eq!(g.kills, 10 + MAX_KEPT as u64 + 7);
        assert_eq!(g.restart_ms.sorted(), (0..10).collect::<Vec<_>>());
        assert_eq!(g.detect_us.max(), 109);
    }

    #[test]
    fn the_reservoir_stays_bounded_with_exact_count_and_max() {
        let mut r = Reservoir::default();
        let n = Reservoir::CAPACITY as u64 * 3;
        for v in 0..n {
            r.add(v);
        }
        assert_eq!(r.count(), n);
        assert_eq!(r.max(), n - 1);
        let s = r.sorted();
        assert_eq!(s.len(), Reservoir::CAPACITY);
        // A uniform sample of 0..n: its median is near n/2.
        let median = s[s.len() / 2] as f64;
        assert!(
            (median - n as f64 / 2.0).abs() < n as f64 * 0.02,
            "{median}"
        );
    }
}
