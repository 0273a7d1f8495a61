//! What the report derives from a run's record: failure modes from the
//! samples' problems and the unrecovered kills, time-to-recover rows,
//! resource trends, and recommendations.

use super::*;

/// Problems become failure modes when immediate, when one stretch of
/// consecutive sightings lasts at least the recovery window, or when still
/// there in the final sample (taken after clean-up and the recovery window).
pub(super) fn failure_modes(
    record: &RunRecord,
    samples: &[&Sample],
    window: std::time::Duration,
    words: &Vocabulary,
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
            kind: words.target_lost.clone(),
            subject: "target".to_string(),
            first_seen_ms: record.elapsed.as_millis() as u64,
            last_seen_ms: record.elapsed.as_millis() as u64,
            evidence: serde_json::json!({
                "reason": reason,
                "last_operations": last_operations(record),
            }),
            recovered: false,
        });
    }
    out
}

/// The operations that finished last, oldest first: when the target was
/// lost, those it was in the middle of (they end failed, with the loss).
fn last_operations(record: &RunRecord) -> serde_json::Value {
    serde_json::to_value(&record.tally.recent).unwrap_or_default()
}

/// Kills whose victim was not back within the recovery window (or that nobody restarts).
pub(super) fn kill_failures(record: &RunRecord, words: &Vocabulary) -> Vec<FailureMode> {
    let tally = &record.tally;
    let mut out: Vec<FailureMode> = tally
        .unrecovered
        .iter()
        .map(|e| {
            let who = e
                .victim
                .as_ref()
                .map(|v| v.name().to_string())
                .unwrap_or_default();
            FailureMode {
                kind: words.victim_lost.clone(),
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
            kind: words.victim_lost.clone(),
            subject: format!("{} more killed {}", tally.unrecovered_more, words.victims),
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

pub(super) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub(super) fn recovery_rows(record: &RunRecord, words: &Vocabulary) -> Vec<RecoveryRow> {
    record
        .tally
        .recovery
        .iter()
        .map(|((by, key), g)| {
            let rec = g.restart_ms.sorted();
            let det = g.detect_us.sorted();
            RecoveryRow {
                by: if *by == crate::tally::GROUP {
                    words.victim_group.clone()
                } else {
                    by.to_string()
                },
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

pub(super) fn trends(samples: &[&Sample]) -> BTreeMap<String, Trend> {
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

pub(super) fn recommendations(r: &Report, record: &RunRecord, words: &Vocabulary) -> Vec<String> {
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
            "{} killed {} came back: median {} ms, slowest {} ms.",
            restarts.count(),
            words.victims,
            sorted[sorted.len() / 2],
            restarts.max()
        ));
    }
    for (name, t) in &r.resources {
        // Growth that matters: a fifth more, and more than noise in absolute terms.
        if name.starts_with(crate::timeline::PROBE_LATENCY)
            || name.starts_with(crate::timeline::METRIC)
        {
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
