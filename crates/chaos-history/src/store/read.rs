//! Reading runs back: naming a run (`last`, `previous`, an id), one run
//! whole, the newest runs of a target, every run of a target for trends.

use super::{HistoryError, HistoryStore};
use crate::record::{
    CompactTimeline, FailureSighting, OpSequence, OutcomeCounts, RecordedRun, RecoveryFigures,
    ResourceFigures, RunEnd, TargetIdentity,
};
use rusqlite::{params, OptionalExtension};

impl HistoryStore {
    /// The id `spec` names: a number, `last` (the newest run) or `previous`
    /// (the one before it) — of `node` when given, else of any target.
    pub fn resolve(&self, spec: &str, node: Option<&str>) -> Result<i64, HistoryError> {
        let no_such = |what: String| HistoryError::NoSuchRun {
            path: self.path.clone(),
            what,
        };
        let offset = match spec {
            "last" | "latest" => 0,
            "previous" | "prev" => 1,
            _ => {
                let id: i64 = spec.trim_start_matches('#').parse().map_err(|_| {
                    no_such(format!(
                        "'{spec}': name a run by its id (see `chaos-monkey history`), `last` or `previous`"
                    ))
                })?;
                let found: Option<i64> = self
                    .conn
                    .query_row("SELECT id FROM runs WHERE id = ?1", [id], |r| r.get(0))
                    .optional()
                    .map_err(|e| self.err(e))?;
                return found.ok_or_else(|| no_such(format!("with id {id}")));
            }
        };
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM runs WHERE (?1 IS NULL OR node = ?1) ORDER BY id DESC LIMIT 1 OFFSET ?2",
                params![node, offset],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        found.ok_or_else(|| {
            no_such(format!(
                "'{spec}'{}",
                node.map(|n| format!(" against {n}")).unwrap_or_default()
            ))
        })
    }

    /// Run `id`, whole.
    pub fn get(&self, id: i64) -> Result<RecordedRun, HistoryError> {
        self.load("WHERE id = ?1", [id], true)?
            .pop()
            .ok_or_else(|| HistoryError::NoSuchRun {
                path: self.path.clone(),
                what: format!("with id {id}"),
            })
    }

    /// The newest `last` runs (of `node` when given), oldest first, without
    /// their timelines and operation sequences.
    pub fn list(&self, node: Option<&str>, last: usize) -> Result<Vec<RecordedRun>, HistoryError> {
        let oldest: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(id) FROM (SELECT id FROM runs WHERE (?1 IS NULL OR node = ?1)
                 ORDER BY id DESC LIMIT ?2)",
                params![node, last.min(i64::MAX as usize) as i64],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let Some(oldest) = oldest else {
            return Ok(Vec::new());
        };
        self.load(
            "WHERE (?1 IS NULL OR node = ?1) AND id >= ?2",
            params![node, oldest],
            false,
        )
    }

