//! `invalid_payload`: the malformed requests of the service's protocol,
//! each on a fresh connection (a line protocol: random bytes, control
//! characters, invalid UTF-8, an unknown command, bad arguments, a blank
//! line; HTTP: garbage, a bad request line, version, header, length, path;
//! AMQP: garbage and a bad protocol header instead of the header, then an
//! unknown frame type, a 2 GiB frame, a bad frame end). After each, the
//! same connection is asked the probe request when it is still open, else
//! a new connection is. Detection: from the first malformed request to its
//! refusal. Recovery: from the last refusal to the probe answered on a
//! fresh connection. Expected: every malformed request refused cleanly (a
//! protocol error, or the close the protocol prescribes), and the handler
//! (or the service) still answering.

use super::{ScenarioCtx, Settings};
use chaos_engine::scenario::{Observation, Scenario};
use futures::future::BoxFuture;
use serde_json::json;
use std::time::{Duration, Instant};

const ASK: Duration = Duration::from_secs(2);
/// How long a refusal may take: some servers hold a close on bad input
/// back on purpose (a broker waits 3 s before closing a connection that
/// failed before it authenticated, to slow down probing).
const REFUSAL: Duration = Duration::from_secs(5);

/// Malformed requests; each must get a protocol error.
pub struct InvalidPayload;

impl Scenario<ScenarioCtx, Settings> for InvalidPayload {
    fn name(&self) -> &'static str {
        "invalid_payload"
    }

    fn fault(&self) -> &'static str {
        "malformed requests"
    }

    fn expected(&self, _settings: &Settings) -> String {
        "a protocol error for each malformed request; the handler survives (answers the probe next)"
            .into()
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let probe = match ctx.probe() {
                Ok(p) => p,
                Err(skip) => return *skip,
            };
            let payloads = probe.malformed();
            if payloads.is_empty() {
                return Observation::skipped(format!(
                    "the {} probe cannot tell a protocol error from a crash (name one that speaks the service's protocol with --probe)",
                    probe.kind()
                ));
            }
            let mut results = Vec::new();
            let mut detection = None;
            let mut last_error_at = None;
            let start = Instant::now();
            for m in &payloads {
                if ctx.stop.is_stopped() {
                    break;
                }
                let a = probe.send_malformed(m, REFUSAL).await;
                if a.protocol_error {
                    detection.get_or_insert(start.elapsed());
                    last_error_at = Some(Instant::now());
                }
                // Did the handler survive? The same connection, or (closed after its error) a new one.
                let survived = match a.same_connection_answers {
                    Some(yes) => yes,
                    None => a.protocol_error && probe.ask(ASK).await.is_ok(),
                };
                results.push((m.kind, a.said, a.protocol_error, survived));
            }
            let from = last_error_at.unwrap_or_else(Instant::now);
            let recovery = super::poll_until(
                from,
                ctx.settings.recovery,
                Duration::from_millis(20),
                || async { probe.ask(ASK).await.is_ok() },
            )
            .await;
            let bad: Vec<String> = results
                .iter()
                .filter(|(_, _, e, s)| !(*e && *s))
                .map(|(k, said, e, s)| {
                    format!(
                        "{k}: answered {said:?}{}",
                        match (e, s) {
                            (false, _) => ", not a clean refusal",
                            (true, false) => ", and the handler did not answer after",
                            _ => "",
                        }
                    )
                })
                .collect();
            let observed = if bad.is_empty() {
                format!(
                    "{} malformed {} requests, each refused cleanly ({}); the service answered the probe after each",
                    results.len(),
                    probe.kind(),
                    results
                        .iter()
                        .map(|(k, said, _, _)| format!("{k}: {said}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!(
                    "{} of {} malformed requests not handled cleanly: {}",
                    bad.len(),
                    results.len(),
                    bad.join("; ")
                )
            };
            Observation::judged(
                bad.is_empty() && results.len() == payloads.len() && recovery.is_some(),
                observed,
            )
            .detected(detection)
            .recovered(recovery)
            .with_measurements(json!(results
                .iter()
                .map(|(k, said, e, s)| json!({"payload": k, "answer": said, "protocol_error": e, "handler_survived": s}))
                .collect::<Vec<_>>()))
        })
    }
}
