//! What history keeps of one run: a [`RecordedRun`], built from the run's
//! report ([`RecordedRun::from_report`]) plus what only the command knows
//! (the target's identity, the settings, the operation sequence).
//!
//! Sizes are bounded whatever the run's length: the timeline is the
//! report's (at most 240 buckets), kept as columns of numbers; the
//! operation sequence is one byte per operation (an index into its names),
//! so an hour at 10 operations a second is 36 kB.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

mod build;

/// Which command made the run.
pub const KIND_RUN: &str = "run";
/// `chaos-monkey demo`.
pub const KIND_DEMO: &str = "demo";
/// `chaos-monkey scenarios`.
pub const KIND_SCENARIOS: &str = "scenarios";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    /// It ran to its planned end (or its circuit breaker stopped the chaos).
    Finished,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
    /// The target went away.
    TargetLost,
}

impl RunEnd {
    /// The word stored and printed.
    pub fn name(self) -> &'static str {
        match self {
            RunEnd::Finished => "finished",
            RunEnd::Interrupted => "interrupted",
            RunEnd::TargetLost => "target_lost",
        }
    }

    /// The inverse of [`RunEnd::name`].
    pub fn from_name(s: &str) -> RunEnd {
        match s {
            "interrupted" => RunEnd::Interrupted,
            "target_lost" => RunEnd::TargetLost,
            _ => RunEnd::Finished,
        }
    }
}

/// Which target a run was against, as far as comparing runs needs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetIdentity {
    /// `name@host`.
    pub node: String,
    /// The node's OTP release, when it could be read.
    pub otp_release: Option<String>,
    /// The user's applications (not those Erlang/OTP and Elixir ship) and their versions.
    pub applications: BTreeMap<String, String>,
}

/// Outcome counts of one category or one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    /// `category` or `operation` (for a suite: `scenario`).
    pub scope: String,
    /// Its name.
    pub name: String,
    /// Executed.
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

/// A failure mode, without its evidence (the report file keeps that).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FailureSighting {
    /// Its kind (`process_crash`, ...).
    pub kind: String,
    /// What exactly.
    pub subject: String,
    /// First sighting, ms from the start.
    pub first_seen_ms: u64,
    /// Last sighting.
    pub last_seen_ms: u64,
    /// Gone by the end.
    pub recovered: bool,
}

/// Time to recover from kills, for one application (`by` = the target's
/// victim group, `application` on the BEAM) or one operation (`by` = `operation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryFigures {
    /// What the kills are grouped by.
    pub by: String,
    /// Which one.
    pub key: String,
    /// Kills watched.
    pub kills: u64,
    /// Back within the recovery window.
    pub recovered: u64,
    /// Milliseconds.
    pub p50_ms: u64,
    /// Milliseconds.
    pub p95_ms: u64,
    /// Milliseconds.
    pub max_ms: u64,
}

/// Start, peak and end of one resource count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceFigures {
    /// First sample.
    pub start: u64,
    /// Highest sample.
    pub peak: u64,
    /// Last sample.
    pub end: u64,
}

/// The report's timeline as columns: per bucket the operations, kills,
/// failed operations and unhealthy samples, and each resource's highest value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompactTimeline {
    /// Bucket width, milliseconds.
    pub bucket_ms: u64,
    /// Operations started.
    pub ops: Vec<u64>,
    /// Kills.
    pub kills: Vec<u64>,
    /// Failed operations.
    pub failed: Vec<u64>,
    /// Health samples that were not healthy.
    pub unhealthy: Vec<u64>,
    /// Resource → highest sample per bucket (0 where none).
    pub resources: BTreeMap<String, Vec<u64>>,
}

impl CompactTimeline {
    /// The columns of `t`.
    pub fn of(t: &chaos_engine::Timeline) -> Self {
        let mut c = CompactTimeline {
            bucket_ms: t.bucket_ms,
            ..Default::default()
        };
        let names = t.resource_names();
        for b in &t.buckets {
            c.ops.push(b.ops.values().sum());
            c.kills.push(b.kills);
            c.failed.push(b.failed);
            c.unhealthy.push(b.unhealthy);
            for n in &names {
                c.resources
                    .entry(n.clone())
                    .or_default()
                    .push(b.resources.get(n).map_or(0, |s| s.max));
            }
        }
        c
    }
}

/// The operations of a run in schedule order, one byte each (an index into
/// `names`), so a replay can be checked against its original.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpSequence {
    /// The operation names, in order of first use.
    pub names: Vec<String>,
    /// Per operation, by schedule position, its index in `names`.
    pub codes: Vec<u8>,
}

/// A position of the schedule whose operation never ended (the run was
/// interrupted), while a sequence is recorded; [`OpSequence::finish`] drops it.
const NOT_RUN: u8 = u8::MAX;

impl OpSequence {
    /// Built from `(schedule position, operation)` pairs in any order (the
    /// order operations end in is not the order they were planned in).
    /// Positions that never ran (an interrupted run) are simply absent.
    pub fn from_events(seq: Vec<(u64, String)>) -> Self {
        let mut out = OpSequence::default();
        for (position, op) in seq {
            out.record(position, &op);
        }
        out.finish()
    }

    /// Record one operation as it ends, at its schedule position (they end
    /// out of order): one byte per position, so an hour at thousands of
    /// operations a second costs megabytes, not a pair per operation. Call
    /// [`OpSequence::finish`] once the run is over.
    pub fn record(&mut self, position: u64, op: &str) {
        let code = match self.names.iter().position(|n| n == op) {
            Some(i) => i,
            None => {
                self.names.push(op.to_string());
                self.names.len() - 1
            }
        };
        let at = position as usize;
        if self.codes.len() <= at {
            self.codes.resize(at + 1, NOT_RUN);
        }
        // More than 255 distinct operations in one run: the rest share the last code.
        self.codes[at] = code.min(usize::from(NOT_RUN) - 1) as u8;
    }

