//! Proxy faults as chaos operations (network category), for any target
//! whose context has proxies ([`ProxyHost`]). Each planned operation turns
//! one fault on, on one proxy and direction, for a bounded lifetime; the
//! fault ends by itself, and the engine also removes it when its hold is up,
//! when the run ends and when the monkey is stopped.

use crate::{Direction, Fault, FaultId, FaultKind, Proxy};
use chaos_engine::{Category, Effect, Operation, Outcome, Profile, SeededRng};
use futures_lite::future::Boxed;
use serde_json::{json, Value};
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

fn fault_of(kind: FaultKind, p: &Value) -> Fault {
    let u = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
    match kind {
        FaultKind::Latency => Fault::Latency {
            latency_ms: u("latency_ms"),
            jitter_ms: u("jitter_ms"),
            seed: u("seed"),
        },
        FaultKind::Bandwidth => Fault::Bandwidth {
            bytes_per_sec: u("bytes_per_sec"),
        },
        FaultKind::Stall => Fault::Stall,
        FaultKind::Reset => Fault::Reset,
        FaultKind::HalfOpen => Fault::HalfOpen,
        FaultKind::Slicer => Fault::Slicer {
            max_chunk: u("max_chunk") as usize,
            delay_us: u("delay_us"),
        },
        FaultKind::Corrupt => Fault::Corrupt {
            probability: p.get("probability").and_then(Value::as_f64).unwrap_or(0.0),
            seed: u("seed"),
        },
        FaultKind::Refuse => Fault::Refuse,
    }
}

/// Removes a fault from its proxy (a no-op when it already ended by itself).
struct RemoveFault {
    proxy: Proxy,
    id: FaultId,
    hold: Duration,
    what: String,
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
}

impl<C: ProxyHost + 'static> Operation<C> for ProxyFaultOp {
    fn name(&self) -> &'static str {
        self.name
    }

    fn category(&self) -> Category {
        Category::Network
    }

    fn describe(&self) -> &'static str {
        "turn a fault on in a TCP proxy in front of a service, for a bounded time"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> Value {
        let aggressive = profile == Profile::Aggressive;
        let lifetime = if aggressive {
            rng.range_inclusive(1_000, 20_000)
        } else {
            rng.range_inclusive(200, 3_000)
        };
        let mut p = json!({
            "proxy_pick": rng.range_inclusive(0, 1_000_000),
            "direction": direction(rng.range_inclusive(0, 2)),
            "lifetime_ms": lifetime,
        });
        match self.kind {
            FaultKind::Latency => {
                let max = if aggressive { 10_000 } else { 500 };
                let latency = rng.range_inclusive(1, max);
                p["latency_ms"] = json!(latency);
                p["jitter_ms"] = json!(rng.range_inclusive(0, latency / 2));
                p["seed"] = json!(rng.next_u64());
            }
            FaultKind::Bandwidth => {
                p["bytes_per_sec"] =
                    json!(rng
                        .range_inclusive(1_024, if aggressive { 64 * 1024 } else { 1024 * 1024 }));
            }
            FaultKind::Slicer => {
                p["max_chunk"] = json!(rng.range_inclusive(1, 64));
                p["delay_us"] =
                    json!(rng.range_inclusive(0, if aggressive { 10_000 } else { 1_000 }));
            }
            FaultKind::Corrupt => {
                let max = if aggressive { 0.5 } else { 0.05 };
                p["probability"] = json!(0.001 + rng.unit() * (max - 0.001));
                p["seed"] = json!(rng.next_u64());
            }
            FaultKind::Stall | FaultKind::Reset | FaultKind::HalfOpen | FaultKind::Refuse => {}
        }
        p
    }

    fn run<'a>(&'a self, ctx: &'a C, params: &'a Value) -> Boxed<Outcome> {
        let proxies = ctx.proxies().to_vec();
        let kind = self.kind;
        let params = params.clone();
        Box::pin(async move {
            if proxies.is_empty() {
                return Outcome::skipped("no fault proxy configured (--proxy LISTEN=UPSTREAM)");
            }
            let pick = params
                .get("proxy_pick")
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize;
            let proxy = proxies[pick % proxies.len()].clone();
            let dir: Direction =
                serde_json::from_value(params["direction"].clone()).unwrap_or(Direction::Both);
            let lifetime = Duration::from_millis(
                params
                    .get("lifetime_ms")
                    .and_then(Value::as_u64)
                    .unwrap_or(1000),
            );
            let fault = fault_of(kind, &params);
            let before = proxy.stats();
            let id = proxy.add_fault(fault.clone(), dir, lifetime);
            let active = proxy.active_faults().iter().any(|f| f.id == id);
            let after = proxy.stats();
            let place = format!("{} → {}", proxy.listen_addr(), proxy.upstream_addr());
            let what = format!("{kind} ({dir:?}) on proxy {place}");
            let live = after.connections_active;
            let effect = Box::new(RemoveFault {
                proxy: proxy.clone(),
                id,
                hold: lifetime,
                what: what.clone(),
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
                _ if active => Outcome::confirmed(format!(
                    "{what} active for {} ms, {live} live connection(s)",
                    lifetime.as_millis()
                ))
                .with_measurements(measurements)
                .with_effect(effect),
                _ => Outcome::failed(format!("{what}: the proxy did not report the fault active")),
            }
        })
    }
}
