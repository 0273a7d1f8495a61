//! `large_payload`: one write request (`PUT chaos_monkey_large <value>`)
//! of `payload_factor` (100) times the service's `max_request_bytes`
//! (4096), written while its answer is read. Refused means a protocol-error
//! answer, or the connection closed without acknowledging it. Detection:
//! from the first byte sent to the refusal. Recovery: from the refusal to
//! the probe request answered on a fresh connection (the service, and a
//! new handler, still work). Expected: refused, the service still answering.

use super::client::{error_kind, read_line, within, Line};
use super::{Protocol, ScenarioCtx};
use chaos_engine::scenario::{Observation, Scenario};
use futures::future::BoxFuture;
use futures::io::AsyncWriteExt;
use serde_json::json;
use std::time::{Duration, Instant};

const ASK: Duration = Duration::from_secs(2);
const ANSWER: Duration = Duration::from_secs(10);

/// A request far over the size limit.
pub struct LargePayload;

impl Scenario<ScenarioCtx> for LargePayload {
    fn name(&self) -> &'static str {
        "large_payload"
    }

    fn fault(&self) -> &'static str {
        "a request 100x the size limit"
    }

    fn expected(&self, ctx: &ScenarioCtx) -> String {
        format!(
            "a {}-byte request ({}x the {}-byte limit) refused; the service answering within {} ms after",
            size(ctx),
            ctx.settings.payload_factor,
            ctx.settings.max_request_bytes,
            ctx.settings.recovery.as_millis()
        )
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let addr = match ctx.service() {
                Ok(a) => a,
                Err(skip) => return *skip,
            };
            let p = &ctx.settings.protocol;
            let request = format!(
                "{}\n",
                Protocol::fill(
                    &p.put,
                    "chaos_monkey_large",
                    &"L".repeat(size(ctx) as usize)
                )
            );
            let line = match Line::connect(addr, ASK).await {
                Ok(l) => l,
                Err(e) => return Observation::judged(false, format!("could not connect: {e}")),
            };
            let (mut reader, mut writer) = line.split();
            let start = Instant::now();
            // Write and read at once: the server may answer (and stop reading) before the end.
            let write = async {
                let r = writer.write_all(request.as_bytes()).await;
                let _ = writer.flush().await;
                r
            };
            let read = read_line(&mut reader);
            let (wrote, answer) = match within(ANSWER, async {
                Ok(futures::future::join(write, read).await)
            })
            .await
            {
                Ok(both) => both,
                Err(e) => (Err(std::io::Error::other("not written")), Err(e)),
            };
            let answered = start.elapsed();
            drop((reader, writer));
            let (said, refused) = match &answer {
                Ok(a) if p.error.is_match(a) => (a.clone(), true),
                Ok(a) => (a.clone(), false),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => (error_kind(e), false),
                Err(e) => (
                    format!("closed without acknowledging ({})", error_kind(e)),
                    true,
                ),
            };
            let refused_at = Instant::now();
            let recovery = super::poll_until(
                refused_at,
                ctx.settings.recovery,
                Duration::from_millis(20),
                || p.answers(addr),
            )
            .await;
            let observed = format!(
                "sent {} bytes{}: answered {said:?} after {:.3} ms ({}); {}",
                request.len(),
                match &wrote {
                    Ok(()) => String::new(),
                    Err(e) => format!(" (the write ended early: {})", error_kind(e)),
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
                    "bytes": request.len(), "answer": said, "refused": refused,
                    "write_completed": wrote.is_ok(),
                }))
        })
    }
}

fn size(ctx: &ScenarioCtx) -> u64 {
    ctx.settings.max_request_bytes * ctx.settings.payload_factor
}
