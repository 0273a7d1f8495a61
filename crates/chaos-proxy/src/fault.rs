//! The public fault vocabulary: what a fault is ([`Fault`]), which way it
//! applies ([`Direction`]), how it is named once added ([`FaultId`]) and how
//! an active one is reported ([`FaultInfo`]).
//!
//! Parameters out of range are clamped, never rejected, so that
//! [`Proxy::add_fault`](crate::Proxy::add_fault) cannot fail; see
//! [`Fault::normalized`] for the ranges.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Shortest delay a latency fault applies to a chunk.
pub const MIN_LATENCY: Duration = Duration::from_millis(1);
/// Longest delay a latency fault applies to a chunk.
pub const MAX_LATENCY: Duration = Duration::from_secs(10);
/// Longest lifetime a fault can be given; longer ones are cut to this.
pub const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// Which way through the proxy a fault applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Client → server.
    Upstream,
    /// Server → client.
    Downstream,
    /// Both ways.
    Both,
}

impl Direction {
    /// Whether a fault on `self` applies to bytes moving `flow`
    /// (`Upstream` or `Downstream`).
    pub fn covers(self, flow: Direction) -> bool {
        self == Direction::Both || self == flow
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
            Direction::Both => "both",
        })
    }
}

/// A fault to inject. Serialized internally tagged:
/// `{"kind": "latency", "latency_ms": 100}`; `jitter_ms` and `seed` default
/// to 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Delay each chunk by `latency_ms` ± `jitter_ms` (uniform; the result
    /// is clamped to 1 ms–10 s). The jitter comes from a ChaCha8 stream
    /// seeded with `seed`, the connection number and the direction.
    Latency {
        latency_ms: u64,
        #[serde(default)]
        jitter_ms: u64,
        #[serde(default)]
        seed: u64,
    },
    /// Limit each direction of each connection to `bytes_per_sec`.
    Bandwidth { bytes_per_sec: u64 },
    /// Stop forwarding: hold what was read and stop reading, so TCP
    /// backpressure builds up to the sender. Resumes, data intact, when the
    /// fault ends.
    Stall,
    /// At activation, reset (RST) every connection alive at that moment, on
    /// the side(s) the direction points to: `Downstream` resets the client,
    /// `Upstream` the server, `Both` both. Later connections are untouched.
    Reset,
    /// Black-hole the direction: bytes are read and thrown away, so the
    /// sender's writes keep succeeding while the receiver hears nothing. The
    /// other direction keeps working. Bytes sent while active are lost.
    HalfOpen,
    /// Write each chunk in pieces of at most `max_chunk` bytes, pausing
    /// `delay_us` between pieces.
    Slicer { max_chunk: usize, delay_us: u64 },
    /// Change each byte with `probability` (XOR with a random non-zero mask,
    /// so a chosen byte always changes). Reproducible: the stream of choices
    /// is ChaCha8 seeded with `seed`, the connection number and the direction.
    Corrupt {
        probability: f64,
        #[serde(default)]
        seed: u64,
    },
    /// New connections are refused while active: accepted, then reset at
    /// once. A listener that stays bound cannot refuse at the SYN level (the
    /// kernel completes the handshake before `accept`), so the client sees
    /// its connect succeed and then a reset (or EOF) with no data. The
    /// direction is ignored.
    Refuse,
}

impl Fault {
    /// The kind of fault, without its parameters.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Latency { .. } => FaultKind::Latency,
            Fault::Bandwidth { .. } => FaultKind::Bandwidth,
            Fault::Stall => FaultKind::Stall,
            Fault::Reset => FaultKind::Reset,
            Fault::HalfOpen => FaultKind::HalfOpen,
            Fault::Slicer { .. } => FaultKind::Slicer,
            Fault::Corrupt { .. } => FaultKind::Corrupt,
            Fault::Refuse => FaultKind::Refuse,
        }
    }

    /// The fault with its parameters clamped into range: latency 1 ms–10 s
    /// (jitter at most 10 s), bandwidth ≥ 1 byte/s, slicer pieces ≥ 1 byte
    /// and pauses ≤ 10 s, probability in 0–1 (NaN counts as 0).
    pub fn normalized(&self) -> Fault {
        let max_ms = MAX_LATENCY.as_millis() as u64;
        match *self {
            Fault::Latency {
                latency_ms,
                jitter_ms,
                seed,
            } => Fault::Latency {
                latency_ms: latency_ms.clamp(1, max_ms),
                jitter_ms: jitter_ms.min(max_ms),
                seed,
            },
            Fault::Bandwidth { bytes_per_sec } => Fault::Bandwidth {
                bytes_per_sec: bytes_per_sec.max(1),
            },
            Fault::Slicer {
                max_chunk,
                delay_us,
            } => Fault::Slicer {
                max_chunk: max_chunk.max(1),
                delay_us: delay_us.min(MAX_LATENCY.as_micros() as u64),
            },
            Fault::Corrupt { probability, seed } => Fault::Corrupt {
                probability: if probability.is_nan() {
                    0.0
                } else {
                    probability.clamp(0.0, 1.0)
                },
                seed,
            },
            ref other => other.clone(),
        }
    }
}

/// The kind of a [`Fault`], without parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Latency,
    Bandwidth,
    Stall,
    Reset,
    HalfOpen,
    Slicer,
    Corrupt,
    Refuse,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Latency => "latency",
            FaultKind::Bandwidth => "bandwidth",
            FaultKind::Stall => "stall",
            FaultKind::Reset => "reset",
            FaultKind::HalfOpen => "half_open",
            FaultKind::Slicer => "slicer",
            FaultKind::Corrupt => "corrupt",
            FaultKind::Refuse => "refuse",
        })
    }
}

/// Names one added fault, unique within its proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultId(pub u64);

impl fmt::Display for FaultId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault#{}", self.0)
    }
}

/// One active fault, as [`Proxy::active_faults`](crate::Proxy::active_faults)
/// reports it.
#[derive(Debug, Clone, Serialize)]
pub struct FaultInfo {
    pub id: FaultId,
    pub kind: FaultKind,
    /// The fault with its parameters as applied (after clamping).
    pub fault: Fault,
    pub direction: Direction,
    /// The lifetime it was added with (after clamping).
    pub lifetime: Duration,
    /// Time left before it ends by itself.
    pub remaining: Duration,
}
