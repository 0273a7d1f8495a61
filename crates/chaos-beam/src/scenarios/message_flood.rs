//! `message_flood`: first the normal rate is measured (what one client
//! gets acknowledged, one request at a time, over 500 ms), then `flood_factor` (10×) that rate is
//! sent at the service's port for `flood_duration` (2 s): 4 connections
//! writing the service's write request (`PUT chaos_monkey_flood x`) in
//! batches every 10 ms without waiting for answers, while readers count
//! the answers. Every 50 ms the node is asked for its longest message
//! queue. Detection: from the flood's start to the first sign that the
//! service holds back (a protocol-error answer such as `ERR rate_limited`)
//! or a queue over `mailbox_bound` (1,000). The flood stops early once a
//! queue passes the bound (the verdict is in). Recovery: from the flood's
//! end to every queue back under the bound and the service answering.
//! Expected: no queue past the bound (rate limiting or bounded queues).
//!
//! That is the line protocol's flood (pipelined writes). A service of
//! another protocol is flooded through its probe's sessions instead:
//! `flood_factor` connections (at most 64), each sending the probe's
//! request (an HTTP request, an AMQP round trip) at the normal rate per
//! connection; refusals (`429`, `503`, a broker's close) count as holding back.

use super::{Protocol, ScenarioCtx, Settings};
use crate::chaos::BeamTarget;
use crate::dist::json::to_json;
use crate::line::Line;
use chaos_engine::scenario::{Observation, Scenario};
use chaos_probe::{Answer, Probe, Session};
use futures::future::BoxFuture;
use futures::io::{AsyncBufReadExt, AsyncWriteExt};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 4;
const TICK: Duration = Duration::from_millis(10);
const ASK: Duration = Duration::from_secs(2);

/// The longest message queue on the node (not counting the asking process).
const LONGEST_QUEUE: &str = r#"
Me = self(),
Qs = [{L, P} || P <- erlang:processes(), P =/= Me,
               {message_queue_len, L} <- [erlang:process_info(P, message_queue_len)]],
{L, P} = lists:max([{0, Me} | Qs]),
Name = case erlang:process_info(P, registered_name) of {registered_name, N} -> N; _ -> null end,
#{len => L, pid => list_to_binary(erlang:pid_to_list(P)), name => Name}.
"#;

/// Ten times the normal request rate at the service's port.
pub struct MessageFlood;

