//! `latency`: delay each chunk by `latency_ms` ± `jitter_ms`.
//!
//! The delay counts from the moment the pump read the chunk, so time spent
//! writing the previous chunk is not added twice. Several latency faults on
//! the same direction add up.

use super::{LinkInfo, Plan, Toxic, ToxicLink};
use crate::fault::{MAX_LATENCY, MIN_LATENCY};
use crate::stats::FaultCounters;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Latency {
    latency_us: u64,
    jitter_us: u64,
    seed: u64,
    counters: Arc<FaultCounters>,
}

impl Latency {
    pub fn new(latency_ms: u64, jitter_ms: u64, seed: u64, counters: Arc<FaultCounters>) -> Self {
        Latency {
            latency_us: latency_ms.saturating_mul(1000),
            jitter_us: jitter_ms.saturating_mul(1000),
            seed,
            counters,
        }
    }
}

impl Toxic for Latency {
    fn link(&self, link: &LinkInfo) -> Option<Box<dyn ToxicLink>> {
        self.counters.add_connections(1);
        Some(Box::new(LatencyLink {
            latency_us: self.latency_us,
            jitter_us: self.jitter_us,
            rng: link.rng(self.seed),
            counters: self.counters.clone(),
        }))
    }
}

struct LatencyLink {
    latency_us: u64,
    jitter_us: u64,
    rng: ChaCha8Rng,
    counters: Arc<FaultCounters>,
}

impl LatencyLink {
    fn sample(&mut self) -> Duration {
        let us = if self.jitter_us == 0 {
            self.latency_us
        } else {
            let lo = self.latency_us.saturating_sub(self.jitter_us);
            let hi = self.latency_us.saturating_add(self.jitter_us);
            self.rng.random_range(lo..=hi)
        };
        Duration::from_micros(us).clamp(MIN_LATENCY, MAX_LATENCY)
    }
}

impl ToxicLink for LatencyLink {
    fn on_chunk(&mut self, chunk: &mut [u8], plan: &mut Plan) {
        plan.delay += self.sample();
        self.counters.add_bytes(chunk.len() as u64);
    }
}
