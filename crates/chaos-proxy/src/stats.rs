//! Counters: proxy-wide ones ([`ProxyStats`]) and one pair per fault
//! ([`FaultStats`]). All are relaxed atomics bumped from the pumps, the
//! accept loop and the toxics; a snapshot is not taken atomically as a whole.

use crate::fault::{Direction, FaultId, FaultKind};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of a proxy's counters.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyStats {
    pub listen_addr: SocketAddr,
    pub upstream_addr: SocketAddr,
    /// Connections accepted and forwarded (refused ones are not counted).
    pub connections_accepted: u64,
    /// Connections open now.
    pub connections_active: u64,
    /// Connections refused by a `refuse` fault.
    pub connections_refused: u64,
    /// Connections reset by a `reset` fault.
    pub connections_reset: u64,
    /// Accepted connections dropped because the upstream could not be reached.
    pub upstream_connect_failures: u64,
    /// Bytes delivered client → server.
    pub bytes_upstream: u64,
    /// Bytes delivered server → client.
    pub bytes_downstream: u64,
    /// Every fault still active, then the most recent ended ones (at most
    /// [`FAULT_HISTORY`] of those), in the order they were added.
    pub faults: Vec<FaultStats>,
}

/// How many ended faults [`ProxyStats::faults`] remembers.
pub const FAULT_HISTORY: usize = 256;

/// One fault's counters. What they count depends on the kind:
///
/// | kind | `bytes` | `connections` |
/// |---|---|---|
/// | latency | bytes delayed | connection-directions touched |
/// | bandwidth | bytes throttled | connection-directions touched |
/// | stall | bytes held back | connection-directions touched |
/// | reset | — | connections reset |
/// | half_open | bytes dropped | connection-directions touched |
/// | slicer | bytes sliced | connection-directions touched |
/// | corrupt | bytes changed | connection-directions touched |
/// | refuse | — | connections refused |
#[derive(Debug, Clone, Serialize)]
pub struct FaultStats {
    pub id: FaultId,
    pub kind: FaultKind,
    pub direction: Direction,
    pub active: bool,
    pub bytes: u64,
    pub connections: u64,
}

/// Proxy-wide counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub active: AtomicU64,
    pub refused: AtomicU64,
    pub reset: AtomicU64,
    pub connect_failures: AtomicU64,
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
}

impl Counters {
    /// The byte counter for one flow.
    pub fn bytes(&self, flow: Direction) -> &AtomicU64 {
        match flow {
            Direction::Downstream => &self.bytes_down,
            _ => &self.bytes_up,
        }
    }
}

/// One fault's counters, shared by the fault and every link it touches.
#[derive(Debug, Default)]
pub struct FaultCounters {
    bytes: AtomicU64,
    connections: AtomicU64,
}

impl FaultCounters {
    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Relaxed);
    }

    pub fn add_connections(&self, n: u64) {
        self.connections.fetch_add(n, Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Relaxed)
    }
}
