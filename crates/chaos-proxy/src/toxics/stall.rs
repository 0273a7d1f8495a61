//! `stall`: stop forwarding while active, then resume with nothing lost.
//!
//! The pump stops reading and holds the chunk it has, so the kernel buffers
//! fill and the sender is pushed back by TCP flow control — what a client
//! sees when packets are being lost and retransmitted. When the fault ends,
//! the held data goes out and reading resumes.

use super::{LinkInfo, Toxic, ToxicLink};
use crate::stats::FaultCounters;
use std::sync::Arc;

pub(crate) struct Stall {
    counters: Arc<FaultCounters>,
}

impl Stall {
    pub fn new(counters: Arc<FaultCounters>) -> Self {
        Stall { counters }
    }
}

impl Toxic for Stall {
    fn link(&self, _link: &LinkInfo) -> Option<Box<dyn ToxicLink>> {
        self.counters.add_connections(1);
        Some(Box::new(StallLink {
            counters: self.counters.clone(),
        }))
    }
}

struct StallLink {
    counters: Arc<FaultCounters>,
}

impl ToxicLink for StallLink {
    fn holds(&self) -> bool {
        true
    }

    fn on_hold(&mut self, pending: usize) {
        self.counters.add_bytes(pending as u64);
    }
}
