//! `slow_consumer`: a client with a small receive window stores one big
//! value (`PUT chaos_monkey_slow_consumer <value just under the request
//! limit>`), then asks for it (`GET`) over and over for `load_duration`
//! (2 s) and never reads an answer, so the server's writes to it back up.
//! Other clients are the prober, asking the probe request every 20 ms.
//! Detection: from the first unread request to the first write of ours
//! that does not go through within 200 ms — the server stopped reading us
//! because its writes to us are stuck. Recovery: from closing the slow
//! client to the node's TCP connections back to their count before and a
//! probe answered. Expected: other clients unaffected — every probe
//! answered, p99 within `latency_objective` (500 ms).
//!
//! That is the line protocol's slow client. With another protocol the slow
//! client sends its probe's request again and again on one connection
//! (HTTP/1.1 pipelining) and reads nothing; a protocol with no such
//! request (a bare TCP probe, AMQP for now) is skipped, saying so.

use super::client::{within, Line, Watch};
use super::connection_leak::tcp_connections;
use super::{Protocol, ScenarioCtx};
use chaos_engine::scenario::{Observation, Scenario};
use futures::future::BoxFuture;
use futures::io::AsyncWriteExt;
use serde_json::json;
use std::time::{Duration, Instant};

const ASK: Duration = Duration::from_secs(2);
const STUCK: Duration = Duration::from_millis(200);
const KEY: &str = "chaos_monkey_slow_consumer";

/// A client that stops reading.
pub struct SlowConsumer;

impl Scenario<ScenarioCtx> for SlowConsumer {
    fn name(&self) -> &'static str {
        "slow_consumer"
    }

    fn fault(&self) -> &'static str {
        "a client that stops reading"
    }

    fn expected(&self, ctx: &ScenarioCtx) -> String {
        format!(
            "other clients unaffected while a client stops reading for {} ms: every probe answered, p99 at most {} ms",
            ctx.settings.load_duration.as_millis(),
            ctx.settings.latency_objective.as_millis()
        )
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let probe = match ctx.probe() {
                Ok(p) => p,
                Err(skip) => return *skip,
            };
            let addr = probe.addr();
            let p = &ctx.settings.protocol;
            let Some(sockets_before) = tcp_connections(&ctx.target).await else {
                return Observation::judged(false, "could not count the node's TCP connections");
            };
            let mut slow = match Line::connect_small_window(addr, 4096, ASK).await {
                Ok(l) => l,
                Err(e) => return Observation::judged(false, format!("could not connect: {e}")),
            };
            let (get, per_write, size) = if probe.kind() == "line" {
                let size = ctx
                    .settings
                    .max_request_bytes
                    .saturating_sub(64)
                    .clamp(16, 64 * 1024) as usize;
                let value = "s".repeat(size);
                match slow.ask(&Protocol::fill(&p.put, KEY, &value), ASK).await {
                    Ok(a) if p.put_ok.is_match(&a) => {}
                    other => {
                        return Observation::judged(
                            false,
                            format!("could not store the value to read: {other:?}"),
                        )
                    }
                }
                (
                    format!("{}\n", Protocol::fill(&p.get, KEY, &value))
                        .repeat(64)
                        .into_bytes(),
                    64,
                    size,
                )
            } else {
                match probe.pipelined() {
                    Some(one) => {
                        let size = one.len();
                        (one.repeat(16), 16, size)
                    }
                    None => {
                        return Observation::skipped(format!(
                            "the {} probe has no request that can be sent again and again without reading the answers",
                            probe.kind()
                        ))
                    }
                }
            };
            let watch = Watch::start(probe.clone());
            let start = watch.start;
            let mut stuck_at = None;
            let mut requests = 0u64;
            while start.elapsed() < ctx.settings.load_duration && !ctx.stop.is_stopped() {
                match within(STUCK, slow.writer().write_all(&get)).await {
                    Ok(()) => requests += per_write,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        stuck_at.get_or_insert(start.elapsed());
                    }
                    Err(_) => break,
                }
            }
            drop(slow);
            let closed = Instant::now();
            let sockets_now = std::sync::atomic::AtomicU64::new(0);
            let recovery = watch
                .recovery(
                    closed,
                    ctx.settings.recovery,
                    Duration::from_millis(20),
                    || async {
                        let n = tcp_connections(&ctx.target).await;
                        if let Some(n) = n {
                            sockets_now.store(n, std::sync::atomic::Ordering::Relaxed);
                        }
                        // The prober holds at most one connection of its own.
                        n.is_some_and(|n| n <= sockets_before + 1)
                    },
                )
                .await;
            let w = watch.window(closed).await;
            let observed = format!(
                "{requests} unread requests ({size} bytes each, or for a value of that size){}; other clients: {}; {}",
                match stuck_at {
                    Some(d) => format!(", the server stopped reading us {:.3} ms in", super::ms(d)),
                    None => ", the server never stopped reading us".into(),
                },
                w.describe(),
                match recovery {
                    Some(r) => format!("connections back and the service answering {:.3} ms after closing the slow client", super::ms(r)),
                    None => format!("{} connections on the node {} ms after closing (before: {sockets_before})", sockets_now.load(std::sync::atomic::Ordering::Relaxed), ctx.settings.recovery.as_millis()),
                }
            );
            Observation::judged(
                w.clean()
                    && w.p99 <= super::ms(ctx.settings.latency_objective)
                    && recovery.is_some_and(|r| r <= ctx.settings.recovery),
                observed,
            )
            .detected(stuck_at)
            .recovered(recovery)
            .with_measurements(json!({
                "unread_requests": requests, "value_bytes": size, "others": w.json(),
            }))
        })
    }
}
