//! `half_open`: one direction goes silent while the other keeps working.
//!
//! Bytes in the faulty direction are read and thrown away: the sender's
//! writes keep succeeding (no backpressure), the receiver hears nothing —
//! like a peer that vanished without closing. Unlike `stall`, what was sent
//! meanwhile is lost; bytes sent after the fault ends arrive normally.

use super::{LinkInfo, Plan, Toxic, ToxicLink};
use crate::stats::FaultCounters;
use std::sync::Arc;

pub(crate) struct HalfOpen {
    counters: Arc<FaultCounters>,
}

impl HalfOpen {
    pub fn new(counters: Arc<FaultCounters>) -> Self {
        HalfOpen { counters }
    }
}

impl Toxic for HalfOpen {
    fn link(&self, _link: &LinkInfo) -> Option<Box<dyn ToxicLink>> {
        self.counters.add_connections(1);
        Some(Box::new(HalfOpenLink {
            counters: self.counters.clone(),
        }))
    }
}

struct HalfOpenLink {
    counters: Arc<FaultCounters>,
}

impl ToxicLink for HalfOpenLink {
    fn on_chunk(&mut self, chunk: &mut [u8], plan: &mut Plan) {
        plan.drop = true;
        self.counters.add_bytes(chunk.len() as u64);
    }
}