impl Scenario<ScenarioCtx, Settings> for MessageFlood {
    fn name(&self) -> &'static str {
        "message_flood"
    }

    fn fault(&self) -> &'static str {
        "10x the normal request rate at the service's port"
    }

    fn expected(&self, settings: &Settings) -> String {
        format!(
            "rate limiting or bounded queues: no message queue on the node past {} during a {}x flood; queues drained and the service answering within {} ms after",
            settings.mailbox_bound,
            settings.flood_factor,
            settings.recovery.as_millis()
        )
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let probe = match ctx.probe() {
                Ok(p) => p,
                Err(skip) => return *skip,
            };
            let addr = probe.addr();
            let pipelined_lines = probe.kind() == "line";
            let p = &ctx.settings.protocol;
            let request = Protocol::fill(&p.put, "chaos_monkey_flood", "x");
            let normal = if pipelined_lines {
                normal_rate(addr, &request, p).await
            } else {
                session_rate(probe.as_ref()).await
            };
            let normal = match normal {
                Ok(r) => r,
                Err(e) => {
                    return Observation::judged(
                        false,
                        format!("could not measure the normal rate: {e}"),
                    )
                }
            };
            let rate = normal * ctx.settings.flood_factor;
            let counts = Arc::new(Counts::default());
            let stop = Arc::new(AtomicBool::new(false));
            let mut tasks = Vec::new();
            let start = Instant::now();
            let sessions = (ctx.settings.flood_factor.ceil() as usize).clamp(1, 64);
            for _ in 0..sessions {
                if pipelined_lines {
                    break;
                }
                match probe.open(ASK).await {
                    Ok(session) => tasks.push(smol::spawn(session_flood(
                        session,
                        rate / sessions as f64,
                        stop.clone(),
                        start,
                        counts.clone(),
                    ))),
                    Err(e) => {
                        *counts.conn_errors.lock().unwrap() += 1;
                        tracing::debug!(error = %e, "flood connection failed");
                    }
                }
            }
            for _ in 0..CONNECTIONS {
                if !pipelined_lines {
                    break;
                }
                match Line::connect(addr, ASK).await {
                    Ok(line) => {
                        let (reader, writer) = line.split();
                        tasks.push(smol::spawn(write_flood(
                            writer,
                            format!("{request}\n"),
                            rate / CONNECTIONS as f64,
                            stop.clone(),
                            counts.clone(),
                        )));
                        tasks.push(smol::spawn(read_answers(
                            reader,
                            p.clone(),
                            start,
                            counts.clone(),
                        )));
                    }
                    Err(e) => {
                        *counts.conn_errors.lock().unwrap() += 1;
                        tracing::debug!(error = %e, "flood connection failed");
                    }
                }
            }
            // Watch the node's queues while the flood runs.
            let bound = ctx.settings.mailbox_bound;
            let mut longest = Value::Null;
            let mut longest_len = 0;
            let mut over_at = None;
            while start.elapsed() < ctx.settings.flood_duration && !ctx.stop.is_stopped() {
                if let Some(q) = longest_queue(&ctx.target).await {
                    let len = q["len"].as_u64().unwrap_or(0);
                    if len > longest_len {
                        longest_len = len;
                        longest = q;
                    }
                    if len > bound {
                        over_at.get_or_insert(start.elapsed());
                        break;
                    }
                }
                smol::Timer::after(Duration::from_millis(50)).await;
            }
            stop.store(true, Ordering::SeqCst);
            let ended = Instant::now();
            let flood_len = ended - start;
            for t in tasks {
                t.cancel().await;
            }
            // Every connection is closed now. Recovery: queues drained, the service answering.
            let last_len = std::sync::atomic::AtomicU64::new(longest_len);
            let recovery = super::poll_until(
                ended,
                ctx.settings.recovery,
                Duration::from_millis(20),
                || async {
                    match longest_queue(&ctx.target).await {
                        Some(q) => {
                            last_len.store(
                                q["len"].as_u64().unwrap_or(0),
                                std::sync::atomic::Ordering::Relaxed,
                            );
                            last_len.load(std::sync::atomic::Ordering::Relaxed) <= bound
                                && probe.ask(ASK).await.is_ok()
                        }
                        None => false,
                    }
                },
            )
            .await;
            let sent = counts.sent.load(Ordering::Relaxed);
            let ok = counts.ok.load(Ordering::Relaxed);
            let errors = counts.errors.lock().unwrap().clone();
            let refused: u64 = errors.values().sum();
            let first_error = *counts.first_error.lock().unwrap();
            let detection = match (first_error, over_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let observed = format!(
                "normal rate {normal:.0} req/s, flood {rate:.0} req/s offered over {} connections for {} ms: {sent} sent, {ok} acknowledged, {refused} refused ({}); longest queue {longest_len}{}{}; {}",
                if pipelined_lines { CONNECTIONS } else { sessions },
                flood_len.as_millis(),
                errors
                    .iter()
                    .map(|(k, n)| format!("{k}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                match longest["name"].as_str() {
                    Some(n) => format!(" ({n})"),
                    None => longest["pid"].as_str().map(|p| format!(" ({p})")).unwrap_or_default(),
                },
                if over_at.is_some() {
                    format!(", past the bound of {bound}: flood stopped early")
                } else {
                    String::new()
                },
                match recovery {
                    Some(r) => format!("queues under {bound} and the service answering {:.3} ms after the flood", super::ms(r)),
                    None => format!("longest queue still {} {} ms after the flood", last_len.load(std::sync::atomic::Ordering::Relaxed), ctx.settings.recovery.as_millis()),
                }
            );
            Observation::judged(
                longest_len <= bound
                    && sent > 0
                    && recovery.is_some_and(|r| r <= ctx.settings.recovery),
                observed,
            )
            .detected(detection)
            .recovered(recovery)
            .with_measurements(json!({
                "normal_rate": normal, "flood_rate": rate, "sent": sent, "acknowledged": ok,
                "refused": errors, "longest_queue": longest, "mailbox_bound": bound,
                "flood_ms": super::ms(flood_len),
            }))
        })
    }
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    ok: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    first_error: Mutex<Option<Duration>>,
    conn_errors: Mutex<u64>,
}

