//! `slow_consumer`: a client with a small receive window makes the
//! service write to it and never reads — its probe's [`SlowClient`]: with
//! a line protocol it stores one big value (`PUT chaos_monkey_slow_consumer
//! <value just under the request limit>`) and asks for it (`GET`) over and
//! over; with HTTP it pipelines its request; with AMQP it consumes (no
//! acks) a queue a publisher keeps filling — for `load_duration` (2 s).
//! Other clients are the prober, asking the probe request every 20 ms.
//! Detection: from the first push to the first sign that the service
//! stopped serving the slow client (a write of ours that does not go
//! through within 200 ms; a broker keeping messages queued). Recovery: from
//! closing the slow client to the node's TCP connections back to their
//! count before and a probe answered. Expected: other clients unaffected —
//! every probe answered, p99 within `latency_objective` (500 ms). A bare
//! TCP probe has no such client: skipped, saying so.
//!
//! [`SlowClient`]: chaos_probe::SlowClient

use super::client::Watch;
use super::connection_leak::tcp_connections;
use super::{ScenarioCtx, Settings};
use chaos_engine::scenario::{Observation, Scenario};
use futures::future::BoxFuture;
use serde_json::json;
use std::time::{Duration, Instant};

const ASK: Duration = Duration::from_secs(2);
const STUCK: Duration = Duration::from_millis(200);

/// A client that stops reading.
pub struct SlowConsumer;

impl Scenario<ScenarioCtx, Settings> for SlowConsumer {
    fn name(&self) -> &'static str {
        "slow_consumer"
    }

    fn fault(&self) -> &'static str {
        "a client that stops reading"
    }

    fn expected(&self, settings: &Settings) -> String {
        format!(
            "other clients unaffected while a client stops reading for {} ms: every probe answered, p99 at most {} ms",
            settings.load_duration.as_millis(),
            settings.latency_objective.as_millis()
        )
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let probe = match ctx.probe() {
                Ok(p) => p,
                Err(skip) => return *skip,
            };
            let Some(sockets_before) = tcp_connections(&ctx.target).await else {
                return Observation::judged(false, "could not count the node's TCP connections");
            };
            let size = ctx
                .settings
                .max_request_bytes
                .saturating_sub(64)
                .clamp(16, 64 * 1024) as usize;
            let mut slow = match probe.slow_client(size, ASK).await {
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    return Observation::judged(false, format!("could not set up the slow client: {e}"))
                }
                None => {
                    return Observation::skipped(format!(
                        "the {} probe cannot make a service push answers at a client (name one that speaks the service's protocol with --probe)",
                        probe.kind()
                    ))
                }
            };
            let watch = Watch::start(probe.clone());
            let start = watch.start;
            let mut stuck_at = None;
            let mut requests = 0u64;
            while start.elapsed() < ctx.settings.load_duration && !ctx.stop.is_stopped() {
                match slow.push(STUCK).await {
                    Ok(p) => {
                        requests += p.requests;
                        if p.stuck {
                            stuck_at.get_or_insert(start.elapsed());
                            // Stuck: keep it so, without piling more on.
                            smol::Timer::after(Duration::from_millis(20)).await;
                        }
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
                "{requests} unread requests (answers of about {size} bytes){}; other clients: {}; {}",
                match stuck_at {
                    Some(d) => format!(", the server stopped serving us {:.3} ms in", super::ms(d)),
                    None => ", the server never stopped serving us".into(),
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
