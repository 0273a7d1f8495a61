//! `large_payload`: one request carrying `payload_factor` (100) times the
//! service's `max_request_bytes` (4096) — a line protocol's write
//! (`PUT chaos_monkey_large <value>`), an HTTP body to the write path (or a
//! `POST` to the probe path), an AMQP message published with a confirm —
//! written while its answer is read. Refused means a protocol error (a
//! `4xx`, a broker's nack or close), or the connection closed without
//! acknowledging it. Detection: from the first byte sent to the refusal.
//! Recovery: from the refusal to the probe request answered on a fresh
//! connection (the service, and a new handler, still work). Expected:
//! refused, the service still answering.

use super::{ScenarioCtx, Settings};
use chaos_engine::scenario::{Observation, Scenario};
use futures::future::BoxFuture;
use serde_json::json;
use std::time::{Duration, Instant};

const ASK: Duration = Duration::from_secs(2);
const ANSWER: Duration = Duration::from_secs(10);

/// A request far over the size limit.
pub struct LargePayload;

impl Scenario<ScenarioCtx, Settings> for LargePayload {
    fn name(&self) -> &'static str {
        "large_payload"
    }

    fn fault(&self) -> &'static str {
        "a request 100x the size limit"
    }

    fn expected(&self, settings: &Settings) -> String {
        format!(
            "a {}-byte request ({}x the {}-byte limit) refused; the service answering within {} ms after",
            size(settings),
            settings.payload_factor,
            settings.max_request_bytes,
            settings.recovery.as_millis()
        )
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let probe = match ctx.probe() {
                Ok(p) => p,
                Err(skip) => return *skip,
            };
            let start = Instant::now();
            let a = match probe.send_large(size(&ctx.settings) as usize, ANSWER).await {
                Ok(a) => a,
                Err(why) => return Observation::skipped(why),
            };
            let answered = start.elapsed();
            let refused_at = Instant::now();
            let recovery = super::poll_until(
                refused_at,
                ctx.settings.recovery,
                Duration::from_millis(20),
                || async { probe.ask(ASK).await.is_ok() },
            )
            .await;
            let (said, refused, wrote) = (&a.said, a.refused, &a.wrote);
            let observed = format!(
                "sent {} bytes{}: answered {said:?} after {:.3} ms ({}); {}",
                a.bytes,
                match wrote {
                    Ok(()) => String::new(),
                    Err(e) => format!(" (the write ended early: {e})"),
                },
                super::ms(answered),
                if refused { "refused" } else { "not refused" },
                match recovery {
                    Some(r) => format!("the service answered {:.3} ms later", super::ms(r)),
                    None => "the service did not answer after".into(),
                }
            );
            Observation::judged(refused && recovery.is_some(), observed)
                .detected(refused.then_some(answered))
                .recovered(recovery)
                .with_measurements(json!({
                    "bytes": a.bytes, "answer": said, "refused": refused,
                    "write_completed": wrote.is_ok(),
                }))
        })
    }
}

fn size(settings: &Settings) -> u64 {
    settings.max_request_bytes * settings.payload_factor
}
