//! The per-node breakdown of a cluster run (the report's `by_node` section):
//! operations and their outcomes by the node they ran on, and failure modes
//! by the node they were seen on (`cluster` for the cluster-level ones).

use chaos_engine::{Report, RunRecord};
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
    let tally = &record.tally;
    let mut rest = tally.total;
    let mut rest_ops: BTreeMap<&str, u64> = tally
        .by_op
        .iter()
        .map(|(op, (_, c))| (*op, c.ops))
        .collect();
    let mut rest_kills = tally.kills;
    for (node, n) in &tally.by_node {
        let s = out.entry(node.clone()).or_default();
        (s.ops, s.confirmed, s.unconfirmed, s.skipped, s.failed) = (
            n.counts.ops,
            n.counts.confirmed,
            n.counts.unconfirmed,
            n.counts.skipped,
            n.counts.failed,
        );
        s.kills = n.kills;
        s.by_op = n.by_op.iter().map(|(op, k)| (op.to_string(), *k)).collect();
        rest.ops -= n.counts.ops;
        rest.confirmed -= n.counts.confirmed;
        rest.unconfirmed -= n.counts.unconfirmed;
        rest.skipped -= n.counts.skipped;
        rest.failed -= n.counts.failed;
        rest_kills -= n.kills;
        for (op, k) in &n.by_op {
            *rest_ops.entry(op).or_default() -= k;
        }
    }
    // Operations on no single node (a partition that could not start, ...).
    if rest.ops > 0 {
        let s = out.entry(CLUSTER.to_string()).or_default();
        (
            s.ops,
            s.confirmed,
            s.unconfirmed,
            s.skipped,
            s.failed,
            s.kills,
        ) = (
            rest.ops,
            rest.confirmed,
            rest.unconfirmed,
            rest.skipped,
            rest.failed,
            rest_kills,
        );
        s.by_op = rest_ops
            .into_iter()
            .filter(|(_, k)| *k > 0)
            .map(|(op, k)| (op.to_string(), k))
            .collect();
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
