//! The settings of a run across a cluster (`--cluster`, several `--node`,
//! or `[cluster]` in the config): how to find the members, their cookies and
//! weights.

use crate::cli::RunArgs;
use crate::config::FileConfig;
use crate::exit::CliError;
use chaos_beam::dist::NodeName;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// How to reach the cluster and how to treat its members.
#[derive(Debug, Clone, Default)]
pub struct ClusterSettings {
    /// Read the members from the first node's `nodes()`.
    pub discover: bool,
    /// Members named explicitly (besides the first node).
    pub extra: Vec<NodeName>,
    /// Per-node cookie files (the others use the run's cookie).
    pub cookie_files: BTreeMap<String, PathBuf>,
    /// Per-node weights (default 1; 0: operations leave the node alone).
    pub weights: BTreeMap<String, u32>,
}

/// The cluster settings of a run, or `None` for a single-node run.
pub fn settings(
    args: &RunArgs,
    file: &FileConfig,
    at: &dyn Fn(&str) -> String,
    allow: &BTreeSet<String>,
) -> Result<Option<ClusterSettings>, CliError> {
    let c = &file.cluster;
    let allow_node_kill = allow.contains("node_loss");
    let discover = args.cluster || c.discover.unwrap_or(false);
    let mut extra = Vec::new();
    for n in args.node.iter().skip(1) {
        extra.push(
            n.parse::<NodeName>()
                .map_err(|e| CliError::usage(format!("--node {n}: {e}")))?,
        );
    }
    if args.node.len() <= 1 {
        for n in c.nodes.clone().unwrap_or_default() {
            extra
                .push(n.parse::<NodeName>().map_err(|e| {
                    CliError::usage(format!("{}: cluster.nodes: {e}", at("nodes")))
                })?);
        }
    }
    if !discover && extra.is_empty() {
        if allow_node_kill {
            return Err(CliError::usage(
                "--allow node_loss (--allow-node-kill) only applies to cluster runs (--cluster or several --node)",
            ));
        }
        return Ok(None);
    }
    let mut cookie_files = BTreeMap::new();
    let mut weights = BTreeMap::new();
    for (name, n) in &c.node {
        let loc = at(&format!("[cluster.node.\"{name}\"]"));
        name.parse::<NodeName>()
            .map_err(|e| CliError::usage(format!("{loc}: {e}")))?;
        if let Some(p) = &n.cookie_file {
            cookie_files.insert(name.clone(), p.clone());
        }
        if let Some(w) = n.weight {
            let w = u32::try_from(w).map_err(|_| {
                CliError::usage(format!(
                    "{loc}: the weight of {name} must be a whole number ≥ 0, got {w}"
                ))
            })?;
            weights.insert(name.clone(), w);
        }
    }
    Ok(Some(ClusterSettings {
        discover,
        extra,
        cookie_files,
        weights,
    }))
}
