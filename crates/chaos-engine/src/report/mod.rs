//! The report model (the checker's output): what ran, what it did, what
//! broke, what is left. Built from a [`RunRecord`]; printed as JSON by
//! serde and as text by the binary.

mod derive;
mod left_behind;

use derive::{failure_modes, kill_failures, recommendations, recovery_rows, trends};
pub use left_behind::LeftBehind;

use crate::category::{Category, Profile};
pub use crate::record::FailureMode;
use crate::record::Sample;
use crate::runner::RunRecord;
use crate::schedule::SkippedCategory;
use crate::vocabulary::{AuditFinding, Vocabulary};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A run's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Tool and version.
    pub tool: String,
    /// Target node.
    pub target: String,
    /// The seed; replay with `--seed`.
    pub seed: u64,
    /// Profile.
    pub profile: Profile,
    /// Requested duration.
    pub planned_duration_s: f64,
    /// Actual duration.
    pub duration_s: f64,
    /// Requested rate.
    pub rate_requested: f64,
    /// Operations executed (all outcomes).
    pub total_ops: u64,
    /// `total_ops / duration_s`.
    pub ops_per_sec: f64,
    /// Outcomes.
    pub confirmed: u64,
    /// Outcomes.
    pub unconfirmed: u64,
    /// Outcomes.
    pub skipped: u64,
    /// Failed operations (each reason is listed in `error_reasons`).
    pub errors: u64,
    /// Victims killed.
    pub kills: u64,
    /// Share of healthy samples; the target defines healthy (`survival_definition`).
    pub survival_rate: f64,
    /// The definition, spelled out.
    pub survival_definition: String,
    /// The target was whole at the end.
    pub survived: bool,
    /// Stopped early by the user.
    pub interrupted: bool,
    /// The target went away: why.
    pub target_lost: Option<String>,
    /// The circuit breaker stopped the chaos early: why.
    pub breaker_tripped: Option<String>,
    /// Why the run says little: the chaos it planned mostly did not happen
    /// (empty: it did). A run that found nothing and is inconclusive is not
    /// a "survived".
    #[serde(default)]
    pub inconclusive: Vec<String>,
    /// What the chaos could reach: eligible victims and, per rule, those left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<Reach>,
    /// Restart budgets: the target's structure, what the run spent, what a
    /// budget turned away, predictions (see [`crate::budget`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervision: Option<crate::budget::SupervisionSection>,
    /// One line: survived or not, how many failure modes.
    pub verdict: String,
    /// Per category, keyed `process`, `memory`, `network`, `state`, `timing`.
    pub by_category: BTreeMap<String, CategoryStats>,
    /// Per operation.
    pub by_op: BTreeMap<String, OpStats>,
    /// Why operations failed.
    pub error_reasons: Vec<ReasonCount>,
    /// Why operations were skipped.
    pub skip_reasons: Vec<ReasonCount>,
    /// What broke.
    pub failure_modes: Vec<FailureMode>,
    /// Time to detect and to recover from kills, per victim group and per operation.
    pub recovery: Vec<RecoveryRow>,
    /// Start / peak / end of each resource count.
    pub resources: BTreeMap<String, Trend>,
    /// What the monkey could not put back.
    pub left_behind: LeftBehind,
    /// Drawn from what was measured.
    pub recommendations: Vec<String>,
    /// The run over time: operations, resources and markers, for charts.
    #[serde(default)]
    pub timeline: crate::timeline::Timeline,
    /// Target-specific sections (for example what a client workload saw).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extras: BTreeMap<String, Value>,
}

/// What the chaos could reach on the target, as the target counted it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reach {
    /// Victims the safety rules allow.
    pub eligible: u64,
    /// Eligible victims per group.
    pub eligible_by_group: BTreeMap<String, u64>,
    /// Left out, per safety rule (rule → how many).
    pub excluded: BTreeMap<String, u64>,
}

impl Reach {
    /// "312 excluded: 210 by rule a, 80 by rule b".
    pub fn describe_excluded(&self) -> String {
        let total: u64 = self.excluded.values().sum();
        let mut rules: Vec<(&String, &u64)> = self.excluded.iter().collect();
        rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = rules.iter().map(|(r, n)| format!("{n} {r}")).collect();
        format!("{total} excluded: {}", parts.join(", "))
    }
}

/// Per-category figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CategoryStats {
    /// Executed operations.
    pub ops: u64,
    /// Share of all executed operations.
    pub share: f64,
    /// Configured weight.
    pub weight: u32,
    /// Effective share after leaving out categories that cannot run.
    pub expected_share: f64,
    /// Outcomes.
    pub confirmed: u64,
    /// Outcomes.
    pub unconfirmed: u64,
    /// Outcomes.
    pub skipped: u64,
    /// Outcomes.
    pub failed: u64,
    /// Why the category got no operations at all.
    pub not_run_reason: Option<String>,
}

