//! The one interface every fault implements (the nemesis, in Jepsen's terms),
//! what an operation reports back, and the effects it leaves to be undone.

use crate::category::{Category, Profile};
use crate::rng::SeededRng;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// A chaos operation against a target whose context type is `C`.
///
/// `plan` draws the parameters from the operation's own seeded stream and
/// never looks at the live system, so the same seed always gives the same
/// (category, op, params) sequence. `run` does the fault for real, confirms
/// it, and hands back anything that must be undone later as an [`Effect`].
pub trait Operation<C: ?Sized>: Send + Sync {
    /// Stable name, used in config, events and reports.
    fn name(&self) -> &'static str;
    /// Its category.
    fn category(&self) -> Category;
    /// One line for `--help`-like listings.
    fn describe(&self) -> &'static str;
    /// Parameters for one execution.
    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> Value;
    /// Do it.
    fn run<'a>(&'a self, ctx: &'a C, params: &'a Value) -> BoxFuture<'a, Outcome>;
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Done, and the effect was observed on the target.
    Confirmed,
    /// Done, but the effect could not be observed.
    Unconfirmed,
    /// Not done, for a stated reason (no eligible victim, a safety cap, ...).
    Skipped,
    /// Tried and failed; the reason says why.
    Failed,
}

impl Status {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Confirmed => "confirmed",
            Status::Unconfirmed => "unconfirmed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// The process (or other thing) an operation hit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Victim {
    /// Its id on the target (a pid for the BEAM).
    pub pid: String,
    /// Registered name.
    pub registered_name: Option<String>,
    /// What it runs (initial call).
    pub initial_call: Option<String>,
    /// The application it belongs to.
    pub application: Option<String>,
    /// The node it lives on, in a cluster run (absent from older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Something an operation changed that must be put back: a suspension, held
/// memory, a decoy name. The runner undoes it when its time is up and, in any
/// case, before the run ends.
pub trait Effect: Send + Sync {
    /// What is in place, for logs and the left-behind audit.
    fn describe(&self) -> String;
    /// How long it should stay in place, from when it was made.
    fn hold(&self) -> Duration;
    /// Put things back; `Err` says what could not be undone.
    fn undo(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// What one execution of an operation reports.
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// What was done and observed, or why not.
    pub detail: String,
    /// Who was hit.
    pub victim: Option<Victim>,
    /// Measured values (for example `restart_ms`).
    pub measurements: Value,
    /// What must be undone later.
    pub effect: Option<Box<dyn Effect>>,
    /// `true` when the victim was lost (died, was killed) by this operation.
    pub killed: bool,
}

impl Outcome {
    /// A confirmed outcome.
    pub fn confirmed(detail: impl Into<String>) -> Self {
        Self::new(Status::Confirmed, detail)
    }

    /// An outcome that could not be confirmed.
    pub fn unconfirmed(detail: impl Into<String>) -> Self {
        Self::new(Status::Unconfirmed, detail)
    }

    /// A skipped operation.
    pub fn skipped(detail: impl Into<String>) -> Self {
        Self::new(Status::Skipped, detail)
    }

    /// A failed operation.
    pub fn failed(detail: impl Into<String>) -> Self {
        Self::new(Status::Failed, detail)
    }

    fn new(status: Status, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            victim: None,
            measurements: Value::Null,
            effect: None,
            killed: false,
        }
    }

    /// With a victim.
    pub fn with_victim(mut self, victim: Option<Victim>) -> Self {
        self.victim = victim;
        self
    }

    /// With measurements.
    pub fn with_measurements(mut self, m: Value) -> Self {
        self.measurements = m;
        self
    }

    /// With an effect to undo later.
    pub fn with_effect(mut self, effect: Box<dyn Effect>) -> Self {
        self.effect = Some(effect);
        self
    }

    /// Mark the victim as killed by this operation.
    pub fn killing(mut self) -> Self {
        self.killed = true;
        self
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outcome")
            .field("status", &self.status)
            .field("detail", &self.detail)
            .field("victim", &self.victim)
            .field("effect", &self.effect.as_ref().map(|e| e.describe()))
            .finish()
    }
}
