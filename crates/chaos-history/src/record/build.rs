//! A [`RecordedRun`] from what a command produced: a run's report, or a
//! scenario suite's.

use super::{
    CompactTimeline, FailureSighting, OpSequence, OutcomeCounts, RecordedRun, RecoveryFigures,
    ResourceFigures, RunEnd, TargetIdentity, KIND_SCENARIOS,
};
use chaos_engine::Report;
use serde_json::Value;
use std::collections::BTreeMap;

impl RecordedRun {
    /// What history keeps of a `run` or `demo` report.
    pub fn from_report(kind: &str, r: &Report, started_at_ms: i64) -> Self {
        let mut outcomes: Vec<OutcomeCounts> = r
            .by_category
            .iter()
            .map(|(name, c)| OutcomeCounts {
                scope: "category".into(),
                name: name.clone(),
                ops: c.ops,
                confirmed: c.confirmed,
                unconfirmed: c.unconfirmed,
                skipped: c.skipped,
                failed: c.failed,
            })
            .collect();
        outcomes.extend(r.by_op.iter().map(|(name, o)| OutcomeCounts {
            scope: "operation".into(),
            name: name.clone(),
            ops: o.ops,
            confirmed: o.confirmed,
            unconfirmed: o.unconfirmed,
            skipped: o.skipped,
            failed: o.failed,
        }));
        RecordedRun {
            id: 0,
            kind: kind.to_string(),
            started_at_ms,
            target: TargetIdentity {
                node: r.target.clone(),
                ..Default::default()
            },
            seed: r.seed,
            settings: Value::Null,
            end: if r.target_lost.is_some() {
                RunEnd::TargetLost
            } else if r.interrupted {
                RunEnd::Interrupted
            } else {
                RunEnd::Finished
            },
            verdict: r.verdict.clone(),
            survived: r.survived,
            survival_rate: r.survival_rate,
            planned_duration_s: r.planned_duration_s,
            duration_s: r.duration_s,
            ops_per_sec: r.ops_per_sec,
            total_ops: r.total_ops,
            confirmed: r.confirmed,
            unconfirmed: r.unconfirmed,
            skipped: r.skipped,
            failed: r.errors,
            kills: r.kills,
            outcomes,
            failure_modes: r
                .failure_modes
                .iter()
                .map(|f| FailureSighting {
                    kind: f.kind.clone(),
                    subject: f.subject.clone(),
                    first_seen_ms: f.first_seen_ms,
                    last_seen_ms: f.last_seen_ms,
                    recovered: f.recovered,
                })
                .collect(),
            recovery: r
                .recovery
                .iter()
                .map(|x| RecoveryFigures {
                    by: x.by.clone(),
                    key: x.key.clone(),
                    kills: x.kills,
                    recovered: x.recovered,
                    p50_ms: x.p50_ms,
                    p95_ms: x.p95_ms,
                    max_ms: x.max_ms,
                })
                .collect(),
            resources: r
                .resources
                .iter()
                .map(|(k, t)| {
                    (
                        k.clone(),
                        ResourceFigures {
                            start: t.start,
                            peak: t.peak,
                            end: t.end,
                        },
                    )
                })
                .collect(),
            timeline: CompactTimeline::of(&r.timeline),
            op_sequence: OpSequence::default(),
        }
    }

    /// What history keeps of a `scenarios` suite: one "operation" per
    /// scenario (confirmed: passed), its failures as failure modes, its
    /// measured recovery as a recovery row.
    pub fn from_suite(
        r: &chaos_engine::scenario::SuiteReport,
        started_at_ms: i64,
        seed: u64,
    ) -> Self {
        let mut outcomes = Vec::new();
        let mut failure_modes = Vec::new();
        let mut recovery = Vec::new();
        for x in &r.results {
            let skipped = x.skipped.is_some();
            outcomes.push(OutcomeCounts {
                scope: "scenario".into(),
                name: x.scenario.clone(),
                ops: 1,
                confirmed: u64::from(!skipped && x.passed),
                unconfirmed: 0,
                skipped: u64::from(skipped),
                failed: u64::from(!skipped && !x.passed),
            });
            failure_modes.extend(x.failures.iter().map(|f| FailureSighting {
                kind: x.scenario.clone(),
                subject: f.clone(),
                first_seen_ms: 0,
                last_seen_ms: 0,
                recovered: false,
            }));
            if let Some(ms) = x.recovery_time_ms {
                let ms = ms.max(0.0).round() as u64;
                recovery.push(RecoveryFigures {
                    by: "scenario".into(),
                    key: x.scenario.clone(),
                    kills: 1,
                    recovered: 1,
                    p50_ms: ms,
                    p95_ms: ms,
                    max_ms: ms,
                });
            }
        }
        let s = &r.summary;
        let ran = (s.total - s.skipped) as u64;
        RecordedRun {
            id: 0,
            kind: KIND_SCENARIOS.into(),
            started_at_ms,
            target: TargetIdentity {
                node: r.target.clone(),
                ..Default::default()
            },
            seed,
            settings: Value::Null,
            end: if r.context.get("target_lost").is_some_and(|v| !v.is_null()) {
                RunEnd::TargetLost
            } else if r.interrupted {
                RunEnd::Interrupted
            } else {
                RunEnd::Finished
            },
            verdict: s.verdict.as_str().to_string(),
            survived: s.failed == 0,
            survival_rate: if ran == 0 {
                0.0
            } else {
                s.passed as f64 / ran as f64
            },
            planned_duration_s: r.duration_s,
            duration_s: r.duration_s,
            ops_per_sec: 0.0,
            total_ops: s.total as u64,
            confirmed: s.passed as u64,
            unconfirmed: 0,
            skipped: s.skipped as u64,
            failed: s.failed as u64,
            kills: 0,
            outcomes,
            failure_modes,
            recovery,
            resources: BTreeMap::new(),
            timeline: CompactTimeline::default(),
            op_sequence: OpSequence::from_events(
                r.results
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (i as u64, x.scenario.clone()))
                    .collect(),
            ),
        }
    }
}