/// Requests per second one client gets acknowledged, one request at a time,
/// over 500 ms (protocol-error answers, like a rate limit's, are not counted).
async fn normal_rate(
    addr: std::net::SocketAddr,
    request: &str,
    p: &Protocol,
) -> std::io::Result<f64> {
    let mut line = Line::connect(addr, ASK).await?;
    let t0 = Instant::now();
    let mut acked = 0u64;
    while t0.elapsed() < Duration::from_millis(500) {
        let a = line.ask(request, ASK).await?;
        if p.put_ok.is_match(&a) {
            acked += 1;
        } else if !p.error.is_match(&a) {
            return Err(std::io::Error::other(format!(
                "{request:?} was answered {a:?}"
            )));
        }
    }
    if acked == 0 {
        return Err(std::io::Error::other(format!(
            "no {request:?} was acknowledged in 500 ms"
        )));
    }
    Ok(acked as f64 / t0.elapsed().as_secs_f64())
}

/// Requests per second one session gets answered, one at a time, over 500 ms.
async fn session_rate(probe: &dyn Probe) -> std::io::Result<f64> {
    let mut s = probe.open(ASK).await?;
    let t0 = Instant::now();
    let mut answered = 0u64;
    while t0.elapsed() < Duration::from_millis(500) {
        match s.request(ASK).await {
            Answer::Ok(_) => answered += 1,
            Answer::Refused(_) => {}
            Answer::Failed(w) => {
                return Err(std::io::Error::other(format!(
                    "the probe request failed: {w}"
                )))
            }
        }
    }
    if answered == 0 {
        return Err(std::io::Error::other("no request answered in 500 ms"));
    }
    Ok(answered as f64 / t0.elapsed().as_secs_f64())
}

/// One session's share of the flood: requests at `rate` per second (as
/// fast as answered, at most), each answer counted.
async fn session_flood(
    mut session: Box<dyn Session>,
    rate: f64,
    stop: Arc<AtomicBool>,
    start: Instant,
    counts: Arc<Counts>,
) {
    let t0 = Instant::now();
    let mut sent = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let due = (t0.elapsed().as_secs_f64() * rate) as u64;
        if due <= sent {
            smol::Timer::after(TICK).await;
            continue;
        }
        sent += 1;
        counts.sent.fetch_add(1, Ordering::Relaxed);
        let key = match session.request(ASK).await {
            Answer::Ok(_) => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Answer::Refused(w) => w,
            Answer::Failed(w) => format!("other: {w}"),
        };
        *counts
            .errors
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default() += 1;
        counts
            .first_error
            .lock()
            .unwrap()
            .get_or_insert(start.elapsed());
        if key.starts_with("other: closed") || key.starts_with("other: reset") {
            return;
        }
    }
}

async fn write_flood(
    mut w: smol::net::TcpStream,
    request: String,
    rate: f64,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    let t0 = Instant::now();
    let mut sent = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let due = (t0.elapsed().as_secs_f64() * rate) as u64;
        if due > sent {
            let batch = (due - sent).min(10_000);
            let buf = request.repeat(batch as usize);
            if w.write_all(buf.as_bytes()).await.is_err() {
                return;
            }
            sent += batch;
            counts.sent.fetch_add(batch, Ordering::Relaxed);
        }
        smol::Timer::after(TICK).await;
    }
}

async fn read_answers(
    mut r: futures::io::BufReader<smol::net::TcpStream>,
    p: Protocol,
    start: Instant,
    counts: Arc<Counts>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let a = line.trim_end();
        if p.put_ok.is_match(a) {
            counts.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            let key = if p.error.is_match(a) {
                a.to_string()
            } else {
                format!("other: {a}")
            };
            *counts.errors.lock().unwrap().entry(key).or_default() += 1;
            counts
                .first_error
                .lock()
                .unwrap()
                .get_or_insert(start.elapsed());
        }
    }
}

async fn longest_queue(t: &BeamTarget) -> Option<Value> {
    t.exec(LONGEST_QUEUE, &[]).await.ok().map(|q| to_json(&q))
}
