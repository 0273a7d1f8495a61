//! Proxy faults as chaos operations (network category), for any target
//! whose context has proxies ([`ProxyHost`]). Each planned operation turns
//! one fault on, on one proxy and direction, for a bounded lifetime; the
//! fault ends by itself, and the engine also removes it when its hold is up,
//! when the run ends and when the monkey is stopped.

use crate::stats::FaultCounters;
use crate::{Direction, Fault, FaultId, FaultKind, Proxy};
use chaos_engine::{
    Category, Effect, Operation, Outcome, Profile, SeededRng, Status, TypedOperation, Verdict,
};
use futures_lite::future::Boxed;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A target context with fault proxies in front of its services.
pub trait ProxyHost: Send + Sync {
    /// The proxies of this run (may be empty).
    fn proxies(&self) -> &[Proxy];
}

/// Turn one kind of proxy fault on for a while.
pub struct ProxyFaultOp {
    kind: FaultKind,
    name: &'static str,
}

/// One operation per fault kind.
pub fn proxy_ops<C: ProxyHost + 'static>() -> Vec<Arc<dyn Operation<C>>> {
    [
        (FaultKind::Latency, "proxy_latency"),
        (FaultKind::Bandwidth, "proxy_bandwidth"),
        (FaultKind::Stall, "proxy_stall"),
        (FaultKind::Reset, "proxy_reset"),
        (FaultKind::HalfOpen, "proxy_half_open"),
        (FaultKind::Slicer, "proxy_slicer"),
        (FaultKind::Corrupt, "proxy_corrupt"),
        (FaultKind::Refuse, "proxy_refuse"),
    ]
    .into_iter()
    .map(|(kind, name)| Arc::new(ProxyFaultOp { kind, name }) as Arc<dyn Operation<C>>)
    .collect()
}

fn direction(n: u64) -> Direction {
    match n {
        0 => Direction::Upstream,
        1 => Direction::Downstream,
        _ => Direction::Both,
    }
}

/// The parameters of one proxy fault: which proxy, which direction, for how
/// long, and the fault itself (tagged by `kind`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ProxyFaultParams {
    /// Picks the proxy (modulo their number).
    pub proxy_pick: u64,
    /// Which way the fault applies.
    pub direction: Direction,
    /// How long the fault stays on.
    pub lifetime_ms: u64,
    /// The fault.
    #[serde(flatten)]
    pub fault: Fault,
}

/// Removes a fault from its proxy (a no-op when it already ended by itself),
/// then judges its operation by the traffic it touched while it was on: a
/// fault nothing went through did nothing.
struct RemoveFault {
    proxy: Proxy,
    id: FaultId,
    hold: Duration,
    what: String,
    /// The fault's own counters, taken while it was active.
    touched: Arc<FaultCounters>,
    kind: FaultKind,
    added: std::time::Instant,
}

impl Effect for RemoveFault {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn hold(&self) -> Duration {
        self.hold
    }

    fn undo(&self) -> Boxed<Result<(), String>> {
        self.proxy.remove_fault(self.id);
        Box::pin(async { Ok(()) })
    }

    fn judged_when_undone(&self) -> bool {
        true
    }

    fn verdict(&self) -> Option<Verdict> {
        let (bytes, conns) = (self.touched.bytes(), self.touched.connections());
        let on_ms = self.added.elapsed().as_millis() as u64;
        let what = &self.what;
        let (status, detail) = match (self.kind, conns, bytes) {
            (_, 0, 0) => (
                Status::Unconfirmed,
                format!("{what}: unconfirmed: no traffic while it was on ({on_ms} ms)"),
            ),
            (FaultKind::Refuse, n, _) => (
                Status::Confirmed,
                format!("{what}: {n} connection(s) refused in {on_ms} ms"),
            ),
            (_, n, b) => (
                Status::Confirmed,
                format!(
                    "{what}: touched {n} connection direction(s), {b} byte(s) {} in {on_ms} ms",
                    touched_bytes(self.kind)
                ),
            ),
        };
        Some(Verdict {
            status,
            detail,
            measurements: json!({
                "touched_connections": conns,
                "touched_bytes": bytes,
                "on_ms": on_ms,
            }),
        })
    }
}

/// What a fault's byte counter counts (see [`crate::FaultStats`]).
fn touched_bytes(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Latency => "delayed",
        FaultKind::Bandwidth => "throttled",
        FaultKind::Stall => "held back",
        FaultKind::HalfOpen => "dropped",
        FaultKind::Slicer => "sliced",
        FaultKind::Corrupt => "changed",
        FaultKind::Reset | FaultKind::Refuse => "",
    }
}

