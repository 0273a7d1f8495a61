//! What a proxy's handle, accept loop, connections and timers share: the
//! addresses, the registry of active and ended faults, the live
//! connections and the counters; ending faults.

use crate::fault::{Direction, Fault, FaultId};
use crate::live::Connections;
use crate::stats::{Counters, FaultCounters, FaultStats, FAULT_HISTORY};
use crate::toxics::Toxic;
use event_listener::Event;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// State shared by the handle, the accept loop, connections and timers.
pub(crate) struct Shared {
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
    pub registry: Mutex<Registry>,
    /// Bumped (under the registry lock) on every change of the active faults.
    pub generation: AtomicU64,
    /// Notified after every change of the active faults.
    pub changed: Event,
    /// How many active faults refuse new connections.
    pub refusing: AtomicUsize,
    pub conns: Connections,
    pub counters: Counters,
    pub next_fault: AtomicU64,
    pub closing: AtomicBool,
}

pub(crate) struct ActiveFault {
    pub id: FaultId,
    pub fault: Fault,
    pub direction: Direction,
    pub lifetime: Duration,
    pub deadline: Instant,
    pub toxic: Arc<dyn Toxic>,
    pub counters: Arc<FaultCounters>,
}

impl ActiveFault {
    pub(crate) fn stats(&self, active: bool) -> FaultStats {
        FaultStats {
            id: self.id,
            kind: self.fault.kind(),
            direction: self.direction,
            active,
            bytes: self.counters.bytes(),
            connections: self.counters.connections(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    pub active: Vec<ActiveFault>,
    pub ended: VecDeque<FaultStats>,
}

impl Registry {
    pub fn active(&self) -> &[ActiveFault] {
        &self.active
    }
}

impl Shared {
    pub(crate) fn end_fault(&self, id: FaultId) -> bool {
        {
            let mut registry = self.registry.lock().unwrap();
            let Some(pos) = registry.active.iter().position(|f| f.id == id) else {
                return false;
            };
            let fault = registry.active.remove(pos);
            self.retire(&mut registry, fault);
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        tracing::info!(%id, "fault ended");
        self.changed.notify(usize::MAX);
        true
    }

    /// End the faults whose lifetime is up but whose timer has not fired
    /// yet, so that what callers see matches what the proxy does.
    pub(crate) fn end_expired(&self) {
        let now = Instant::now();
        let expired: Vec<FaultId> = {
            let registry = self.registry.lock().unwrap();
            registry
                .active
                .iter()
                .filter(|f| f.deadline <= now)
                .map(|f| f.id)
                .collect()
        };
        for id in expired {
            self.end_fault(id);
        }
    }

    pub(crate) fn end_all_faults(&self) {
        {
            let mut registry = self.registry.lock().unwrap();
            let faults = std::mem::take(&mut registry.active);
            for fault in faults {
                self.retire(&mut registry, fault);
            }
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        self.changed.notify(usize::MAX);
    }

    /// Book-keeping for a fault just taken out of the active list.
    pub(crate) fn retire(&self, registry: &mut Registry, fault: ActiveFault) {
        if fault.toxic.refuses() {
            self.refusing.fetch_sub(1, Ordering::AcqRel);
        }
        if registry.ended.len() == FAULT_HISTORY {
            registry.ended.pop_front();
        }
        registry.ended.push_back(fault.stats(false));
    }

    /// Whether a refusing fault is active; counts the refusal if so.
    pub(crate) fn refuse_one(&self) -> bool {
        if self.refusing.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.end_expired();
        let registry = self.registry.lock().unwrap();
        let mut refused = false;
        for fault in registry.active.iter().filter(|f| f.toxic.refuses()) {
            fault.counters.add_connections(1);
            refused = true;
        }
        if refused {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
        }
        refused
    }
}
