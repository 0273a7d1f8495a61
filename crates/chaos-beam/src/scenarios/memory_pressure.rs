//! `memory_pressure`: a helper on the node holds a binary of
//! `memory_percent` (20 %) of the node's memory for `memory_hold` (2 s),
//! with the same snippet as the `hold_binary` operation (released through
//! its helper; it frees itself at a deadline or when the monkey's lease
//! ends). The service is probed every 20 ms meanwhile. Detection: from the
//! memory held (the allocation itself not counted) to the node reporting
//! the raised memory. Recovery:
//! from the release to the node's memory back (within a tenth of the
//! increase) and the service answering. Expected: every probe answered, or
//! refused with a protocol error, during the pressure.

use super::client::Watch;
use super::{ScenarioCtx, Settings};
use crate::chaos::helper::DEADLINE_MARGIN;
use crate::chaos::ops::hold_binary::SNIPPET;
use crate::chaos::{BeamTarget, Reply};
use crate::dist::json::to_json;
use crate::dist::term::int;
use chaos_engine::scenario::{Observation, Scenario};
use chaos_engine::Effect;
use futures::future::BoxFuture;
use serde_json::json;
use std::time::{Duration, Instant};

/// Raise the node's memory with a held binary.
pub struct MemoryPressure;

impl Scenario<ScenarioCtx, Settings> for MemoryPressure {
    fn name(&self) -> &'static str {
        "memory_pressure"
    }

    fn fault(&self) -> &'static str {
        "raise node memory with held binaries"
    }

    fn expected(&self, settings: &Settings) -> String {
        format!(
            "with node memory {} % higher for {} ms the service keeps answering or refuses cleanly; memory back within {} ms",
            settings.memory_percent,
            settings.memory_hold.as_millis(),
            settings.recovery.as_millis()
        )
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let probe = match ctx.probe() {
                Ok(p) => p,
                Err(skip) => return *skip,
            };
            let t = &ctx.target;
            let Some(before) = memory(t).await else {
                return Observation::judged(false, "could not read the node's memory");
            };
            let bytes = before * u64::from(ctx.settings.memory_percent) / 100;
            let hold = ctx.settings.memory_hold;
            let watch = Watch::start(probe.clone());
            let start = watch.start;
            let reply = t
                .reply(
                    SNIPPET,
                    &[
                        ("SizeBytes", int(bytes as i64)),
                        ("HoldMs", int(hold.as_millis() as i64)),
                        (
                            "DeadlineMs",
                            int((hold + DEADLINE_MARGIN).as_millis() as i64),
                        ),
                    ],
                )
                .await;
            let effect = reply.helper().map(|h| {
                t.held_by(h, hold, format!("{bytes}-byte binary held"))
                    .ends_with_helper()
            });
            let Some(effect) = effect else {
                watch.window(Instant::now()).await;
                let why = match reply {
                    Reply::Failed(d) | Reply::Skipped(d) | Reply::Unconfirmed(d, _) => d,
                    _ => "no helper".into(),
                };
                return Observation::judged(false, format!("could not hold the memory: {why}"));
            };
            // Detection: the node reports the raised memory — timed from the
            // moment the helper holds it, so the allocation itself is not counted.
            let held = Instant::now();
            let mut detection = None;
            let mut peak = before;
            while start.elapsed() < hold {
                if let Some(m) = memory(t).await {
                    peak = peak.max(m);
                    if detection.is_none() && m >= before + bytes * 9 / 10 {
                        detection = Some(held.elapsed());
                    }
                }
                if detection.is_some() || ctx.stop.is_stopped() {
                    break;
                }
                smol::Timer::after(Duration::from_millis(5)).await;
            }
            ctx.pause(hold.saturating_sub(start.elapsed())).await;
            let undo = effect.undo().await;
            let released = Instant::now();
            let last = std::sync::atomic::AtomicU64::new(peak);
            let recovery = watch
                .recovery(
                    released,
                    ctx.settings.recovery,
                    Duration::from_millis(10),
                    || async {
                        let m = memory(t).await;
                        if let Some(m) = m {
                            last.store(m, std::sync::atomic::Ordering::Relaxed);
                        }
                        m.is_some_and(|m| m <= before + bytes / 10)
                    },
                )
                .await;
            let w = watch.window(released).await;
            let observed = format!(
                "held {} MB ({} % of {} MB){}; during: {}; {}",
                bytes / 1_000_000,
                ctx.settings.memory_percent,
                before / 1_000_000,
                match detection {
                    Some(d) => format!(", seen on the node after {:.3} ms", super::ms(d)),
                    None => ", never seen on the node".into(),
                },
                w.describe(),
                match (&undo, recovery) {
                    (Err(e), _) => format!("release failed: {e}"),
                    (Ok(()), Some(r)) =>
                        format!("memory back {:.3} ms after the release", super::ms(r)),
                    (Ok(()), None) => format!(
                        "memory still at {} MB after the release",
                        last.load(std::sync::atomic::Ordering::Relaxed) / 1_000_000
                    ),
                }
            );
            Observation::judged(
                w.clean() && undo.is_ok() && recovery.is_some_and(|r| r <= ctx.settings.recovery),
                observed,
            )
            .detected(detection)
            .recovered(recovery)
            .with_measurements(json!({
                "bytes": bytes, "node_memory_before": before, "node_memory_peak": peak,
                "probes": w.json(),
            }))
        })
    }
}

/// The node's total memory, bytes.
pub(super) async fn memory(t: &BeamTarget) -> Option<u64> {
    t.exec("erlang:memory(total).", &[])
        .await
        .ok()
        .and_then(|m| to_json(&m).as_u64())
}
