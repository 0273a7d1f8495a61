//! Node-level operations on a [`ClusterTarget`](super::ClusterTarget), one
//! file each: a held partition, a flapping (or one-way) link, a slow node,
//! and node loss (behind `--allow-node-kill`). Partitions and links share
//! the cutting helper in [`cut`]; only one of them is in place at a time.

mod cut;
pub(crate) mod link_flap;
pub(crate) mod node_loss;
pub(crate) mod partition;
pub(crate) mod slow_node;

use super::ClusterTarget;
use chaos_engine::Operation;
use std::sync::Arc;

pub use cut::CUT_COOKIES;

/// Every snippet the node-level operations and the cluster's bookkeeping
/// evaluate on a member (primed with the single-node ones, see
/// [`crate::chaos::ops::snippets`]).
pub(crate) fn snippets() -> Vec<&'static str> {
    vec![
        cut::SNIPPET,
        slow_node::SNIPPET,
        node_loss::STOP,
        node_loss::RUNNING_APPS,
        super::discover::NODES,
        super::detect::VIEW,
    ]
}

/// Names of every node-level operation (for config validation).
pub const NAMES: [&str; 4] = ["partition", "link_flap", "slow_node", "node_loss"];

/// The node-level operations (`node_loss` is gated: `--allow node_loss`).
pub fn node_ops() -> Vec<Arc<dyn Operation<ClusterTarget>>> {
    vec![
        Arc::new(partition::Partition),
        Arc::new(link_flap::LinkFlap),
        Arc::new(slow_node::SlowNode),
        Arc::new(node_loss::NodeLoss),
    ]
}

/// Members that are up, by name (a stable order for seeded choices).
fn up_sorted(ctx: &ClusterTarget) -> Vec<&super::Member> {
    let mut up = ctx.up();
    up.sort_by(|a, b| a.name.cmp(&b.name));
    up
}
