//! The toxics: one file per fault kind, each a small type behind [`Toxic`].
//!
//! A toxic is built once per added fault ([`build`]) and can hook in at three
//! places:
//! * at activation ([`Toxic::on_activate`]) — `reset` resets live connections;
//! * at accept ([`Toxic::refuses`]) — `refuse` turns new connections away;
//! * on the byte stream, through a [`ToxicLink`]: per-(connection, direction)
//!   state the pump creates when it first sees the fault
//!   ([`Toxic::link`]). A link can hold the stream (`stall`), change a chunk
//!   and plan its delivery ([`ToxicLink::on_chunk`]: `corrupt`, `latency`,
//!   `half_open`), or shape how it is written ([`ToxicLink::shape`]:
//!   `bandwidth`, `slicer`).
//!
//! The pump combines what every active link asks for (delays add up, the
//! smallest piece and rate win); see `crate::pump`.

mod bandwidth;
mod corrupt;
mod half_open;
mod latency;
mod refuse;
mod reset;
mod slicer;
mod stall;

use crate::fault::{Direction, Fault};
use crate::live::Connections;
use crate::stats::{Counters, FaultCounters};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::Duration;

/// One fault's behaviour. Shared by every connection while the fault is
/// active.
pub(crate) trait Toxic: Send + Sync {
    /// State for one direction of one connection, or `None` when the fault
    /// never touches the byte stream.
    fn link(&self, _link: &LinkInfo) -> Option<Box<dyn ToxicLink>> {
        None
    }

    /// Runs once, right after the fault became active.
    fn on_activate(&self, _activation: &Activation<'_>) {}

    /// Whether new connections are refused while the fault is active.
    fn refuses(&self) -> bool {
        false
    }
}

/// A fault's state on one direction of one connection.
pub(crate) trait ToxicLink: Send {
    /// While true the pump neither reads nor writes; it waits for the set of
    /// faults to change.
    fn holds(&self) -> bool {
        false
    }

    /// The pump starts holding `pending` bytes because of this link.
    fn on_hold(&mut self, _pending: usize) {}

    /// Largest read the pump should do while this link is active, so that a
    /// slow link never sits on a big chunk.
    fn read_limit(&self) -> Option<usize> {
        None
    }

    /// Look at (and maybe change) one chunk, and add to its delivery plan.
    fn on_chunk(&mut self, _chunk: &mut [u8], _plan: &mut Plan) {}

    /// Add to how the rest of the current chunk is written.
    fn shape(&self, _shape: &mut Shape) {}
}

/// Which connection and direction a link belongs to.
pub(crate) struct LinkInfo {
    /// Connection number, from 1, in accept order.
    pub conn: u64,
    /// `Upstream` or `Downstream`.
    pub flow: Direction,
}

impl LinkInfo {
    /// A ChaCha8 stream for this link: `seed` picks the key, the connection
    /// and direction pick the stream, so results do not depend on how other
    /// connections interleave.
    pub fn rng(&self, seed: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(self.conn << 1 | u64::from(self.flow == Direction::Downstream));
        rng
    }
}

/// What happens to one chunk, gathered from every link.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Deliver no earlier than this long after the chunk was read.
    pub delay: Duration,
    /// Throw the chunk away.
    pub drop: bool,
}

/// How a chunk is written, gathered from every link.
#[derive(Debug)]
pub(crate) struct Shape {
    /// Largest single write.
    pub piece: usize,
    /// Pause between two pieces of the same chunk.
    pub gap: Duration,
    /// Bytes per second, if limited.
    pub rate: Option<u64>,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            piece: usize::MAX,
            gap: Duration::ZERO,
            rate: None,
        }
    }
}

impl Shape {
    /// Nothing to shape: write the chunk in one go.
    pub fn is_plain(&self) -> bool {
        self.piece == usize::MAX && self.gap.is_zero() && self.rate.is_none()
    }
}

/// What a toxic can reach when it becomes active.
pub(crate) struct Activation<'a> {
    pub direction: Direction,
    pub conns: &'a Connections,
    pub counters: &'a Counters,
}

/// The toxic for `fault` (already normalized), counting into `counters`.
pub(crate) fn build(fault: &Fault, counters: Arc<FaultCounters>) -> Arc<dyn Toxic> {
    match *fault {
        Fault::Latency {
            latency_ms,
            jitter_ms,
            seed,
        } => Arc::new(latency::Latency::new(latency_ms, jitter_ms, seed, counters)),
        Fault::Bandwidth { bytes_per_sec } => {
            Arc::new(bandwidth::Bandwidth::new(bytes_per_sec, counters))
        }
        Fault::Stall => Arc::new(stall::Stall::new(counters)),
        Fault::Reset => Arc::new(reset::Reset::new(counters)),
        Fault::HalfOpen => Arc::new(half_open::HalfOpen::new(counters)),
        Fault::Slicer {
            max_chunk,
            delay_us,
        } => Arc::new(slicer::Slicer::new(max_chunk, delay_us, counters)),
        Fault::Corrupt { probability, seed } => {
            Arc::new(corrupt::Corrupt::new(probability, seed, counters))
        }
        Fault::Refuse => Arc::new(refuse::Refuse),
    }
}
