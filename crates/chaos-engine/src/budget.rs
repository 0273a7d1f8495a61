//! Restart budgets as the run sees them, target-neutral: what a fault
//! charged to the budgets of whatever restarts the target's parts (a
//! supervisor, a service manager), predictions made before a fault meant to
//! exhaust one, and the report's Supervision section that sums them up with
//! what the target says about its own structure (per group: the fewest
//! faults that stop it, its single points of failure).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// At most this many predictions are kept for the report.
const MAX_PREDICTIONS: usize = 100;

/// One fault's charge to one budget: after it, `used` of `limit` restarts
/// are spent within `period_s`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetCharge {
    /// Whose budget (a supervisor's name).
    pub owner: String,
    /// Restarts allowed in the period.
    pub limit: u64,
    /// The period, seconds.
    pub period_s: u64,
    /// Restarts spent in the current window, this fault's included.
    pub used: u64,
}

/// What a fault meant to exhaust a budget was predicted to do, and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    /// The prediction, made before the fault.
    pub predicted: String,
    /// The group predicted to stop, when one was.
    pub group: Option<String>,
    /// Whether it came true (`None`: not checked; `unchecked` says why).
    pub came_true: Option<bool>,
    /// How long after the fault it came true.
    pub after_ms: Option<u64>,
    /// Why it was not checked (the target went away before the check
    /// ended, nothing to watch), when `came_true` is `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
}

impl Prediction {
    /// What happened, in words.
    pub fn outcome_text(&self) -> String {
        match (self.came_true, self.after_ms) {
            (Some(true), Some(ms)) => format!("came true after {ms} ms"),
            (Some(true), None) => "came true".into(),
            (Some(false), _) => "did NOT come true within 10 s".into(),
            (None, _) => match &self.unchecked {
                Some(why) => format!("NOT checked: {why}"),
                None => "NOT checked".into(),
            },
        }
    }

    /// Not checked, for this reason.
    pub fn not_checked(mut self, why: impl Into<String>) -> Self {
        self.came_true = None;
        self.after_ms = None;
        self.unchecked = Some(why.into());
        self
    }
}

/// What one outcome says about budgets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetNote {
    /// Budgets the fault charged.
    pub charges: Vec<BudgetCharge>,
    /// The prediction, for a fault let past a budget.
    pub prediction: Option<Prediction>,
    /// Victims turned away before this outcome: a fault on them would have
    /// spent more than the policy allows (or hit a single point of failure).
    pub guarded: u64,
}

/// The most of one budget the run saw spent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetUse {
    /// Whose budget.
    pub owner: String,
    /// Restarts allowed in the period.
    pub limit: u64,
    /// The period, seconds.
    pub period_s: u64,
    /// The most restarts spent in one window after a fault of the run.
    pub peak_used: u64,
    /// Faults of the run charged to it.
    pub charged: u64,
}

impl BudgetUse {
    /// `peak_used / limit` (1 when the limit is 0 and anything was spent).
    pub fn peak_share(&self) -> f64 {
        if self.limit == 0 {
            if self.peak_used > 0 {
                1.0
            } else {
                0.0
            }
        } else {
            self.peak_used as f64 / self.limit as f64
        }
    }
}

/// A prediction with when and by which operation it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionAt {
    /// From the start of the run.
    pub t_ms: u64,
    /// The operation.
    pub operation: String,
    /// The prediction and its outcome.
    #[serde(flatten)]
    pub prediction: Prediction,
}

/// Budgets and predictions over a run (part of the tally).
#[derive(Debug, Clone, Default)]
pub struct BudgetTally {
    /// Per owner.
    pub uses: BTreeMap<String, BudgetUse>,
    /// The first predictions.
    pub predictions: Vec<PredictionAt>,
    /// Victims turned away by a budget.
    pub guarded: u64,
}

impl BudgetTally {
    /// Nothing was charged, predicted or turned away.
    pub fn is_empty(&self) -> bool {
        self.uses.is_empty() && self.predictions.is_empty() && self.guarded == 0
    }

    /// Count one outcome's note.
    pub fn add(&mut self, t_ms: u64, operation: &str, note: &BudgetNote) {
        self.guarded += note.guarded;
        for c in &note.charges {
            let u = self
                .uses
                .entry(c.owner.clone())
                .or_insert_with(|| BudgetUse {
                    owner: c.owner.clone(),
                    limit: c.limit,
                    period_s: c.period_s,
                    peak_used: 0,
                    charged: 0,
                });
            u.peak_used = u.peak_used.max(c.used);
            u.limit = c.limit;
            u.charged += 1;
        }
        if let Some(p) = &note.prediction {
            if self.predictions.len() < MAX_PREDICTIONS {
                self.predictions.push(PredictionAt {
                    t_ms,
                    operation: operation.to_string(),
                    prediction: p.clone(),
                });
            }
        }
    }
}

