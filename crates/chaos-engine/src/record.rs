//! The records a run produces, as plain data: an executed operation
//! ([`Event`]), a health sample ([`Sample`]) and what is wrong in it
//! ([`Problem`]), and a failure mode ([`FailureMode`]). The runner, the
//! tally, the timeline and the report all read them; they depend on nothing
//! but the categories and the operation model.

use crate::category::Category;
use crate::operation::{Recovery, Status, Victim};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One health and resource sample.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Since the start of the run.
    pub t_ms: u64,
    /// The target is up and whole, by its own definition (see [`crate::Vocabulary`]).
    pub healthy: bool,
    /// What is wrong when not healthy.
    pub problems: Vec<Problem>,
    /// Resource counts, named by the target.
    pub resources: BTreeMap<String, u64>,
}

/// Something wrong seen in a sample; repeated sightings become one failure mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Failure-mode kind, from the target's vocabulary.
    pub kind: String,
    /// What exactly, stable across samples (it identifies the failure mode).
    pub subject: String,
    /// Evidence text.
    pub detail: String,
    /// A failure mode at its first sighting (a part of the target stopped, a limit
    /// crossed); otherwise only when it lasts longer than the recovery window
    /// or is still there at the end.
    pub immediate: bool,
}

/// One executed operation, as written to the events file.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Position in the schedule.
    pub seq: u64,
    /// When it started, from the start of the run.
    pub t_ms: u64,
    /// When it was planned to start.
    pub scheduled_ms: u64,
    /// How late it started against its plan (schedule jitter).
    pub late_us: u64,
    /// Category.
    pub category: Category,
    /// Operation.
    pub op: &'static str,
    /// Its parameters.
    pub params: Value,
    /// Who was hit.
    pub victim: Option<Victim>,
    /// How it ended.
    pub outcome: Status,
    /// What was done and observed, or why not.
    pub detail: String,
    /// How long it took.
    pub duration_us: u64,
    /// Measured values.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub measurements: Value,
    /// The victim was killed by it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub killed: bool,
    /// How the killed victim came back (also in `measurements`, as the target wrote it).
    #[serde(skip)]
    pub recovery: Option<Recovery>,
    /// What it charged to restart budgets (also in `measurements`).
    #[serde(skip)]
    pub budget: Option<crate::budget::BudgetNote>,
}

/// A failure mode found during the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureMode {
    /// Kind, from the target's vocabulary.
    pub kind: String,
    /// What exactly.
    pub subject: String,
    /// First sighting, from the start of the run.
    pub first_seen_ms: u64,
    /// Last sighting.
    pub last_seen_ms: u64,
    /// Evidence.
    pub evidence: Value,
    /// Gone by the end of the run.
    pub recovered: bool,
}