impl<C: ProxyHost + 'static> TypedOperation<C> for ProxyFaultOp {
    type Params = ProxyFaultParams;

    fn name(&self) -> &'static str {
        self.name
    }

    fn category(&self) -> Category {
        Category::Network
    }

    fn describe(&self) -> &'static str {
        "turn a fault on in a TCP proxy in front of a service, for a bounded time"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> ProxyFaultParams {
        let aggressive = profile == Profile::Aggressive;
        let lifetime = if aggressive {
            rng.range_inclusive(1_000, 20_000)
        } else {
            rng.range_inclusive(200, 3_000)
        };
        let proxy_pick = rng.range_inclusive(0, 1_000_000);
        let direction = direction(rng.range_inclusive(0, 2));
        let fault = match self.kind {
            FaultKind::Latency => {
                let max = if aggressive { 10_000 } else { 500 };
                let latency_ms = rng.range_inclusive(1, max);
                Fault::Latency {
                    latency_ms,
                    jitter_ms: rng.range_inclusive(0, latency_ms / 2),
                    seed: rng.next_u64(),
                }
            }
            FaultKind::Bandwidth => Fault::Bandwidth {
                bytes_per_sec: rng
                    .range_inclusive(1_024, if aggressive { 64 * 1024 } else { 1024 * 1024 }),
            },
            FaultKind::Slicer => Fault::Slicer {
                max_chunk: rng.range_inclusive(1, 64) as usize,
                delay_us: rng.range_inclusive(0, if aggressive { 10_000 } else { 1_000 }),
            },
            FaultKind::Corrupt => {
                let max = if aggressive { 0.5 } else { 0.05 };
                Fault::Corrupt {
                    probability: 0.001 + rng.unit() * (max - 0.001),
                    seed: rng.next_u64(),
                }
            }
            FaultKind::Stall => Fault::Stall,
            FaultKind::Reset => Fault::Reset,
            FaultKind::HalfOpen => Fault::HalfOpen,
            FaultKind::Refuse => Fault::Refuse,
        };
        ProxyFaultParams {
            proxy_pick,
            direction,
            lifetime_ms: lifetime,
            fault,
        }
    }

    fn run<'a>(&'a self, ctx: &'a C, params: ProxyFaultParams) -> Boxed<Outcome> {
        let proxies = ctx.proxies().to_vec();
        let kind = self.kind;
        Box::pin(async move {
            if proxies.is_empty() {
                return Outcome::skipped("no fault proxy configured (--proxy LISTEN=UPSTREAM)");
            }
            if params.fault.kind() != kind {
                return Outcome::failed(format!(
                    "bad parameters: a {} fault for the {kind} operation",
                    params.fault.kind()
                ));
            }
            let proxy = proxies[params.proxy_pick as usize % proxies.len()].clone();
            let dir = params.direction;
            let lifetime = Duration::from_millis(params.lifetime_ms);
            let fault = params.fault;
            let before = proxy.stats();
            let added = std::time::Instant::now();
            let id = proxy.add_fault(fault.clone(), dir, lifetime);
            let touched = proxy.counters_of(id);
            let after = proxy.stats();
            let place = format!("{} → {}", proxy.listen_addr(), proxy.upstream_addr());
            let what = format!("{kind} ({dir:?}) on proxy {place}");
            let live = after.connections_active;
            let effect = touched.map(|touched| {
                Box::new(RemoveFault {
                    proxy: proxy.clone(),
                    id,
                    hold: lifetime,
                    what: what.clone(),
                    touched,
                    kind,
                    added,
                })
            });
            let measurements =
                json!({ "live_connections": live, "lifetime_ms": lifetime.as_millis() as u64 });
            match kind {
                FaultKind::Reset => {
                    let reset = after
                        .connections_reset
                        .saturating_sub(before.connections_reset);
                    let detail = format!("{what}: {reset} live connection(s) reset");
                    if reset > 0 {
                        Outcome::confirmed(detail)
                            .with_measurements(json!({ "connections_reset": reset }))
                    } else {
                        Outcome::unconfirmed(format!("{detail} (none was open)"))
                    }
                }
                // Judged when it ends, by the traffic it touched (RemoveFault::verdict).
                _ => match effect {
                    Some(effect) => Outcome::confirmed(format!(
                        "{what} on for {} ms, {live} live connection(s)",
                        lifetime.as_millis()
                    ))
                    .with_measurements(measurements)
                    .with_effect(effect),
                    None => Outcome::failed(format!(
                        "{what}: the proxy did not report the fault active"
                    )),
                },
            }
        })
    }
}
