//! The live supervision model of a node and what it means.
//!
//! [`read`] takes the model on the node (`snippets/supervision.erl`): every
//! running application with its start type, its supervision tree — each
//! supervisor with its restart budget read inside it, each child with its
//! restart type — and the registered processes nobody supervises.
//! [`analyse`] (in `analysis.rs`) turns one application's model into its
//! escalation figures: the fewest kills that stop it, within which window,
//! and its single points of failure. `inspect` shows both; a run reads them
//! before its clock starts and reports them in its Supervision section.

mod analysis;

pub use analysis::{analyse, Escalation, SinglePoint};

use crate::dist::json::to_json;
use crate::dist::term::int;
use crate::dist::DistClient;
use crate::eval::{eval_with_timeout, EvalError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The model on its own (a run reads it before its clock starts).
const SNIPPET: &str = concat!(
    include_str!("../snippets/safety_rules.erl"),
    include_str!("../snippets/budget_read.erl"),
    include_str!("../snippets/sup_read.erl"),
    include_str!("../snippets/supervision.erl"),
    "SvApps(ChildLimit, CallMs).\n"
);

/// A running application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// `permanent`, `transient` or `temporary`: a permanent application
    /// that stops halts the node (a transient one too, unless it stops normally).
    #[serde(default)]
    pub start_type: Option<String>,
    /// One of the runtime's own applications (those Erlang/OTP and Elixir ship).
    #[serde(default)]
    pub runtime: bool,
    /// Its supervision tree (`null` for library applications).
    pub supervision_tree: Option<TreeNode>,
    /// Its registered processes that no supervisor restarts.
    #[serde(default)]
    pub unsupervised: Vec<LoneProcess>,
    /// What kills cost it ([`analyse`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
}

impl Application {
    /// As the report's Supervision section shows it.
    pub fn structure(&self) -> chaos_engine::budget::GroupStructure {
        let e = self.escalation.clone().unwrap_or_else(|| analyse(self));
        chaos_engine::budget::GroupStructure {
            group: self.name.clone(),
            faults_to_stop: e.kills_to_stop,
            window_s: e.window_s,
            limited_by: e.limited_by,
            stops_target: e.halts_node,
            single_points: e
                .single_points
                .into_iter()
                .map(|p| (p.who, p.why))
                .collect(),
            unknown: e.unknown,
        }
    }

    /// `true` when the application's stop halts the whole node.
    pub fn halts_node(&self) -> bool {
        matches!(self.start_type.as_deref(), Some("permanent" | "transient"))
    }
}

/// A registered process nobody supervises: its death is permanent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoneProcess {
    /// Pid text.
    pub pid: String,
    /// Registered name.
    pub registered_name: String,
}

/// A supervisor or a worker in a supervision tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TreeNode {
    /// Child id (the application name for the top supervisor).
    pub id: String,
    /// Pid text, or `undefined` / `restarting`.
    pub pid: String,
    /// Registered name.
    pub registered_name: Option<String>,
    /// `supervisor` or `worker`.
    pub kind: String,
    /// The supervisor's behaviour module (from its initial call).
    #[serde(default)]
    pub module: Option<String>,
    /// Callback modules (workers).
    #[serde(default)]
    pub modules: Option<String>,
    /// `supervisor:count_children/1` (supervisors).
    #[serde(default)]
    pub counts: Option<SupervisorCounts>,
    /// The supervisor's restart budget, when its state could be read.
    #[serde(default)]
    pub budget: Option<RestartBudget>,
    /// Children are started on demand (simple_one_for_one, DynamicSupervisor).
    #[serde(default)]
    pub dynamic: bool,
    /// How its own supervisor treats it (restart type, shutdown, significant).
    #[serde(default)]
    pub spec: Option<ChildSpec>,
    /// The template of a dynamic supervisor's children.
    #[serde(default)]
    pub template: Option<ChildSpec>,
    /// Children (supervisors).
    #[serde(default)]
    pub children: Vec<TreeNode>,
    /// `true` when there were too many children to list.
    #[serde(default)]
    pub truncated: bool,
    /// `false` when the supervisor did not answer in time.
    #[serde(default = "yes")]
    pub responsive: bool,
}

fn yes() -> bool {
    true
}

impl TreeNode {
    /// How people know it: its registered name, else its child id, else its pid.
    pub fn label(&self) -> String {
        let text = match &self.registered_name {
            Some(n) => n.clone(),
            None if self.id != self.pid && !self.id.starts_with('<') => self.id.clone(),
            None => self.pid.clone(),
        };
        crate::elixir::readable(&text).into_owned()
    }

    /// A supervisor (it has a budget, or says it is one).
    pub fn is_supervisor(&self) -> bool {
        self.kind == "supervisor"
    }
}

/// How a supervisor restarts one child (`supervisor:child_spec()` fields).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildSpec {
    /// `permanent`, `transient`, `temporary` (or a look-alike's own, such as
    /// a delayed restart `{permanent,5}`).
    pub restart: String,
    /// Shutdown: milliseconds, `brutal_kill` or `infinity`.
    pub shutdown: String,
    /// With `auto_shutdown`, its exit stops the supervisor.
    #[serde(default)]
    pub significant: bool,
}

/// A supervisor's restart budget: at most `intensity` restarts in
/// `period_s` seconds, or it gives up (and its parent sees it exit).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestartBudget {
    /// `one_for_one`, `one_for_all`, `rest_for_one`, `simple_one_for_one`.
    pub strategy: String,
    /// Restarts allowed in the period.
    pub intensity: u64,
    /// The period, seconds.
    pub period_s: u64,
    /// Restarts it has counted in its current window.
    pub restarts_in_window: u64,
    /// `never`, `any_significant` or `all_significant`.
    #[serde(default)]
    pub auto_shutdown: Option<String>,
}

impl RestartBudget {
    /// Restarts it can still take in the current window without giving up.
    pub fn remaining(&self) -> u64 {
        self.intensity.saturating_sub(self.restarts_in_window)
    }

    /// As a short text: `one_for_one, 3 in 10 s`.
    pub fn text(&self) -> String {
        format!(
            "{}, {} in {} s",
            self.strategy, self.intensity, self.period_s
        )
    }
}

/// `supervisor:count_children/1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupervisorCounts {
    /// Child specs.
    pub specs: u64,
    /// Running children.
    pub active: u64,
    /// Child supervisors.
    pub supervisors: u64,
    /// Child workers.
    pub workers: u64,
}

/// Read the model of every running application, with its analysis.
/// `child_limit`: supervisors with more children are summarised by counts.
pub async fn read(
    client: &DistClient,
    child_limit: usize,
    call_timeout: Duration,
) -> Result<Vec<Application>, String> {
    let bindings = [
        ("ChildLimit", int(child_limit as i64)),
        ("CallMs", int(call_timeout.as_millis() as i64)),
    ];
    let term = eval_with_timeout(client, SNIPPET, &bindings, Duration::from_secs(60))
        .await
        .map_err(|e: EvalError| e.to_string())?;
    let mut apps: Vec<Application> = serde_json::from_value(to_json(&term))
        .map_err(|e| format!("the supervision model has an unexpected shape: {e}"))?;
    for app in &mut apps {
        app.escalation = Some(analyse(app));
    }
    Ok(apps)
}
