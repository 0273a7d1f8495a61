//! The report model (the checker's output): what ran, what it did, what
//! broke, what is left. Built from a [`RunRecord`]; printed as JSON by
//! serde and as text by the binary.

use crate::category::{Category, Profile};
pub use crate::record::FailureMode;
use crate::record::Sample;
use crate::runner::RunRecord;
use crate::schedule::SkippedCategory;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How the survival rate is defined (also written into every report).
pub const SURVIVAL_DEFINITION: &str = "share of health samples (one per second during the run, plus one after clean-up) in which the target answered and was whole: every application running at the start was still running";

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
    /// See [`SURVIVAL_DEFINITION`].
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
    /// Time to detect and to recover from kills, per application and per operation.
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
    /// `application` or `operation`.
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
    /// Time from the kill to its `'DOWN'`, microseconds (median).
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

/// What is still there after clean-up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LeftBehind {
    /// Effects that could not be undone, with the reason.
    pub undo_failures: Vec<String>,
    /// Effects still in place when the run stopped waiting.
    pub pending_effects: usize,
    /// Operations still running when the run stopped waiting.
    pub pending_ops: usize,
    /// Found by the target's own audit after clean-up.
    pub audit: Vec<String>,
}

impl LeftBehind {
    /// Nothing at all was left behind.
    pub fn is_clean(&self) -> bool {
        self.undo_failures.is_empty()
            && self.pending_effects == 0
            && self.pending_ops == 0
            && self.audit.is_empty()
    }
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
    pub audit: Vec<String>,
    /// How long a problem may last before it is a failure mode.
    pub recovery_window: std::time::Duration,
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
        let survival_rate = if record.samples.is_empty() {
            0.0
        } else {
            healthy as f64 / record.samples.len() as f64
        };
        let survived = record.target_lost.is_none()
            && matches!(record.samples.last(), Some(Ok(s)) if s.healthy);
        let mut failure_modes = failure_modes(record, &ok_samples, input.recovery_window);
        failure_modes.extend(kill_failures(record));
        for a in input.audit.iter().filter(|a| a.contains("still suspended")) {
            failure_modes.push(FailureMode {
                kind: "timing_anomaly".to_string(),
                subject: a.clone(),
                first_seen_ms: record.elapsed.as_millis() as u64,
                last_seen_ms: record.elapsed.as_millis() as u64,
                evidence: serde_json::json!({ "detail": format!("after clean-up: {a}") }),
                recovered: false,
            });
        }
        let recovery = recovery_rows(record);
        let resources = trends(&ok_samples);
        let left_behind = LeftBehind {
            undo_failures: record.undo_failures.clone(),
            pending_effects: record.pending_effects,
            pending_ops: record.pending_ops,
            audit: input.audit,
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
            survival_definition: SURVIVAL_DEFINITION.to_string(),
            survived,
            interrupted: record.interrupted,
            target_lost: record.target_lost.clone(),
            breaker_tripped: record.breaker_tripped.clone(),
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
        report.recommendations = recommendations(&report, record);
        report.verdict = match (
            &report.target_lost,
            report.failure_modes.len(),
            report.survived,
        ) {
            (Some(why), _, _) => format!("the target went down: {why}"),
            (None, 0, true) => "survived; no failure mode found".to_string(),
            (None, n, true) => format!("survived, but {n} failure mode(s) found"),
            (None, n, false) => format!("did not survive; {n} failure mode(s) found"),
        };
        report
    }
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

/// Problems become failure modes when immediate, when one stretch of
/// consecutive sightings lasts at least the recovery window, or when still
/// there in the final sample (taken after clean-up and the recovery window).
fn failure_modes(
    record: &RunRecord,
    samples: &[&Sample],
    window: std::time::Duration,
) -> Vec<FailureMode> {
    struct Track {
        first: u64,
        last: u64,
        streak_start: Option<u64>,
        longest_ms: u64,
        immediate: bool,
        detail: String,
        sightings: u64,
    }
    let mut tracks: BTreeMap<(String, String), Track> = BTreeMap::new();
    for s in samples {
        let here: Vec<(String, String)> = s
            .problems
            .iter()
            .map(|p| (p.kind.clone(), p.subject.clone()))
            .collect();
        for p in &s.problems {
            let t = tracks
                .entry((p.kind.clone(), p.subject.clone()))
                .or_insert(Track {
                    first: s.t_ms,
                    last: s.t_ms,
                    streak_start: None,
                    longest_ms: 0,
                    immediate: false,
                    detail: p.detail.clone(),
                    sightings: 0,
                });
            t.last = s.t_ms;
            t.sightings += 1;
            t.immediate |= p.immediate;
            t.detail = p.detail.clone();
            let start = *t.streak_start.get_or_insert(s.t_ms);
            t.longest_ms = t.longest_ms.max(s.t_ms - start);
        }
        for (key, t) in tracks.iter_mut() {
            if !here.contains(key) {
                t.streak_start = None;
            }
        }
    }
    let last = samples.last();
    let window_ms = window.as_millis() as u64;
    let mut out = Vec::new();
    for ((kind, subject), t) in tracks {
        let at_end = last.is_some_and(|s| {
            s.problems
                .iter()
                .any(|p| p.kind == kind && p.subject == subject)
        });
        if t.immediate || at_end || t.longest_ms >= window_ms {
            out.push(FailureMode {
                kind,
                subject,
                first_seen_ms: t.first,
                last_seen_ms: t.last,
                evidence: serde_json::json!({
                    "detail": t.detail,
                    "sightings": t.sightings,
                    "longest_ms": t.longest_ms,
                }),
                recovered: !at_end,
            });
        }
    }
    if let Some(reason) = &record.target_lost {
        out.push(FailureMode {
            kind: "node_down".to_string(),
            subject: "target".to_string(),
            first_seen_ms: record.elapsed.as_millis() as u64,
            last_seen_ms: record.elapsed.as_millis() as u64,
            evidence: serde_json::json!({ "reason": reason }),
            recovered: false,
        });
    }
    out
}

/// Kills whose victim was not back within the recovery window (or that nobody restarts).
fn kill_failures(record: &RunRecord) -> Vec<FailureMode> {
    let tally = &record.tally;
    let mut out: Vec<FailureMode> = tally
        .unrecovered
        .iter()
        .map(|e| {
            let who = e
                .victim
                .as_ref()
                .map(|v| v.registered_name.clone().unwrap_or_else(|| v.pid.clone()))
                .unwrap_or_default();
            FailureMode {
                kind: "process_crash".to_string(),
                subject: who,
                first_seen_ms: e.t_ms,
                last_seen_ms: e.t_ms,
                evidence: serde_json::json!({ "op": e.op, "detail": e.detail, "victim": e.victim, "measurements": e.measurements }),
                recovered: false,
            }
        })
        .collect();
    if tally.unrecovered_more > 0 {
        let last = tally.unrecovered.last().map(|e| e.t_ms).unwrap_or(0);
        out.push(FailureMode {
            kind: "process_crash".to_string(),
            subject: format!("{} more killed processes", tally.unrecovered_more),
            first_seen_ms: last,
            last_seen_ms: record.elapsed.as_millis() as u64,
            evidence: serde_json::json!({
                "detail": format!(
                    "{} more kills whose victim was not back in time; only the first {} are listed one by one (the events file has all)",
                    tally.unrecovered_more,
                    tally.unrecovered.len()
                )
            }),
            recovered: false,
        });
    }
    out
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn recovery_rows(record: &RunRecord) -> Vec<RecoveryRow> {
    record
        .tally
        .recovery
        .iter()
        .map(|((by, key), g)| {
            let rec = g.restart_ms.sorted();
            let det = g.detect_us.sorted();
            RecoveryRow {
                by: by.to_string(),
                key: key.clone(),
                kills: g.kills,
                recovered: g.restart_ms.count(),
                p50_ms: percentile(&rec, 0.5),
                p95_ms: percentile(&rec, 0.95),
                max_ms: g.restart_ms.max(),
                detect_p50_us: percentile(&det, 0.5),
            }
        })
        .collect()
}

fn trends(samples: &[&Sample]) -> BTreeMap<String, Trend> {
    let mut out: BTreeMap<String, Trend> = BTreeMap::new();
    for s in samples {
        for (k, v) in &s.resources {
            out.entry(k.clone())
                .and_modify(|t| {
                    t.peak = t.peak.max(*v);
                    t.end = *v;
                })
                .or_insert(Trend {
                    start: *v,
                    peak: *v,
                    end: *v,
                });
        }
    }
    out
}

fn recommendations(r: &Report, record: &RunRecord) -> Vec<String> {
    let mut out = Vec::new();
    for m in &r.failure_modes {
        let state = if m.recovered {
            "recovered before the end"
        } else {
            "was still there at the end"
        };
        out.push(format!(
            "{} ({}) first seen at {:.1} s and {state}: look at the evidence and add a structured scenario for it.",
            m.kind,
            m.subject,
            m.first_seen_ms as f64 / 1000.0
        ));
    }
    if let Some(top) = r.error_reasons.first() {
        out.push(format!(
            "{} operation(s) failed; the most common: {} × {} ({}).",
            r.errors, top.count, top.op, top.reason
        ));
    }
    let restarts = &record.tally.restarts;
    if restarts.count() > 0 {
        let sorted = restarts.sorted();
        out.push(format!(
            "Supervisors restarted {} killed children: median {} ms, slowest {} ms.",
            restarts.count(),
            sorted[sorted.len() / 2],
            restarts.max()
        ));
    }
    for (name, t) in &r.resources {
        // Growth that matters: a fifth more, and more than noise in absolute terms.
        if name.starts_with(crate::timeline::PROBE_LATENCY) {
            continue;
        }
        let floor = if name.ends_with("bytes") {
            16 * 1024 * 1024
        } else {
            100
        };
        if t.start > 0 && t.end as f64 > t.start as f64 * 1.2 && t.end > t.start + floor {
            out.push(format!(
                "{name} grew from {} to {} over the run (peak {}) and did not come back down: check for leaks.",
                t.start, t.end, t.peak
            ));
        }
    }
    if !r.left_behind.is_clean() {
        out.push("Some chaos effects could not be undone; see left_behind.".to_string());
    }
    if out.is_empty() {
        out.push(format!(
            "No failure mode found at the {} level in {:.0} s; try --profile aggressive, a higher --rate or a longer --duration.",
            r.profile, r.duration_s
        ));
    }
    out
}
