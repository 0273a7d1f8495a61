//! [`Proxy`]: start, the accept loop, the fault registry, stats, shutdown.
//!
//! The registry is a small mutex-protected list of active faults. Every
//! change bumps a generation counter (under the lock) and wakes whoever waits
//! on `changed`; pumps compare the generation with theirs once per chunk and
//! only then look at the registry. Each fault has a detached timer task that
//! ends it when its lifetime is up (holding only a weak reference, so a
//! forgotten timer keeps nothing alive); reading the faults, the stats or
//! deciding on a refusal also ends any fault whose time is up, so that no
//! caller sees a fault that should be over.
//!
//! [`Proxy`] is a cheap handle (`Clone`, `Send`, `Sync`). Dropping the last
//! handle without [`Proxy::shutdown`] stops accepting and closes every
//! connection, without waiting.

use crate::conn;
use crate::fault::{Direction, Fault, FaultId, FaultInfo, MAX_LIFETIME};
use crate::live::{Connections, KILL_CLOSE};
use crate::shared::{ActiveFault, Shared};
use crate::stats::{Counters, FaultCounters, FaultStats, ProxyStats};
use crate::toxics::{self, Activation};
use event_listener::Event;
use smol::{Async, Task, Timer};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `role` is `"listen"` or `"upstream"`.
    #[error(
        "{role} address {addr} is not a loopback address: only 127.0.0.0/8 and ::1 are allowed"
    )]
    NotLoopback {
        role: &'static str,
        addr: SocketAddr,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// A running fault-injecting proxy. See the [crate docs](crate).
#[derive(Clone)]
pub struct Proxy {
    handle: Arc<Handle>,
}

/// Owned by the [`Proxy`] handles only: dropping it stops the proxy.
struct Handle {
    shared: Arc<Shared>,
    accept: Mutex<Option<Task<()>>>,
}

fn check_loopback(role: &'static str, addr: SocketAddr) -> Result<(), ProxyError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(ProxyError::NotLoopback { role, addr })
    }
}

