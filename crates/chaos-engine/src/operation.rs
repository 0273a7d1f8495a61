//! The one interface every fault implements (the nemesis, in Jepsen's terms),
//! what an operation reports back, and the effects it leaves to be undone.

use crate::category::{Category, Profile};
use crate::rng::SeededRng;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
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
    /// Why this operation runs only when the user names it (`--allow NAME`):
    /// it cannot be undone or can take the target down. `None` (the
    /// default): it runs whenever its category is scheduled.
    fn gate(&self) -> Option<&'static str> {
        None
    }
    /// `params` read as the operation reads them, written back out: equal to
    /// `params` when they are what `plan` makes; `Err` says what is wrong.
    /// Operations without a parameter type take any JSON.
    fn read_params(&self, params: &Value) -> Result<Value, String> {
        Ok(params.clone())
    }
}

/// An operation with its own parameter type: `plan` draws a `Params`, `run`
/// gets it back typed. Every `TypedOperation` is an [`Operation`]: the
/// parameters travel as JSON (events file, replays, tests that patch them)
/// and are read back strictly — a missing, extra or wrong parameter fails
/// the operation with a reason instead of reading as zero.
pub trait TypedOperation<C: ?Sized>: Send + Sync {
    /// The parameters of one execution.
    type Params: Serialize + DeserializeOwned + Send + Sync;
    /// Stable name, used in config, events and reports.
    fn name(&self) -> &'static str;
    /// Its category.
    fn category(&self) -> Category;
    /// One line for `--help`-like listings.
    fn describe(&self) -> &'static str;
    /// Parameters for one execution, drawn from the operation's seeded stream.
    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> Self::Params;
    /// Do it.
    fn run<'a>(&'a self, ctx: &'a C, params: Self::Params) -> BoxFuture<'a, Outcome>;
    /// See [`Operation::gate`].
    fn gate(&self) -> Option<&'static str> {
        None
    }
}

impl<C: ?Sized, T: TypedOperation<C>> Operation<C> for T {
    fn name(&self) -> &'static str {
        TypedOperation::name(self)
    }
    fn category(&self) -> Category {
        TypedOperation::category(self)
    }
    fn describe(&self) -> &'static str {
        TypedOperation::describe(self)
    }
    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> Value {
        serde_json::to_value(TypedOperation::plan(self, rng, profile))
            .expect("operation parameters serialise to JSON")
    }
    fn run<'a>(&'a self, ctx: &'a C, params: &'a Value) -> BoxFuture<'a, Outcome> {
        match T::Params::deserialize(params) {
            Ok(p) => TypedOperation::run(self, ctx, p),
            Err(e) => {
                let why = format!("bad parameters {params}: {e}");
                Box::pin(async move { Outcome::failed(why) })
            }
        }
    }
    fn gate(&self) -> Option<&'static str> {
        TypedOperation::gate(self)
    }
    fn read_params(&self, params: &Value) -> Result<Value, String> {
        let typed = T::Params::deserialize(params).map_err(|e| e.to_string())?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
}

/// The parameters of an operation that takes none (`{}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// The operations a run may use: every ungated one, and the gated ones
/// named in `allowed`.
pub fn admit<C: ?Sized>(
    ops: Vec<Arc<dyn Operation<C>>>,
    allowed: &BTreeSet<String>,
) -> Vec<Arc<dyn Operation<C>>> {
    ops.into_iter()
        .filter(|o| o.gate().is_none() || allowed.contains(o.name()))
        .collect()
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

/// What an operation hit: a process, a connection, a worker — the target
/// decides. The engine groups recovery figures by `group` and names a lost
/// victim by `label` (or `id`); `attrs` are the target's own details, written
/// next to the other fields in events and reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Victim {
    /// Its id on the target, unique while it lives.
    pub id: String,
    /// A stable human name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The unit it belongs to, for recovery figures (the target names the kind of unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The member of a multi-member target it lives on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The target's own details.
    #[serde(flatten)]
    pub attrs: BTreeMap<String, String>,
}

impl Victim {
    /// Its label, or its id when it has none.
    pub fn name(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.id)
    }

    /// One of the target's details.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }
}

/// How a killed victim came back, as the operation measured it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// From the kill to the target noticing the loss, microseconds.
    pub detect_us: Option<u64>,
    /// From the kill to a replacement being back, milliseconds; `None` when
    /// nothing came back in time (or nothing was watched).
    pub restart_ms: Option<u64>,
    /// `Some(false)`: watched, and not back within the operation's window.
    pub recovered: Option<bool>,
}

impl Recovery {
    /// Watched, and not back in time.
    pub fn lost(&self) -> bool {
        self.recovered == Some(false)
    }

    /// Somebody watched for its return (it came back, or was seen not to).
    pub fn watched(&self) -> bool {
        self.restart_ms.is_some() || self.lost()
    }
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
    /// `true` for an effect whose operation is judged by what happened while
    /// it was in place (a proxy fault that must touch traffic): the runner
    /// holds the operation's event until the effect is undone, then lets
    /// [`Effect::verdict`] re-grade it. Such an effect must undo promptly.
    fn judged_when_undone(&self) -> bool {
        false
    }
    /// Called after [`Effect::undo`] when [`Effect::judged_when_undone`]:
    /// the operation's final status and detail; `None` keeps the outcome.
    fn verdict(&self) -> Option<Verdict> {
        None
    }
}

/// How an effect judged at its end re-grades its operation.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The final status.
    pub status: Status,
    /// What happened while the effect was in place.
    pub detail: String,
    /// Figures merged into the operation's measurements.
    pub measurements: Value,
}

/// What one execution of an operation reports.
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// What was done and observed, or why not.
    pub detail: String,
    /// Who was hit.
    pub victim: Option<Victim>,
    /// Measured values, as the target reports them.
    pub measurements: Value,
    /// What must be undone later.
    pub effect: Option<Box<dyn Effect>>,
    /// `true` when the victim was lost (died, was killed) by this operation.
    pub killed: bool,
    /// How the killed victim came back, when that was watched.
    pub recovery: Option<Recovery>,
    /// What it charged to restart budgets, or why a budget turned it away.
    pub budget: Option<crate::budget::BudgetNote>,
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
            recovery: None,
            budget: None,
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

    /// With what it charged to restart budgets.
    pub fn with_budget(mut self, note: crate::budget::BudgetNote) -> Self {
        self.budget = Some(note);
        self
    }

    /// With how the killed victim came back.
    pub fn with_recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = Some(recovery);
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