    /// The runs `clause` (with `args`) selects, oldest first; `bulk`: with
    /// their timelines and operation sequences.
    fn load(
        &self,
        clause: &str,
        args: impl rusqlite::Params,
        bulk: bool,
    ) -> Result<Vec<RecordedRun>, HistoryError> {
        let e = |e| self.err(e);
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT id, kind, started_at_ms, node, otp_release, applications, seed, settings,
                    run_end, verdict, survived, survival_rate, planned_duration_s, duration_s,
                    ops_per_sec, total_ops, confirmed, unconfirmed, skipped, failed, kills,
                    {} FROM runs {clause} ORDER BY id",
                if bulk {
                    "timeline, op_sequence"
                } else {
                    "'null', x''"
                }
            ))
            .map_err(e)?;
        let mut runs = st
            .query_map(args, |r| {
                let apps: String = r.get(5)?;
                let seed: String = r.get(6)?;
                let settings: String = r.get(7)?;
                let end: String = r.get(8)?;
                let timeline: String = r.get(21)?;
                let seq: Vec<u8> = r.get(22)?;
                Ok(RecordedRun {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    started_at_ms: r.get(2)?,
                    target: TargetIdentity {
                        node: r.get(3)?,
                        otp_release: r.get(4)?,
                        applications: serde_json::from_str(&apps).unwrap_or_default(),
                    },
                    seed: seed.parse().unwrap_or(0),
                    settings: serde_json::from_str(&settings).unwrap_or_default(),
                    end: RunEnd::from_name(&end),
                    verdict: r.get(9)?,
                    survived: r.get(10)?,
                    survival_rate: r.get(11)?,
                    planned_duration_s: r.get(12)?,
                    duration_s: r.get(13)?,
                    ops_per_sec: r.get(14)?,
                    total_ops: r.get::<_, i64>(15)? as u64,
                    confirmed: r.get::<_, i64>(16)? as u64,
                    unconfirmed: r.get::<_, i64>(17)? as u64,
                    skipped: r.get::<_, i64>(18)? as u64,
                    failed: r.get::<_, i64>(19)? as u64,
                    kills: r.get::<_, i64>(20)? as u64,
                    outcomes: Vec::new(),
                    failure_modes: Vec::new(),
                    recovery: Vec::new(),
                    resources: Default::default(),
                    timeline: serde_json::from_str::<Option<CompactTimeline>>(&timeline)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    op_sequence: OpSequence::from_blob(&seq),
                })
            })
            .map_err(e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)?;
        for run in &mut runs {
            self.details(run)?;
        }
        Ok(runs)
    }

    fn details(&self, run: &mut RecordedRun) -> Result<(), HistoryError> {
        let e = |e| self.err(e);
        let id = run.id;
        let mut st = self
            .conn
            .prepare_cached("SELECT scope, name, ops, confirmed, unconfirmed, skipped, failed FROM outcomes WHERE run_id = ?1")
            .map_err(e)?;
        run.outcomes = st
            .query_map([id], |r| {
                Ok(OutcomeCounts {
                    scope: r.get(0)?,
                    name: r.get(1)?,
                    ops: r.get::<_, i64>(2)? as u64,
                    confirmed: r.get::<_, i64>(3)? as u64,
                    unconfirmed: r.get::<_, i64>(4)? as u64,
                    skipped: r.get::<_, i64>(5)? as u64,
                    failed: r.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut st = self
            .conn
            .prepare_cached("SELECT kind, subject, first_seen_ms, last_seen_ms, recovered FROM failure_modes WHERE run_id = ?1")
            .map_err(e)?;
        run.failure_modes = st
            .query_map([id], |r| {
                Ok(FailureSighting {
                    kind: r.get(0)?,
                    subject: r.get(1)?,
                    first_seen_ms: r.get::<_, i64>(2)? as u64,
                    last_seen_ms: r.get::<_, i64>(3)? as u64,
                    recovered: r.get(4)?,
                })
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut st = self
            .conn
            .prepare_cached("SELECT grouped_by, key, kills, recovered, p50_ms, p95_ms, max_ms FROM recovery WHERE run_id = ?1")
            .map_err(e)?;
        run.recovery = st
            .query_map([id], |r| {
                Ok(RecoveryFigures {
                    by: r.get(0)?,
                    key: r.get(1)?,
                    kills: r.get::<_, i64>(2)? as u64,
                    recovered: r.get::<_, i64>(3)? as u64,
                    p50_ms: r.get::<_, i64>(4)? as u64,
                    p95_ms: r.get::<_, i64>(5)? as u64,
                    max_ms: r.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut st = self
            .conn
            .prepare_cached("SELECT name, start, peak, end_value FROM resources WHERE run_id = ?1")
            .map_err(e)?;
        run.resources = st
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    ResourceFigures {
                        start: r.get::<_, i64>(1)? as u64,
                        peak: r.get::<_, i64>(2)? as u64,
                        end: r.get::<_, i64>(3)? as u64,
                    },
                ))
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        Ok(())
    }

    /// Every run of `node`, oldest first, without timelines and sequences (for trends).
    pub fn runs_of(&self, node: &str) -> Result<Vec<RecordedRun>, HistoryError> {
        self.load("WHERE node = ?1", [node], false)
    }
}