/// A group's structure, as the target reads it before the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupStructure {
    /// The group (an application).
    pub group: String,
    /// The fewest faults that stop it, within `window_s`.
    pub faults_to_stop: Option<u64>,
    /// The window those faults must fall in.
    pub window_s: Option<u64>,
    /// Whose budget decides it.
    pub limited_by: Option<String>,
    /// Its stop takes the whole target down.
    pub stops_target: bool,
    /// Parts whose single loss stops the group or is never undone: (who, why).
    pub single_points: Vec<(String, String)>,
    /// Budgets that could not be read (treated as spent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

/// The report's Supervision section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SupervisionSection {
    /// How much of a budget faults could spend (`spare`, `edge`, `collapse`).
    pub policy: String,
    /// Per group, as read before the run.
    pub groups: Vec<GroupStructure>,
    /// Budgets the run charged, most used first.
    pub budgets: Vec<BudgetUse>,
    /// Victims the budgets turned away (another was picked, or the operation skipped).
    pub guarded: u64,
    /// Predictions made before faults let past a budget, and their outcomes.
    pub predictions: Vec<PredictionAt>,
    /// Restarts the target reported that no fault of the run caused, per owner.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub restarts_not_ours: BTreeMap<String, u64>,
}

impl SupervisionSection {
    /// From the run's tally (the target adds the policy and the groups).
    pub fn from_tally(t: &BudgetTally) -> Self {
        let mut budgets: Vec<BudgetUse> = t.uses.values().cloned().collect();
        budgets.sort_by(|a, b| {
            b.peak_share()
                .total_cmp(&a.peak_share())
                .then(a.owner.cmp(&b.owner))
        });
        Self {
            budgets,
            guarded: t.guarded,
            predictions: {
                let mut p = t.predictions.clone();
                p.sort_by_key(|p| p.t_ms);
                p
            },
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(owner: &str, used: u64) -> BudgetNote {
        BudgetNote {
            charges: vec![BudgetCharge {
                owner: owner.into(),
                limit: 3,
                period_s: 10,
                used,
            }],
            prediction: None,
            guarded: 0,
        }
    }

    #[test]
    fn peaks_and_counts_per_owner_most_used_first() {
        let mut t = BudgetTally::default();
        t.add(1, "kill", &charge("a", 1));
        t.add(2, "kill", &charge("a", 2));
        t.add(3, "kill", &charge("a", 1));
        t.add(4, "kill", &charge("b", 3));
        t.add(
            5,
            "kill",
            &BudgetNote {
                guarded: 1,
                ..BudgetNote::default()
            },
        );
        let s = SupervisionSection::from_tally(&t);
        assert_eq!(s.budgets[0].owner, "b");
        assert_eq!(s.budgets[0].peak_share(), 1.0);
        assert_eq!(s.budgets[1].peak_used, 2);
        assert_eq!(s.budgets[1].charged, 3);
        assert_eq!(s.guarded, 1);
    }

    #[test]
    fn predictions_are_kept_with_their_time_and_operation() {
        let mut t = BudgetTally::default();
        let note = BudgetNote {
            charges: vec![],
            prediction: Some(Prediction {
                predicted: "x stops".into(),
                group: Some("g".into()),
                came_true: Some(true),
                after_ms: Some(12),
                unchecked: None,
            }),
            guarded: 0,
        };
        t.add(1500, "kill", &note);
        assert_eq!(t.predictions.len(), 1);
        assert_eq!(t.predictions[0].t_ms, 1500);
        let json = serde_json::to_value(&t.predictions[0]).unwrap();
        assert_eq!(json["came_true"], true);
        assert_eq!(json["operation"], "kill");
        assert!(json.get("unchecked").is_none(), "{json}");
    }

    #[test]
    fn an_unchecked_prediction_says_so_and_why() {
        let p = Prediction {
            predicted: "x stops".into(),
            group: Some("g".into()),
            came_true: Some(false),
            after_ms: None,
            unchecked: None,
        }
        .not_checked("the target went away before the check ended");
        assert_eq!(p.came_true, None);
        assert_eq!(
            p.outcome_text(),
            "NOT checked: the target went away before the check ended"
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["came_true"], serde_json::Value::Null);
        assert_eq!(
            json["unchecked"],
            "the target went away before the check ended"
        );
        // Reports written before the field existed still read.
        let old: Prediction = serde_json::from_value(serde_json::json!({
            "predicted": "x", "group": null, "came_true": null, "after_ms": null
        }))
        .unwrap();
        assert_eq!(old.unchecked, None);
    }
}
