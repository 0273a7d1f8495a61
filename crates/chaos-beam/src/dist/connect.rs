//! Finding a node (epmd or a fixed port) and the distribution handshake.
//!
//! We connect as a *hidden* node: we never set the `PUBLISHED` flag, so the
//! target lists us in `nodes(hidden)` and never gossips us to its cluster.

use super::cookie::{Cookie, CookieSource};
use super::node_name::NodeName;
use erl_dist::epmd::EpmdClient;
use erl_dist::handshake::{ClientSideHandshake, HandshakeError, HandshakeStatus};
use erl_dist::node::{Creation, LocalNode, PeerNode};
use erl_dist::DistributionFlags;
use smol::net::TcpStream;
use std::net::SocketAddr;
use std::time::Duration;

/// The epmd port: `$ERL_EPMD_PORT`, as `erl` reads it, or 4369.
pub fn default_epmd_port() -> u16 {
    std::env::var("ERL_EPMD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(erl_dist::epmd::DEFAULT_EPMD_PORT)
}

/// Why we could not attach to a node. Every variant means "target unreachable"
/// to the CLI (exit code 3); none of them contains the cookie.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// DNS gave no address for the host.
    #[error("cannot resolve host '{host}' of node {node}: {detail}")]
    HostUnresolvable {
        /// Target.
        node: NodeName,
        /// Host part.
        host: String,
        /// Resolver message.
        detail: String,
    },
    /// Nothing answers on the epmd port.
    #[error("no epmd at {host}:{port} ({detail}); is the node running on that host? For a node started without epmd, pass --port")]
    NoEpmd {
        /// Host.
        host: String,
        /// epmd port tried.
        port: u16,
        /// Socket error.
        detail: String,
    },
    /// epmd answers but has no such name.
    #[error("epmd at {host} has no node named '{name}'; {}", known_names(.known))]
    UnknownNode {
        /// Host.
        host: String,
        /// Name looked up.
        name: String,
        /// Names epmd does know, with ports.
        known: Vec<(String, u16)>,
    },
    /// The epmd exchange failed.
    #[error("epmd at {host} answered badly: {detail}")]
    Epmd {
        /// Host.
        host: String,
        /// What went wrong.
        detail: String,
    },
    /// The node's distribution port refused or reset the TCP connection.
    #[error("cannot connect to {node} at {addr}: {detail}")]
    Unreachable {
        /// Target.
        node: NodeName,
        /// Address tried.
        addr: String,
        /// Socket error.
        detail: String,
    },
    /// A step took longer than the connect timeout.
    #[error("timed out after {after:?} while {stage} ({node})")]
    Timeout {
        /// Target.
        node: NodeName,
        /// What we were doing.
        stage: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The node closed the connection after our challenge reply: wrong cookie.
    #[error("node {node} rejected our cookie (the cookie came from {cookie_source}); check that it matches the node's cookie")]
    CookieRejected {
        /// Target.
        node: NodeName,
        /// Where our cookie came from.
        cookie_source: CookieSource,
    },
    /// The node said no before the challenge.
    #[error("node {node} refused the connection: {reason}")]
    Refused {
        /// Target.
        node: NodeName,
        /// Status text.
        reason: String,
    },
    /// Any other handshake failure.
    #[error("distribution handshake with {node} failed: {detail}")]
    Handshake {
        /// Target.
        node: NodeName,
        /// What went wrong.
        detail: String,
    },
}

fn known_names(known: &[(String, u16)]) -> String {
    if known.is_empty() {
        "it has no nodes registered".to_string()
    } else {
        let names: Vec<_> = known
            .iter()
            .map(|(n, p)| format!("{n} (port {p})"))
            .collect();
        format!("it has: {}", names.join(", "))
    }
}

/// Result of a successful handshake.
pub(crate) struct Handshaken {
    pub stream: TcpStream,
    pub local: LocalNode,
    pub peer: PeerNode,
}

async fn with_timeout<T>(
    limit: Duration,
    node: &NodeName,
    stage: &'static str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, ConnectError> {
    chaos_engine::deadline::within(limit, fut)
        .await
        .map_err(|_| ConnectError::Timeout {
            node: node.clone(),
            stage,
            after: limit,
        })
}

async fn resolve(node: &NodeName, port: u16, limit: Duration) -> Result<SocketAddr, ConnectError> {
    let host = node.host().to_string();
    let addrs = with_timeout(limit, node, "resolving the host", async {
        smol::unblock(move || std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)))
            .await
    })
    .await?;
    let mut addrs = addrs.map_err(|e| ConnectError::HostUnresolvable {
        node: node.clone(),
        host: node.host().to_string(),
        detail: e.to_string(),
    })?;
    // Prefer IPv4 loopback, as `erl` does by default.
    let all: Vec<_> = addrs.by_ref().collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| ConnectError::HostUnresolvable {
            node: node.clone(),
            host: node.host().to_string(),
            detail: "no addresses".to_string(),
        })
}

