//! `bandwidth`: limit each direction of each connection to `bytes_per_sec`.
//!
//! The pump writes in pieces worth about 100 ms each and waits for each
//! piece's budget before writing it (no initial burst), so N bytes take at
//! least N / rate. Reads are capped at one piece, so a slow link never sits
//! on a large chunk and the sender feels TCP backpressure instead.

use super::{LinkInfo, Plan, Shape, Toxic, ToxicLink};
use crate::stats::FaultCounters;
use std::sync::Arc;

/// Largest piece, whatever the rate.
const MAX_PIECE: usize = 64 * 1024;

pub(crate) struct Bandwidth {
    rate: u64,
    counters: Arc<FaultCounters>,
}

impl Bandwidth {
    pub fn new(bytes_per_sec: u64, counters: Arc<FaultCounters>) -> Self {
        Bandwidth {
            rate: bytes_per_sec.max(1),
            counters,
        }
    }
}

impl Toxic for Bandwidth {
    fn link(&self, _link: &LinkInfo) -> Option<Box<dyn ToxicLink>> {
        self.counters.add_connections(1);
        let piece = usize::try_from(self.rate / 10)
            .unwrap_or(MAX_PIECE)
            .clamp(1, MAX_PIECE);
        Some(Box::new(BandwidthLink {
            rate: self.rate,
            piece,
            counters: self.counters.clone(),
        }))
    }
}

struct BandwidthLink {
    rate: u64,
    piece: usize,
    counters: Arc<FaultCounters>,
}

impl ToxicLink for BandwidthLink {
    fn read_limit(&self) -> Option<usize> {
        Some(self.piece)
    }

    fn on_chunk(&mut self, chunk: &mut [u8], _plan: &mut Plan) {
        self.counters.add_bytes(chunk.len() as u64);
    }

    fn shape(&self, shape: &mut Shape) {
        shape.piece = shape.piece.min(self.piece);
        shape.rate = Some(shape.rate.map_or(self.rate, |r| r.min(self.rate)));
    }
}
