//! `inspect`: what a node is made of, measured on the node.
//!
//! The aggregation runs on the target ([`snippets/inspect.erl`], evaluated by
//! `erl_eval`): the per-process work is done by compiled BIFs and match specs,
//! split across the node's schedulers, and only the top rows cross the wire,
//! so it stays fast on nodes with a million processes.

use crate::dist::json::to_json;
use crate::dist::term::int;
use crate::dist::DistClient;
use crate::eval::{eval_with_timeout, EvalError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SNIPPET: &str = concat!(
    include_str!("snippets/safety_rules.erl"),
    include_str!("snippets/budget_read.erl"),
    include_str!("snippets/sup_read.erl"),
    include_str!("snippets/supervision.erl"),
    include_str!("snippets/inspect.erl")
);

/// Options of one inspection.
#[derive(Debug, Clone)]
pub struct InspectOptions {
    /// Rows in each top list.
    pub top: usize,
    /// Supervisors with more active children than this are summarised by counts.
    pub child_limit: usize,
    /// Limit for each call to a supervisor or application master on the target.
    pub process_call_timeout: Duration,
    /// Limit for the whole inspection.
    pub timeout: Duration,
}

impl Default for InspectOptions {
    fn default() -> Self {
        Self {
            top: 10,
            child_limit: 50,
            process_call_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
        }
    }
}

/// One node's inspection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInspection {
    /// Node name.
    pub node: String,
    /// What chaos could reach under the default safety rules (filled in by the caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<chaos_engine::Reach>,
    /// OTP release, for example "25".
    pub otp_release: String,
    /// ERTS version.
    pub erts_version: String,
    /// Architecture triple.
    pub system_architecture: String,
    /// Scheduler threads.
    pub schedulers: u64,
    /// Schedulers online.
    pub schedulers_online: u64,
    /// Time since the node started.
    pub uptime_ms: u64,
    /// Processes (at the start of the inspection).
    pub process_count: u64,
    /// `+P`.
    pub process_limit: u64,
    /// Ports.
    pub port_count: u64,
    /// `+Q`.
    pub port_limit: u64,
    /// Atoms.
    pub atom_count: u64,
    /// `+t`.
    pub atom_limit: u64,
    /// ETS tables (`null` before OTP 21.1).
    pub ets_count: Option<u64>,
    /// ETS table limit.
    pub ets_limit: Option<u64>,
    /// `erlang:memory()` by type, in bytes.
    pub memory: BTreeMap<String, u64>,
    /// `erlang:memory(total)`.
    pub memory_total_bytes: u64,
    /// Running applications.
    pub applications: Vec<Application>,
    /// The TCP listeners of the node's applications, and what each speaks
    /// (filled in by the caller, which asks them).
    #[serde(default)]
    pub listeners: Vec<crate::services::Listener>,
    /// Top processes by message queue length.
    pub top_by_queue: Vec<ProcessRow>,
    /// Top processes by memory.
    pub top_by_memory: Vec<ProcessRow>,
    /// Time the snippet took on the target.
    pub inspect_micros_on_target: u64,
    /// Wall time of the whole inspection, measured by us.
    #[serde(default)]
    pub inspect_millis_total: u64,
}

pub use crate::supervision::{Application, RestartBudget, SupervisorCounts, TreeNode};

/// A process in a top list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessRow {
    /// Pid text.
    pub pid: String,
    /// Registered name.
    pub registered_name: Option<String>,
    /// OTP behaviour of its callback module (from `'$initial_call'`).
    pub behaviour: Option<String>,
    /// `'$initial_call'` or `initial_call`.
    pub initial_call: String,
    /// Current function.
    pub current_function: String,
    /// Owning application.
    pub application: Option<String>,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Message queue length.
    pub message_queue_len: u64,
    /// Reductions.
    pub reductions: u64,
    /// Scheduler status.
    pub status: String,
}

/// Why an inspection failed.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The evaluation failed.
    #[error("inspect failed on the target: {0}")]
    Eval(#[from] EvalError),
    /// The answer did not have the expected shape.
    #[error("inspect returned an unexpected shape: {0}")]
    Shape(String),
}

impl InspectError {
    /// `true` when the connection is gone.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Self::Eval(e) if e.is_disconnect())
    }
}

/// Inspect the node behind `client`.
pub async fn inspect(
    client: &DistClient,
    opts: &InspectOptions,
) -> Result<NodeInspection, InspectError> {
    let started = Instant::now();
    let bindings = [
        ("TopN", int(opts.top as i64)),
        ("ChildLimit", int(opts.child_limit as i64)),
        ("CallMs", int(opts.process_call_timeout.as_millis() as i64)),
    ];
    let term = eval_with_timeout(client, SNIPPET, &bindings, opts.timeout).await?;
    let mut report: NodeInspection =
        serde_json::from_value(to_json(&term)).map_err(|e| InspectError::Shape(e.to_string()))?;
    for app in &mut report.applications {
        app.escalation = Some(crate::supervision::analyse(app));
    }
    report.inspect_millis_total = started.elapsed().as_millis() as u64;
    Ok(report)
}
