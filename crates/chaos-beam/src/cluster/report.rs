//! The per-node breakdown of a cluster run (the report's `by_node` section):
//! operations and their outcomes by the node they ran on, and failure modes
//! by the node they were seen on (`cluster` for the cluster-level ones).

use chaos_engine::{Report, RunRecord, Status};
use serde::Serialize;
use std::collections::BTreeMap;

/// Where cluster-level findings (and operations on no single node) are counted.
pub const CLUSTER: &str = "cluster";

/// One node's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeStats {
    /// Operations run on it (or with it as the side / link end that was hit).
    pub ops: u64,
    /// Outcomes.
    pub confirmed: u64,
    /// Outcomes.
    pub unconfirmed: u64,
    /// Outcomes.
    pub skipped: u64,
    /// Outcomes.
    pub failed: u64,
    /// Victims killed there.
    pub kills: u64,
    /// Operations by name.
    pub by_op: BTreeMap<String, u64>,
    /// Failure modes seen there, as `kind: subject`.
    pub failure_modes: Vec<String>,
    /// `up`, or how it left (`stopped by node_loss ...`, `left`).
    pub state: String,
}

/// The breakdown for `members`; `stopped` are the nodes an operation stopped
/// on purpose (with how), `up` those still reachable at the end.
pub fn by_node(
    report: &Report,
    record: &RunRecord,
    members: &[String],
    up: &[String],
    stopped: &BTreeMap<String, String>,
) -> BTreeMap<String, NodeStats> {
    let mut out: BTreeMap<String, NodeStats> = members
        .iter()
        .map(|m| {
            let state = match stopped.get(m) {
                Some(how) => how.clone(),
                None if up.contains(m) => "up".to_string(),
                None => "left".to_string(),
            };
            (
                m.clone(),
                NodeStats {
                    state,
                    ..NodeStats::default()
                },
            )
        })
        .collect();
    for e in &record.events {
        let node = e
            .victim
            .as_ref()
            .and_then(|v| v.node.clone())
            .unwrap_or_else(|| CLUSTER.to_string());
        let s = out.entry(node).or_default();
        s.ops += 1;
        *s.by_op.entry(e.op.to_string()).or_default() += 1;
        match e.outcome {
            Status::Confirmed => s.confirmed += 1,
            Status::Unconfirmed => s.unconfirmed += 1,
            Status::Skipped => s.skipped += 1,
            Status::Failed => s.failed += 1,
        }
        if e.killed {
            s.kills += 1;
        }
    }
    for f in &report.failure_modes {
        // Member findings carry their node: `node@host: subject`, or the node itself as subject.
        let node = members
            .iter()
            .find(|m| f.subject == **m || f.subject.starts_with(&format!("{m}: ")))
            .cloned()
            .unwrap_or_else(|| CLUSTER.to_string());
        out.entry(node)
            .or_default()
            .failure_modes
            .push(format!("{}: {}", f.kind, f.subject));
    }
    if let Some(c) = out.get_mut(CLUSTER) {
        c.state = "the cluster as a whole".to_string();
    }
    out
}
