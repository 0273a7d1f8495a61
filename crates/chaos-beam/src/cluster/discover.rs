//! Finding and attaching to a cluster's members: connect to one node, read
//! the visible nodes it is connected to (`nodes()`: hidden nodes such as
//! shells or other monkeys are not members), and open our own hidden
//! connection to each, with the shared cookie or a per-node one.

use crate::dist::term::TermExt;
use crate::dist::{ConnectError, ConnectOptions, Cookie, DistClient, NodeName};
use crate::eval::eval_with_timeout;
use std::time::Duration;

/// Why the cluster could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A member could not be reached.
    #[error("cluster member {node}: {source}")]
    Connect {
        /// Which member.
        node: String,
        /// Why.
        #[source]
        source: Box<ConnectError>,
    },
    /// The first node did not say whom it is connected to.
    #[error("could not read the members from {node}: {reason}")]
    Discover {
        /// The node asked.
        node: String,
        /// Why.
        reason: String,
    },
    /// A name the first node reported is not a node name we can use.
    #[error("{node} reported member '{member}', which is not NAME@HOST: {reason}")]
    BadName {
        /// The node asked.
        node: String,
        /// The name.
        member: String,
        /// Why.
        reason: String,
    },
}

/// Connect to `first`, then to each node in `extra` and (with `discover`)
/// each visible node `first` is connected to. `cookie_for` gives a member's
/// cookie (the shared one unless the config names one for it). The first
/// client comes first; the others follow in name order, without duplicates.
pub async fn connect_cluster(
    first: &ConnectOptions,
    extra: &[NodeName],
    discover: bool,
    cookie_for: impl Fn(&NodeName) -> Cookie,
) -> Result<Vec<DistClient>, ClusterError> {
    let connect = |opts: ConnectOptions| async move {
        DistClient::connect(&opts)
            .await
            .map_err(|source| ClusterError::Connect {
                node: opts.node.to_string(),
                source: Box::new(source),
            })
    };
    let head = connect(first.clone()).await?;
    let mut names: Vec<NodeName> = extra.to_vec();
    if discover {
        names.extend(visible_nodes(&head).await?);
    }
    names.sort_by_key(|n| n.to_string());
    names.dedup_by_key(|n| n.to_string());
    names.retain(|n| n.to_string() != first.node.to_string());
    let others = futures::future::join_all(names.into_iter().map(|node| {
        let mut opts = first.clone();
        opts.cookie = cookie_for(&node);
        opts.node = node;
        // Other members have their own distribution ports: always ask epmd.
        opts.port = None;
        connect(opts)
    }))
    .await;
    let mut clients = vec![head];
    for c in others {
        clients.push(c?);
    }
    Ok(clients)
}

/// Asks a node for the visible nodes it is connected to.
pub(crate) const NODES: &str = "erlang:nodes().";

/// The visible nodes `client`'s node is connected to.
pub async fn visible_nodes(client: &DistClient) -> Result<Vec<NodeName>, ClusterError> {
    let node = client.target().to_string();
    let t = eval_with_timeout(client, NODES, &[], Duration::from_secs(5))
        .await
        .map_err(|e| ClusterError::Discover {
            node: node.clone(),
            reason: e.to_string(),
        })?;
    t.as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.as_atom().map(str::to_string))
        .map(|member| {
            member
                .parse::<NodeName>()
                .map_err(|e| ClusterError::BadName {
                    node: node.clone(),
                    member: member.clone(),
                    reason: e.to_string(),
                })
        })
        .collect()
}