impl Proxy {
    /// Bind `listen` and forward every connection to `upstream`. Both must be
    /// loopback addresses; port 0 picks a free port (see
    /// [`listen_addr`](Self::listen_addr)). The upstream is not contacted
    /// until a client connects.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> Result<Proxy, ProxyError> {
        check_loopback("listen", listen)?;
        check_loopback("upstream", upstream)?;
        let bind_err = |source| ProxyError::Bind {
            addr: listen,
            source,
        };
        let listener = Async::<TcpListener>::bind(listen).map_err(bind_err)?;
        let local = listener.get_ref().local_addr().map_err(bind_err)?;
        let shared = Arc::new(Shared {
            listen: local,
            upstream,
            registry: Mutex::default(),
            generation: AtomicU64::new(0),
            changed: Event::new(),
            refusing: AtomicUsize::new(0),
            conns: Connections::default(),
            counters: Counters::default(),
            next_fault: AtomicU64::new(1),
            closing: AtomicBool::new(false),
        });
        let accept = smol::spawn(accept_loop(shared.clone(), listener));
        tracing::info!(listen = %local, %upstream, "proxy started");
        Ok(Proxy {
            handle: Arc::new(Handle {
                shared,
                accept: Mutex::new(Some(accept)),
            }),
        })
    }

    /// The address the proxy listens on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.handle.shared.listen
    }

    /// The address connections are forwarded to.
    pub fn upstream_addr(&self) -> SocketAddr {
        self.handle.shared.upstream
    }

    /// Start `fault` on `direction` now; it ends by itself after `lifetime`
    /// (at most [`MAX_LIFETIME`]). Parameters out of range are clamped (see
    /// [`Fault::normalized`]). After [`shutdown`](Self::shutdown) the fault
    /// is not activated, but an id is still returned.
    pub fn add_fault(&self, fault: Fault, direction: Direction, lifetime: Duration) -> FaultId {
        let shared = &self.handle.shared;
        let fault = fault.normalized();
        let lifetime = lifetime.min(MAX_LIFETIME);
        let id = FaultId(shared.next_fault.fetch_add(1, Ordering::Relaxed));
        if shared.closing.load(Ordering::Acquire) {
            return id;
        }
        let counters = Arc::new(FaultCounters::default());
        let toxic = toxics::build(&fault, counters.clone());
        let deadline = Instant::now() + lifetime;
        tracing::info!(%id, kind = %fault.kind(), %direction, ?lifetime, "fault added");
        {
            let mut registry = shared.registry.lock().unwrap();
            if toxic.refuses() {
                shared.refusing.fetch_add(1, Ordering::AcqRel);
            }
            registry.active.push(ActiveFault {
                id,
                fault,
                direction,
                lifetime,
                deadline,
                toxic: toxic.clone(),
                counters,
            });
            shared.generation.fetch_add(1, Ordering::AcqRel);
        }
        shared.changed.notify(usize::MAX);
        toxic.on_activate(&Activation {
            direction,
            conns: &shared.conns,
            counters: &shared.counters,
        });
        let weak = Arc::downgrade(shared);
        smol::spawn(async move {
            Timer::at(deadline).await;
            if let Some(shared) = weak.upgrade() {
                shared.end_fault(id);
            }
        })
        .detach();
        id
    }

    /// End a fault now. Returns whether it was active.
    pub fn remove_fault(&self, id: FaultId) -> bool {
        self.handle.shared.end_fault(id)
    }

    /// The counters of a fault added by [`add_fault`](Self::add_fault),
    /// while it is active (`None` after it ended: keep them from then).
    pub(crate) fn counters_of(&self, id: FaultId) -> Option<Arc<FaultCounters>> {
        let registry = self.handle.shared.registry.lock().unwrap();
        registry
            .active
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.counters.clone())
    }

    /// The faults active now, oldest first.
    pub fn active_faults(&self) -> Vec<FaultInfo> {
        let shared = &self.handle.shared;
        shared.end_expired();
        let now = Instant::now();
        let registry = shared.registry.lock().unwrap();
        registry
            .active
            .iter()
            .map(|f| FaultInfo {
                id: f.id,
                kind: f.fault.kind(),
                fault: f.fault.clone(),
                direction: f.direction,
                lifetime: f.lifetime,
                remaining: f.deadline.saturating_duration_since(now),
            })
            .collect()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ProxyStats {
        let shared = &self.handle.shared;
        shared.end_expired();
        let c = &shared.counters;
        let faults = {
            let registry = shared.registry.lock().unwrap();
            let mut faults: Vec<FaultStats> = registry.ended.iter().cloned().collect();
            faults.extend(registry.active.iter().map(|f| f.stats(true)));
            faults.sort_by_key(|f| f.id);
            faults
        };
        ProxyStats {
            listen_addr: shared.listen,
            upstream_addr: shared.upstream,
            connections_accepted: c.accepted.load(Ordering::Relaxed),
            connections_active: c.active.load(Ordering::Relaxed),
            connections_refused: c.refused.load(Ordering::Relaxed),
            connections_reset: c.reset.load(Ordering::Relaxed),
            upstream_connect_failures: c.connect_failures.load(Ordering::Relaxed),
            bytes_upstream: c.bytes_up.load(Ordering::Relaxed),
            bytes_downstream: c.bytes_down.load(Ordering::Relaxed),
            faults,
        }
    }

    /// End every fault, stop accepting and release the port, close every
    /// connection (FIN, not RST) and wait until all are gone. Idempotent;
    /// the other handles see a stopped proxy.
    pub async fn shutdown(&self) {
        let shared = &self.handle.shared;
        shared.closing.store(true, Ordering::Release);
        let accept = self.handle.accept.lock().unwrap().take();
        if let Some(accept) = accept {
            // Returns once the accept loop, and with it the listener, is dropped.
            accept.cancel().await;
        }
        // Kill first: a stall that ends must not let held data through.
        shared.conns.kill_all(KILL_CLOSE);
        shared.end_all_faults();
        shared.conns.wait_empty().await;
        tracing::info!(listen = %shared.listen, "proxy shut down");
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The accept task is cancelled as it drops with us.
        self.shared.closing.store(true, Ordering::Release);
        self.shared.conns.kill_all(KILL_CLOSE);
        self.shared.end_all_faults();
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: Async<TcpListener>) {
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Typically out of file descriptors: back off a little.
                tracing::warn!(listen = %shared.listen, "accept failed: {e}");
                Timer::after(Duration::from_millis(20)).await;
                continue;
            }
        };
        if shared.refuse_one() {
            tracing::debug!(%peer, "connection refused");
            conn::linger_zero(&client);
            continue;
        }
        let _ = client.get_ref().set_nodelay(true);
        let (id, ctl) = shared.conns.register();
        shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
        shared.counters.active.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(conn = id, %peer, "connection accepted");
        smol::spawn(conn::serve(shared.clone(), id, ctl, client)).detach();
    }
}
