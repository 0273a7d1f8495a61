//! `cpu_saturation`: one busy process per online scheduler, at normal
//! priority (competing with the service's own processes, not starving them
//! outright), for `load_duration` (2 s) — the `scheduler_contention`
//! operation's snippet, which ends its spinners by itself and confirms each
//! by its exit. The prober asks the probe request every 20 ms throughout
//! and for 300 ms before, for a baseline. Detection: from the spinners'
//! start to the first probe slower than twice the baseline p99 (+1 ms).
//! Recovery: from the spinners' end to the first probe back under that.
//! Expected: the service answers every probe, p99 within
//! `latency_objective` (500 ms).

use super::client::{latency_ms, Watch};
use super::{ScenarioCtx, Settings};
use crate::chaos::ops::scheduler_contention::SNIPPET;
use crate::chaos::Reply;
use crate::dist::term::{atom, int};
use chaos_engine::scenario::{Observation, Scenario};
use futures::future::BoxFuture;
use serde_json::json;
use std::time::{Duration, Instant};

const ASK: Duration = Duration::from_secs(5);

/// Keep every scheduler busy.
pub struct CpuSaturation;

impl Scenario<ScenarioCtx, Settings> for CpuSaturation {
    fn name(&self) -> &'static str {
        "cpu_saturation"
    }

    fn fault(&self) -> &'static str {
        "busy processes on every scheduler"
    }

    fn expected(&self, settings: &Settings) -> String {
        format!(
            "the service answers every probe during {} ms of busy schedulers, p99 at most {} ms",
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
            let mut watch = Watch::with_limit(probe.clone(), ASK);
            let calm = watch.start;
            ctx.pause(Duration::from_millis(300)).await;
            watch.start = Instant::now();
            let start = watch.start;
            let baseline: Vec<_> = watch
                .prober()
                .samples()
                .into_iter()
                .filter(|s| s.sent >= calm)
                .collect();
            let (_, base_p99, _) = latency_ms(&baseline);
            let slow = Duration::from_secs_f64((2.0 * base_p99 + 1.0) / 1e3);
            // The spinners end by themselves after BusyMs; the snippet returns when all have.
            let reply = ctx
                .target
                .reply(
                    SNIPPET,
                    &[
                        ("BusyMs", int(ctx.settings.load_duration.as_millis() as i64)),
                        ("Priority", atom("normal")),
                    ],
                )
                .await;
            let ended = Instant::now();
            let detection = watch
                .prober()
                .wait_for(start, Duration::ZERO, |s| s.ok && s.latency() > slow)
                .await
                .map(|s| s.done - start);
            let back = watch
                .prober()
                .wait_for(ended, ctx.settings.recovery, |s| {
                    s.ok && s.latency() <= slow
                })
                .await;
            let recovery = back.map(|s| s.done - ended);
            let w = watch.window(ended).await;
            let spun = match &reply {
                Reply::Confirmed(d, _, _) => Ok(d.clone()),
                Reply::Unconfirmed(d, _)
                | Reply::Failed(d)
                | Reply::Skipped(d)
                | Reply::Guarded(d) => Err(d.clone()),
                Reply::Gone => Err("gone".into()),
            };
            let observed = format!(
                "{}; during: {} (baseline p99 {base_p99} ms){}; {}",
                match &spun {
                    Ok(d) => d.clone(),
                    Err(d) => format!("the spinners were not confirmed: {d}"),
                },
                w.describe(),
                match detection {
                    Some(d) => format!("; the first slow probe {:.3} ms in", super::ms(d)),
                    None => "; no probe slower than twice the baseline".into(),
                },
                match recovery {
                    Some(r) => format!(
                        "latency back {:.3} ms after the spinners ended",
                        super::ms(r)
                    ),
                    None => "latency not back".into(),
                }
            );
            Observation::judged(
                spun.is_ok()
                    && w.clean()
                    && w.p99 <= super::ms(ctx.settings.latency_objective)
                    && recovery.is_some(),
                observed,
            )
            .detected(detection)
            .recovered(recovery)
            .with_measurements(json!({
                "spinners": match &reply { Reply::Confirmed(_, m, _) => m.clone(), _ => json!(null) },
                "baseline_p99_ms": base_p99, "probes": w.json(),
            }))
        })
    }
}
