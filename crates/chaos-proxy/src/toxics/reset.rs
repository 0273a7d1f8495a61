//! `reset`: at activation, reset every connection alive at that moment.
//!
//! Each connection's task is told to stop; it sets `SO_LINGER` to 0 (via
//! socket2's `SockRef`) on the side(s) the direction points to — the client
//! for `Downstream`, the server for `Upstream`, both for `Both` — and closes,
//! which sends RST instead of FIN. Connections accepted later are not touched,
//! even while the fault is still listed as active.

use super::{Activation, Toxic};
use crate::stats::FaultCounters;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

pub(crate) struct Reset {
    counters: Arc<FaultCounters>,
}

impl Reset {
    pub fn new(counters: Arc<FaultCounters>) -> Self {
        Reset { counters }
    }
}

impl Toxic for Reset {
    fn on_activate(&self, activation: &Activation<'_>) {
        let n = activation.conns.reset_all(activation.direction);
        self.counters.add_connections(n);
        activation.counters.reset.fetch_add(n, Relaxed);
    }
}