/// Ask epmd on the node's host for its distribution port.
pub(crate) async fn lookup_port(
    node: &NodeName,
    epmd_port: u16,
    limit: Duration,
) -> Result<u16, ConnectError> {
    let addr = resolve(node, epmd_port, limit).await?;
    let host = node.host().to_string();
    let no_epmd = |e: std::io::Error| ConnectError::NoEpmd {
        host: host.clone(),
        port: epmd_port,
        detail: e.to_string(),
    };
    let epmd_err = |e: erl_dist::epmd::EpmdError| ConnectError::Epmd {
        host: host.clone(),
        detail: e.to_string(),
    };
    let stream = with_timeout(limit, node, "connecting to epmd", TcpStream::connect(addr))
        .await?
        .map_err(no_epmd)?;
    let entry = with_timeout(limit, node, "asking epmd for the node's port", async {
        EpmdClient::new(stream).get_node(node.name()).await
    })
    .await?
    .map_err(epmd_err)?;
    if let Some(entry) = entry {
        return Ok(entry.port);
    }
    let stream = with_timeout(limit, node, "connecting to epmd", TcpStream::connect(addr))
        .await?
        .map_err(no_epmd)?;
    let known = with_timeout(limit, node, "listing epmd names", async {
        EpmdClient::new(stream).get_names().await
    })
    .await?
    .map_err(epmd_err)?;
    Err(ConnectError::UnknownNode {
        host,
        name: node.name().to_string(),
        known,
    })
}

/// How many hidden-node names the monkey may use on one node at once.
pub const NAME_SLOTS: u32 = 64;

/// The slot this process used last (all connections of a run share it where
/// they can: a cluster's members then see one monkey node).
static LAST_SLOT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// Our hidden node's name in `slot`: visibly the chaos monkey's, same host
/// style as the target. Names come from a small fixed set
/// (`chaos_monkey_1` … `chaos_monkey_64`), so connecting again adds no atom
/// to the node (atoms are never freed); the node answers `alive` for a name
/// another monkey holds, and we take the next slot.
fn local_name(target: &NodeName, slot: u32) -> String {
    format!("chaos_monkey_{slot}@{}", target.host())
}

/// Connect the TCP socket (TCP_NODELAY on) and run the handshake.
pub(crate) async fn handshake(
    node: &NodeName,
    port: u16,
    cookie: &Cookie,
    limit: Duration,
) -> Result<Handshaken, ConnectError> {
    let addr = resolve(node, port, limit).await?;
    let first = LAST_SLOT.load(std::sync::atomic::Ordering::Relaxed);
    let mut closed = None;
    for i in 0..NAME_SLOTS {
        let slot = (first - 1 + i) % NAME_SLOTS + 1;
        match handshake_as(node, addr, slot, cookie, limit).await? {
            Named::Connected(done) => {
                LAST_SLOT.store(slot, std::sync::atomic::Ordering::Relaxed);
                return Ok(done);
            }
            Named::Taken => {}
            Named::Closed(e) => closed = Some(e),
        }
    }
    // A node that closed on every name refuses us for another reason: say so.
    if let Some(e) = closed {
        return Err(e);
    }
    Err(ConnectError::Refused {
        node: node.clone(),
        reason: format!(
            "all {NAME_SLOTS} monkey node names (chaos_monkey_1 … chaos_monkey_{NAME_SLOTS}) are connected to it already"
        ),
    })
}