    /// The recorded sequence without the positions that never ran.
    pub fn finish(mut self) -> Self {
        self.codes.retain(|c| *c != NOT_RUN);
        self.codes.shrink_to_fit();
        self
    }

    /// The operation names in order.
    pub fn ops(&self) -> impl Iterator<Item = &str> {
        self.codes
            .iter()
            .map(|c| self.names.get(*c as usize).map_or("?", String::as_str))
    }

    /// How many operations.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// No operation at all.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The first position where the two differ (`None`: same sequence).
    pub fn first_difference(&self, other: &OpSequence) -> Option<usize> {
        let mut a = self.ops();
        let mut b = other.ops();
        let mut i = 0;
        loop {
            match (a.next(), b.next()) {
                (None, None) => return None,
                (Some(x), Some(y)) if x == y => i += 1,
                _ => return Some(i),
            }
        }
    }

    /// Stored form: names joined by `\n`, a 0 byte, then the codes.
    pub fn to_blob(&self) -> Vec<u8> {
        let mut v = self.names.join("\n").into_bytes();
        v.push(0);
        v.extend_from_slice(&self.codes);
        v
    }

    /// The inverse of [`OpSequence::to_blob`].
    pub fn from_blob(b: &[u8]) -> Self {
        let Some(at) = b.iter().position(|x| *x == 0) else {
            return OpSequence::default();
        };
        let names = String::from_utf8_lossy(&b[..at]);
        OpSequence {
            names: if names.is_empty() {
                Vec::new()
            } else {
                names.split('\n').map(str::to_string).collect()
            },
            codes: b[at + 1..].to_vec(),
        }
    }
}

/// One run as history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRun {
    /// Its id in the store (0 before it is stored).
    pub id: i64,
    /// `run`, `demo` or `scenarios` ([`KIND_RUN`], ...).
    pub kind: String,
    /// When it started, Unix time in milliseconds.
    pub started_at_ms: i64,
    /// The target.
    pub target: TargetIdentity,
    /// The seed.
    pub seed: u64,
    /// The resolved settings (never the cookie nor a password), enough to replay the run.
    pub settings: Value,
    /// How it ended.
    pub end: RunEnd,
    /// The report's verdict.
    pub verdict: String,
    /// The target was whole at the end.
    pub survived: bool,
    /// Share (0–1) of healthy samples.
    pub survival_rate: f64,
    /// Planned duration, seconds.
    pub planned_duration_s: f64,
    /// Actual duration, seconds.
    pub duration_s: f64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Operations executed.
    pub total_ops: u64,
    /// Outcomes.
    pub confirmed: u64,
    /// Outcomes.
    pub unconfirmed: u64,
    /// Outcomes.
    pub skipped: u64,
    /// Outcomes.
    pub failed: u64,
    /// Victims killed.
    pub kills: u64,
    /// Per category and per operation.
    pub outcomes: Vec<OutcomeCounts>,
    /// What broke.
    pub failure_modes: Vec<FailureSighting>,
    /// Time to recover.
    pub recovery: Vec<RecoveryFigures>,
    /// Resource counts.
    pub resources: BTreeMap<String, ResourceFigures>,
    /// The run over time.
    pub timeline: CompactTimeline,
    /// The operations in schedule order.
    pub op_sequence: OpSequence,
}

impl RecordedRun {
    /// Share (0–1) of the executed operations that were skipped.
    pub fn skipped_share(&self) -> f64 {
        if self.total_ops == 0 {
            0.0
        } else {
            self.skipped as f64 / self.total_ops as f64
        }
    }

    /// Recovery rows per application (every grouping but `operation`).
    pub fn recovery_by_application(&self) -> impl Iterator<Item = &RecoveryFigures> {
        self.recovery.iter().filter(|r| r.by != "operation")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_is_sorted_by_position_and_survives_its_blob() {
        let s = OpSequence::from_events(vec![
            (2, "suspend".into()),
            (0, "kill_worker".into()),
            (1, "suspend".into()),
        ]);
        assert_eq!(
            s.ops().collect::<Vec<_>>(),
            ["kill_worker", "suspend", "suspend"]
        );
        assert_eq!(OpSequence::from_blob(&s.to_blob()), s);
        assert_eq!(
            OpSequence::from_blob(&OpSequence::default().to_blob()),
            OpSequence::default()
        );
        let mut t = s.clone();
        t.codes.push(0);
        assert_eq!(s.first_difference(&t), Some(3));
        assert_eq!(s.first_difference(&s), None);
    }

    /// Recorded as operations end: out of order, with positions that never
    /// ended (an interrupted run) left out, one byte per position.
    #[test]
    fn a_recorded_sequence_drops_the_positions_that_never_ran() {
        let mut s = OpSequence::default();
        for (position, op) in [
            (3, "suspend"),
            (0, "kill_worker"),
            (5, "suspend"),
            (1, "spawn_burst"),
        ] {
            s.record(position, op);
        }
        assert_eq!(s.codes.len(), 6, "one byte per position so far");
        let s = s.finish();
        assert_eq!(
            s.ops().collect::<Vec<_>>(),
            ["kill_worker", "spawn_burst", "suspend", "suspend"]
        );
        assert_eq!(s.names, ["suspend", "kill_worker", "spawn_burst"]);
        // Past 255 distinct operations the rest share the last code.
        let mut many = OpSequence::default();
        for i in 0..300u64 {
            many.record(i, &format!("op{i}"));
        }
        let many = many.finish();
        assert_eq!(many.len(), 300);
        assert_eq!(many.codes[299], 254);
    }
}
