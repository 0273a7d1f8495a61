//! `invalid_payload`: malformed requests, one after another on one
//! connection: random bytes, control characters, invalid UTF-8, an unknown
//! command, a known command with bad arguments, a blank line. After each
//! the same connection is asked the probe request, to see that its handler
//! survived (a new connection is opened if the server closed it after its
//! error line). Detection: from the first malformed request to its error
//! answer. Recovery: from the last error answer to the probe answered on a
//! fresh connection. Expected: every malformed request answered with a
//! protocol error, and the handler (or the service) still answering.

use super::client::{error_kind, Line};
use super::ScenarioCtx;
use chaos_engine::scenario::{Observation, Scenario};
use futures::future::BoxFuture;
use serde_json::json;
use std::time::{Duration, Instant};

const ASK: Duration = Duration::from_secs(2);

/// Malformed requests; each must get a protocol error.
pub struct InvalidPayload;

fn payloads() -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = chaos_engine::SeededRng::new(8);
    let random: Vec<u8> = (0..64)
        .map(|_| rng.range_inclusive(0, 255) as u8)
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    vec![
        ("random_bytes", random),
        ("control_characters", b"\x01\x02PING\x7f".to_vec()),
        (
            "invalid_utf8",
            b"PUT chaos_monkey_bad \xff\xfe\xfd".to_vec(),
        ),
        ("unknown_command", b"FROBNICATE the service".to_vec()),
        ("bad_arguments", b"PUT only_a_key".to_vec()),
        ("blank_line", b"   ".to_vec()),
    ]
}

impl Scenario<ScenarioCtx> for InvalidPayload {
    fn name(&self) -> &'static str {
        "invalid_payload"
    }

    fn fault(&self) -> &'static str {
        "malformed requests"
    }

    fn expected(&self, _ctx: &ScenarioCtx) -> String {
        "a protocol error for each malformed request; the handler survives (answers the probe next)"
            .into()
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let addr = match ctx.service() {
                Ok(a) => a,
                Err(skip) => return *skip,
            };
            let p = &ctx.settings.protocol;
            let mut conn = None;
            let mut results = Vec::new();
            let mut detection = None;
            let mut last_error_at = None;
            let start = Instant::now();
            for (kind, payload) in payloads() {
                if ctx.stop.is_stopped() {
                    break;
                }
                if conn.is_none() {
                    conn = Line::connect(addr, ASK).await.ok();
                }
                let Some(line) = conn.as_mut() else {
                    results.push((kind, "no connection".to_string(), false, false));
                    continue;
                };
                let answer = super::client::within(ASK, async {
                    line.send(&payload).await?;
                    line.read().await
                })
                .await;
                let (said, protocol_error) = match &answer {
                    Ok(a) => (a.clone(), p.error.is_match(a)),
                    Err(e) => (error_kind(e), false),
                };
                if protocol_error {
                    detection.get_or_insert(start.elapsed());
                    last_error_at = Some(Instant::now());
                }
                // Did the handler survive? Ask the probe on the same connection.
                let survived = match line.ask(&p.ping, ASK).await {
                    Ok(a) => p.pong.is_match(&a),
                    Err(_) => {
                        // Closed after its error line: a clean close, if a new connection works.
                        conn = None;
                        protocol_error && p.answers(addr).await
                    }
                };
                results.push((kind, said, protocol_error, survived));
            }
            drop(conn);
            let from = last_error_at.unwrap_or_else(Instant::now);
            let recovery = super::poll_until(
                from,
                ctx.settings.recovery,
                Duration::from_millis(20),
                || p.answers(addr),
            )
            .await;
            let bad: Vec<String> = results
                .iter()
                .filter(|(_, _, e, s)| !(*e && *s))
                .map(|(k, said, e, s)| {
                    format!(
                        "{k}: answered {said:?}{}",
                        match (e, s) {
                            (false, _) => ", not a protocol error",
                            (true, false) => ", and the handler did not answer after",
                            _ => "",
                        }
                    )
                })
                .collect();
            let observed = if bad.is_empty() {
                format!(
                    "{} malformed requests, each answered with a protocol error ({}); the handler answered the probe after each",
                    results.len(),
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
                bad.is_empty() && results.len() == payloads().len() && recovery.is_some(),
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