/// How a handshake under one name ended.
enum Named {
    Connected(Handshaken),
    /// The node has a connection from that name, or one being set up
    /// (another monkey's: we leave it alone and take the next name).
    Taken,
    /// The node closed the socket before answering our name: another
    /// handshake under that name was in progress, or the node refuses us
    /// (kept, to report if every name ends so).
    Closed(ConnectError),
}

/// One handshake as `chaos_monkey_<slot>`.
async fn handshake_as(
    node: &NodeName,
    addr: std::net::SocketAddr,
    slot: u32,
    cookie: &Cookie,
    limit: Duration,
) -> Result<Named, ConnectError> {
    let stream = with_timeout(
        limit,
        node,
        "connecting to the node",
        TcpStream::connect(addr),
    )
    .await?
    .map_err(|e| ConnectError::Unreachable {
        node: node.clone(),
        addr: addr.to_string(),
        detail: e.to_string(),
    })?;
    // Without this every small request waits for the peer's delayed ACK (~40 ms).
    stream
        .set_nodelay(true)
        .map_err(|e| ConnectError::Unreachable {
            node: node.clone(),
            addr: addr.to_string(),
            detail: format!("cannot set TCP_NODELAY: {e}"),
        })?;

    let name = local_name(node, slot);
    let mut local = LocalNode::new(
        name.parse()
            .map_err(|e: erl_dist::node::NodeNameError| ConnectError::Handshake {
                node: node.clone(),
                detail: e.to_string(),
            })?,
        Creation::random(),
    );
    local.flags |= DistributionFlags::SPAWN
        | DistributionFlags::DIST_MONITOR
        | DistributionFlags::DIST_MONITOR_NAME
        | DistributionFlags::EXIT_PAYLOAD;

    let hs_err = |e: HandshakeError| classify(node, cookie, e);
    let mut hs = ClientSideHandshake::new(stream.clone(), local.clone(), cookie.secret());
    let status =
        match with_timeout(limit, node, "sending our name", hs.execute_send_name(6)).await? {
            Ok(status) => status,
            Err(HandshakeError::Io(io)) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok(Named::Closed(hs_err(HandshakeError::Io(io))))
            }
            Err(e) => return Err(hs_err(e)),
        };
    match &status {
        HandshakeStatus::Ok | HandshakeStatus::OkSimultaneous => {}
        HandshakeStatus::Alive => {
            // Answer "false": the other connection stays, we try another name.
            let _ = with_timeout(limit, node, "declining", hs.execute_rest(false)).await;
            return Ok(Named::Taken);
        }
        // Another monkey is connecting under this name right now.
        HandshakeStatus::Nok => return Ok(Named::Taken),
        other => {
            return Err(ConnectError::Refused {
                node: node.clone(),
                reason: format!("handshake status {other:?}"),
            })
        }
    }
    let (_conn, peer) = with_timeout(limit, node, "exchanging challenges", hs.execute_rest(true))
        .await?
        .map_err(|e| match e {
            // The node closes the socket when our digest is wrong.
            HandshakeError::Io(_) | HandshakeError::CookieMismatch => {
                ConnectError::CookieRejected {
                    node: node.clone(),
                    cookie_source: cookie.source().clone(),
                }
            }
            other => hs_err(other),
        })?;
    Ok(Named::Connected(Handshaken {
        stream,
        local,
        peer,
    }))
}

fn classify(node: &NodeName, _cookie: &Cookie, e: HandshakeError) -> ConnectError {
    match e {
        HandshakeError::NotAllowed => ConnectError::Refused {
            node: node.clone(),
            reason: "not_allowed (the node restricts which nodes may connect)".to_string(),
        },
        HandshakeError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ConnectError::Refused {
                node: node.clone(),
                reason: "it closed the connection during the handshake".to_string(),
            }
        }
        other => ConnectError::Handshake {
            node: node.clone(),
            detail: other.to_string(),
        },
    }
}
