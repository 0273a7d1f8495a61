//! `connection_leak`: open connections to the service, one after another,
//! up to 150 % of its `connection_limit` (100), asking the probe request on
//! each and keeping the accepted ones open. A connection counts as accepted
//! when it answers the probe, as refused when it gets a protocol error or
//! is closed. Detection: from the first connection to the first refusal.
//! Then every connection is closed. Recovery: from the close to the node's
//! TCP socket count back to where it was before and the service answering.
//! Expected: nothing accepted past the limit (refusal), recovery after.

use super::client::error_kind;
use super::{ScenarioCtx, Settings};
use crate::chaos::BeamTarget;
use crate::dist::json::to_json;
use chaos_engine::scenario::{Observation, Scenario};
use chaos_probe::Answer;
use futures::future::BoxFuture;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const ASK: Duration = Duration::from_secs(2);
/// Opening stops after this long (a service that accepts and never answers costs 2 s a connection).
const BUDGET: Duration = Duration::from_secs(30);

/// TCP sockets on the node that are not listening (connections).
pub(super) const TCP_CONNECTIONS: &str = r#"
length([P || P <- erlang:ports(), erlang:port_info(P, name) =:= {name, "tcp_inet"},
             case prim_inet:getstatus(P) of {ok, St} -> not lists:member(listen, St); _ -> false end]).
"#;

/// Open connections past the service's limit.
pub struct ConnectionLeak;

impl Scenario<ScenarioCtx, Settings> for ConnectionLeak {
    fn name(&self) -> &'static str {
        "connection_leak"
    }

    fn fault(&self) -> &'static str {
        "open connections up to the service's limit + 50%"
    }

    fn expected(&self, settings: &Settings) -> String {
        format!(
            "at most {} connections accepted of {} opened (refusal past the limit); the node's connections back to their count before, and the service answering, within {} ms after they close",
            settings.connection_limit,
            attempts(settings),
            settings.recovery.as_millis()
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
            let limit = ctx.settings.connection_limit as usize;
            let mut open = Vec::new();
            let mut refused: BTreeMap<String, usize> = BTreeMap::new();
            let mut first_refusal = None;
            let start = Instant::now();
            let mut cut_short = false;
            for i in 0..attempts(&ctx.settings) {
                if ctx.stop.is_stopped() {
                    break;
                }
                if start.elapsed() > BUDGET {
                    cut_short = true;
                    break;
                }
                let answer = match probe.open(ASK).await {
                    Ok(mut session) => match session.request(ASK).await {
                        Answer::Ok(_) => {
                            open.push(session);
                            continue;
                        }
                        other => other.what().to_string(),
                    },
                    Err(e) => format!("connect: {}", error_kind(&e)),
                };
                first_refusal.get_or_insert((i + 1, start.elapsed()));
                *refused.entry(answer).or_default() += 1;
            }
            let accepted = open.len();
            let peak = tcp_connections(&ctx.target).await.unwrap_or(0);
            drop(open);
            let closed = Instant::now();
            let sockets_now = std::sync::atomic::AtomicU64::new(peak);
            let recovery = super::poll_until(
                closed,
                ctx.settings.recovery,
                Duration::from_millis(20),
                || async {
                    match tcp_connections(&ctx.target).await {
                        Some(n) => {
                            sockets_now.store(n, std::sync::atomic::Ordering::Relaxed);
                            n <= sockets_before && probe.ask(ASK).await.is_ok()
                        }
                        None => false,
                    }
                },
            )
            .await;
            let refusals: usize = refused.values().sum();
            let observed = format!(
                "{accepted} of {} connections accepted, {refusals} refused ({}){}{}; node TCP connections {sockets_before} before, {peak} at the peak; {}",
                accepted + refusals,
                refused
                    .iter()
                    .map(|(k, n)| format!("{k}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                match first_refusal {
                    Some((n, d)) => format!(", the first refusal at connection {n}, {:.3} ms in", super::ms(d)),
                    None => ", no refusal".into(),
                },
                if cut_short {
                    format!(" (stopped opening after {} s)", BUDGET.as_secs())
                } else {
                    String::new()
                },
                match recovery {
                    Some(r) => format!("back to {} and answering {:.3} ms after closing", sockets_now.load(std::sync::atomic::Ordering::Relaxed), super::ms(r)),
                    None => format!("still {} connections {} ms after closing", sockets_now.load(std::sync::atomic::Ordering::Relaxed), ctx.settings.recovery.as_millis()),
                }
            );
            Observation::judged(
                accepted <= limit
                    && refusals > 0
                    && recovery.is_some_and(|r| r <= ctx.settings.recovery),
                observed,
            )
            .detected(first_refusal.map(|(_, d)| d))
            .recovered(recovery)
            .with_measurements(json!({
                "limit": limit, "opened": accepted + refusals, "accepted": accepted,
                "refused": refused, "first_refusal_at": first_refusal.map(|(n, _)| n),
                "node_connections_before": sockets_before, "node_connections_peak": peak,
            }))
        })
    }
}

fn attempts(settings: &Settings) -> usize {
    settings.connection_limit as usize * 3 / 2
}

/// The node's TCP connections (sockets that are not listening).
pub(super) async fn tcp_connections(t: &BeamTarget) -> Option<u64> {
    t.exec(TCP_CONNECTIONS, &[])
        .await
        .ok()
        .and_then(|n| to_json(&n).as_u64())
}
