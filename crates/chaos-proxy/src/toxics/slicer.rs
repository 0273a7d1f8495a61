//! `slicer`: write each chunk in pieces of at most `max_chunk` bytes,
//! pausing `delay_us` between pieces, so the receiver sees many small reads.

use super::{LinkInfo, Plan, Shape, Toxic, ToxicLink};
use crate::stats::FaultCounters;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Slicer {
    max_chunk: usize,
    gap: Duration,
    counters: Arc<FaultCounters>,
}

impl Slicer {
    pub fn new(max_chunk: usize, delay_us: u64, counters: Arc<FaultCounters>) -> Self {
        Slicer {
            max_chunk: max_chunk.max(1),
            gap: Duration::from_micros(delay_us),
            counters,
        }
    }
}

impl Toxic for Slicer {
    fn link(&self, _link: &LinkInfo) -> Option<Box<dyn ToxicLink>> {
        self.counters.add_connections(1);
        Some(Box::new(SlicerLink {
            max_chunk: self.max_chunk,
            gap: self.gap,
            counters: self.counters.clone(),
        }))
    }
}

struct SlicerLink {
    max_chunk: usize,
    gap: Duration,
    counters: Arc<FaultCounters>,
}

impl ToxicLink for SlicerLink {
    fn on_chunk(&mut self, chunk: &mut [u8], _plan: &mut Plan) {
        self.counters.add_bytes(chunk.len() as u64);
    }

    fn shape(&self, shape: &mut Shape) {
        shape.piece = shape.piece.min(self.max_chunk);
        shape.gap = shape.gap.max(self.gap);
    }
}
