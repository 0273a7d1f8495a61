//! A fault-injecting TCP proxy for loopback, in the spirit of Toxiproxy.
//!
//! A [`Proxy`] listens on a loopback address and forwards every connection it
//! accepts to one loopback upstream. Each connection has two pumps: the
//! **upstream** direction (client → server) and the **downstream** direction
//! (server → client). Faults ("toxics") are added at run time for a bounded
//! lifetime, apply to one [`Direction`] or both, and end by themselves.
//!
//! Only loopback addresses are accepted (127.0.0.0/8 and `::1`), for both the
//! listening side and the upstream: this tool breaks traffic on purpose and
//! must never sit in front of anything but this machine.
//!
//! # Runtime: smol
//! Like the rest of the project (see `chaos-beam`), everything runs on smol:
//! sockets are `smol::Async<std::net::TcpStream>`, timers are `smol::Timer`,
//! and the accept loop and connections are tasks on smol's global executor.
//! Nothing here depends on tokio.
//!
//! # Cost when nothing is wrong
//! A pump reads into one 128 KiB buffer allocated with the connection, does
//! one atomic load per chunk to see whether the set of faults changed, and
//! writes the chunk straight back out. Faults are only looked at when one is
//! active for that direction.
//!
//! What lives here:
//! * [`proxy`] — [`Proxy`]: start, the accept loop, the fault registry,
//!   stats and shutdown;
//! * [`fault`] — the public fault vocabulary: [`Fault`], [`Direction`],
//!   [`FaultId`], [`FaultInfo`];
//! * [`stats`] — [`ProxyStats`] and the counters behind it;
//! * `toxics` — one file per fault kind, each a small type behind one
//!   trait, `Toxic` (like Toxiproxy's `toxics/` folder);
//! * `conn` — one proxied connection: upstream connect, kill switch
//!   (reset / shutdown);
//! * `pump` — moving bytes one way, fast path and faulty path;
//! * [`ops`] — the faults as chaos-engine operations, for any target with proxies.

mod conn;
pub mod fault;
mod live;
pub mod ops;
pub mod proxy;
mod pump;
mod shared;
pub mod stats;
mod toxics;

pub use fault::{Direction, Fault, FaultId, FaultInfo, FaultKind};
pub use proxy::{Proxy, ProxyError};
pub use stats::{FaultStats, ProxyStats};