/// Per-operation figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OpStats {
    /// Its category.
    pub category: String,
    /// Executed.
    pub ops: u64,
    /// Outcomes.
    pub confirmed: u64,
    /// Outcomes.
    pub unconfirmed: u64,
    /// Outcomes.
    pub skipped: u64,
    /// Outcomes.
    pub failed: u64,
}

/// A reason and how often it was given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReasonCount {
    /// Operation.
    pub op: String,
    /// Reason.
    pub reason: String,
    /// Occurrences.
    pub count: u64,
}

/// Time-to-recover figures of one group of kills.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryRow {
    /// What the kills are grouped by: the target's victim group, or `operation`.
    pub by: String,
    /// Which one.
    pub key: String,
    /// Kills whose recovery was watched.
    pub kills: u64,
    /// Of those, back within the recovery window.
    pub recovered: u64,
    /// Time to recover, milliseconds.
    pub p50_ms: u64,
    /// Time to recover, milliseconds.
    pub p95_ms: u64,
    /// Time to recover, milliseconds.
    pub max_ms: u64,
    /// Time from the kill to the target noticing it, microseconds (median).
    pub detect_p50_us: u64,
}

/// Start / peak / end of a resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trend {
    /// First sample.
    pub start: u64,
    /// Highest sample.
    pub peak: u64,
    /// Last sample.
    pub end: u64,
}

/// What the report needs besides the record.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// Tool and version.
    pub tool: String,
    /// Target.
    pub target: String,
    /// Seed.
    pub seed: u64,
    /// Profile.
    pub profile: Profile,
    /// Planned duration in seconds.
    pub planned_duration_s: f64,
    /// Requested rate.
    pub rate: f64,
    /// Configured weights.
    pub weights: &'a BTreeMap<Category, u32>,
    /// Effective shares of the scheduled categories.
    pub shares: &'a BTreeMap<Category, f64>,
    /// Categories that could not run.
    pub skipped_categories: &'a [SkippedCategory],
    /// The target's after-run audit.
    pub audit: Vec<AuditFinding>,
    /// The target's words.
    pub vocabulary: &'a Vocabulary,
    /// How long a problem may last before it is a failure mode.
    pub recovery_window: std::time::Duration,
    /// What the chaos could reach, when the target counted it.
    pub reach: Option<Reach>,
}

impl Report {
    /// Build the report of a run.
    pub fn build(input: ReportInput<'_>, record: &RunRecord) -> Report {
        let mut by_category: BTreeMap<String, CategoryStats> = Category::ALL
            .iter()
            .map(|c| {
                let stats = CategoryStats {
                    weight: input.weights.get(c).copied().unwrap_or(0),
                    expected_share: input.shares.get(c).copied().unwrap_or(0.0),
                    not_run_reason: input
                        .skipped_categories
                        .iter()
                        .find(|s| s.category == *c)
                        .map(|s| s.reason.clone()),
                    ..CategoryStats::default()
                };
                (c.name().to_string(), stats)
            })
            .collect();
        let tally = &record.tally;
        for (c, n) in &tally.by_category {
            let cat = by_category
                .get_mut(c.name())
                .expect("all categories present");
            cat.ops = n.ops;
            cat.confirmed = n.confirmed;
            cat.unconfirmed = n.unconfirmed;
            cat.skipped = n.skipped;
            cat.failed = n.failed;
        }
        let by_op: BTreeMap<String, OpStats> = tally
            .by_op
            .iter()
            .map(|(op, (c, n))| {
                let stats = OpStats {
                    category: c.name().to_string(),
                    ops: n.ops,
                    confirmed: n.confirmed,
                    unconfirmed: n.unconfirmed,
                    skipped: n.skipped,
                    failed: n.failed,
                };
                (op.to_string(), stats)
            })
            .collect();
        let total = tally.total.ops;
        let (confirmed, unconfirmed, skipped, failed, kills) = (
            tally.total.confirmed,
            tally.total.unconfirmed,
            tally.total.skipped,
            tally.total.failed,
            tally.kills,
        );
        for c in by_category.values_mut() {
            c.share = if total == 0 {
                0.0
            } else {
                c.ops as f64 / total as f64
            };
        }
        let duration_s = record.elapsed.as_secs_f64();
        let ok_samples: Vec<&Sample> = record
            .samples
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .collect();
        let healthy = ok_samples.iter().filter(|s| s.healthy).count();
        let mut survival_rate = if record.samples.is_empty() {
            0.0
        } else {
            healthy as f64 / record.samples.len() as f64
        };
        // A target lost before the planned end was not whole for the rest of
        // the plan: the loss counts until then.
        if record.target_lost.is_some() && input.planned_duration_s > 0.0 {
            let covered = (record.elapsed.as_secs_f64() / input.planned_duration_s).min(1.0);
            survival_rate *= covered;
            if healthy == record.samples.len() {
                survival_rate = survival_rate.min(1.0 - f64::EPSILON);
            }
        }
        let survived = record.target_lost.is_none()
            && matches!(record.samples.last(), Some(Ok(s)) if s.healthy);
        let words = input.vocabulary;
        let mut failure_modes = failure_modes(record, &ok_samples, input.recovery_window, words);
        failure_modes.extend(kill_failures(record, words));
        for a in &input.audit {
            if let Some(kind) = &a.failure_kind {
                failure_modes.push(FailureMode {
                    kind: kind.clone(),
                    subject: a.detail.clone(),
                    first_seen_ms: record.elapsed.as_millis() as u64,
                    last_seen_ms: record.elapsed.as_millis() as u64,
                    evidence: serde_json::json!({ "detail": format!("after clean-up: {}", a.detail) }),
                    recovered: false,
                });
            }
        }
        let recovery = recovery_rows(record, words);
        let resources = trends(&ok_samples);
        let left_behind = LeftBehind {
            undo_failures: record.undo_failures.clone(),
            pending_effects: record.pending_effects,
            pending_ops: record.pending_ops,
            audit: input.audit.into_iter().map(|a| a.detail).collect(),
            clean_up_s: 0.0,
        };
        let error_reasons = reasons(&tally.errors);
        let skip_reasons = reasons(&tally.skips);
        let timeline = record.timeline.finished(
            record.elapsed,
            record.target_lost.as_deref(),
            &failure_modes,
        );
        let mut report = Report {
            tool: input.tool,
            target: input.target,
            seed: input.seed,
            profile: input.profile,
            planned_duration_s: input.planned_duration_s,
            duration_s,
            rate_requested: input.rate,
            total_ops: total,
            ops_per_sec: if duration_s > 0.0 {
                total as f64 / duration_s
            } else {
                0.0
            },
            confirmed,
            unconfirmed,
            skipped,
            errors: failed,
            kills,
            survival_rate,
            survival_definition: words.survival_definition.clone(),
            survived,
            interrupted: record.interrupted,
            target_lost: record.target_lost.clone(),
            breaker_tripped: record.breaker_tripped.clone(),
            inconclusive: Vec::new(),
            reach: input.reach,
            supervision: (!tally.budgets.is_empty())
                .then(|| crate::budget::SupervisionSection::from_tally(&tally.budgets)),
            verdict: String::new(),
            by_category,
            by_op,
            error_reasons,
            skip_reasons,
            failure_modes,
            recovery,
            resources,
            left_behind,
            recommendations: Vec::new(),
            timeline,
            extras: BTreeMap::new(),
        };
        report.inconclusive = inconclusive(&report);
        report.recommendations = recommendations(&report, record, words);
        report.verdict = verdict(&report);
        report
    }

