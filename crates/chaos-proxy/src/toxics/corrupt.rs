//! `corrupt`: change bytes in flight with a given probability.
//!
//! For every byte the link draws whether to change it and, if so, XORs it
//! with a random non-zero mask, so a chosen byte always differs. The draws
//! come from a ChaCha8 stream fixed by (seed, connection number, direction)
//! and are made byte by byte, so the outcome does not depend on how the
//! stream was cut into chunks.

use super::{LinkInfo, Plan, Toxic, ToxicLink};
use crate::stats::FaultCounters;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

pub(crate) struct Corrupt {
    probability: f64,
    seed: u64,
    counters: Arc<FaultCounters>,
}

impl Corrupt {
    pub fn new(probability: f64, seed: u64, counters: Arc<FaultCounters>) -> Self {
        Corrupt {
            probability,
            seed,
            counters,
        }
    }
}

impl Toxic for Corrupt {
    fn link(&self, link: &LinkInfo) -> Option<Box<dyn ToxicLink>> {
        self.counters.add_connections(1);
        Some(Box::new(CorruptLink {
            probability: self.probability,
            rng: link.rng(self.seed),
            counters: self.counters.clone(),
        }))
    }
}

struct CorruptLink {
    probability: f64,
    rng: ChaCha8Rng,
    counters: Arc<FaultCounters>,
}

impl ToxicLink for CorruptLink {
    fn on_chunk(&mut self, chunk: &mut [u8], _plan: &mut Plan) {
        if self.probability <= 0.0 {
            return;
        }
        let mut changed = 0u64;
        for byte in chunk.iter_mut() {
            if self.rng.random_bool(self.probability) {
                *byte ^= self.rng.random_range(1..=255u8);
                changed += 1;
            }
        }
        self.counters.add_bytes(changed);
    }
}