    /// Failure modes the target found after the run (from what it logged
    /// while the run lasted): added, and the verdict said again.
    pub fn add_failure_modes(&mut self, modes: Vec<FailureMode>) {
        if modes.is_empty() {
            return;
        }
        self.failure_modes.extend(modes);
        self.verdict = verdict(self);
    }
}

fn verdict(report: &Report) -> String {
    match (
        &report.target_lost,
        report.failure_modes.len(),
        report.survived,
    ) {
        (Some(why), _, _) => format!("the target went down: {why}"),
        (None, 0, true) if !report.inconclusive.is_empty() => {
            "inconclusive: the planned chaos mostly did not happen (see inconclusive)".to_string()
        }
        (None, 0, true) => "survived; no failure mode found".to_string(),
        (None, n, true) => format!("survived, but {n} failure mode(s) found"),
        (None, n, false) => format!("did not survive; {n} failure mode(s) found"),
    }
}

/// Why a run says little about the target: no victim was eligible, more
/// than half of the operations were skipped, or a scheduled category got no
/// confirmed operation. Not judged for runs stopped early by the user.
fn inconclusive(r: &Report) -> Vec<String> {
    let mut why = Vec::new();
    if r.interrupted {
        return why;
    }
    if let Some(reach) = &r.reach {
        if reach.eligible == 0 {
            why.push(format!(
                "no victim was eligible ({})",
                reach.describe_excluded()
            ));
        }
    }
    if r.total_ops > 0 && r.skipped * 2 > r.total_ops {
        let top = r
            .skip_reasons
            .first()
            .map(|s| format!("; most often: {} × {} ({})", s.count, s.op, s.reason))
            .unwrap_or_default();
        why.push(format!(
            "{} of {} operations were skipped{top}",
            r.skipped, r.total_ops
        ));
    }
    let idle: Vec<&str> = r
        .by_category
        .iter()
        .filter(|(_, c)| c.expected_share > 0.0 && c.confirmed == 0)
        .map(|(name, _)| name.as_str())
        .collect();
    if !idle.is_empty() {
        why.push(format!("no operation was confirmed in {}", idle.join(", ")));
    }
    why
}

fn reasons(map: &BTreeMap<(&'static str, String), u64>) -> Vec<ReasonCount> {
    let mut v: Vec<ReasonCount> = map
        .iter()
        .map(|((op, reason), count)| ReasonCount {
            op: op.to_string(),
            reason: reason.clone(),
            count: *count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.op.cmp(&b.op)));
    v
}
