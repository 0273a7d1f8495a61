//! `network_partition`: a fault proxy (chaos-proxy) is put in front of the
//! service on a free loopback port, a prober asks the service's probe
//! request through it every 20 ms, then all traffic through the proxy is
//! cut for `partition` (2 s): every open connection is reset, new ones are
//! refused, and anything that still gets through is black-holed both ways.
//! Detection: from the cut to the first probe that fails. Recovery: from
//! the faults' removal to the first probe answered. Expected: clients see
//! errors during the partition, and the service answers again within
//! `recovery` (5 s) after it. The proxy is shut down at the end (its
//! faults end with it).

use super::client::Prober;
use super::{ScenarioCtx, Settings};
use chaos_engine::scenario::{Observation, Scenario};
use chaos_probe::Probe;
use chaos_proxy::{Direction, Fault, Proxy};
use futures::future::BoxFuture;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ASK: Duration = Duration::from_millis(500);

/// Cut all traffic to the service through a proxy.
pub struct NetworkPartition;

impl Scenario<ScenarioCtx, Settings> for NetworkPartition {
    fn name(&self) -> &'static str {
        "network_partition"
    }

    fn fault(&self) -> &'static str {
        "cut all traffic through a proxy in front of the service"
    }

    fn expected(&self, settings: &Settings) -> String {
        format!(
            "clients see errors during the {} ms partition; the service answers again within {} ms after it",
            settings.partition.as_millis(),
            settings.recovery.as_millis()
        )
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let probe = match ctx.probe() {
                Ok(p) => p,
                Err(skip) => return *skip,
            };
            let proxy = match Proxy::start(([127, 0, 0, 1], 0).into(), probe.addr()).await {
                Ok(p) => p,
                Err(e) => return Observation::judged(false, format!("no proxy: {e}")),
            };
            let obs = partition(ctx, probe.at(proxy.listen_addr()), &proxy).await;
            proxy.shutdown().await;
            obs
        })
    }
}

async fn partition(ctx: &ScenarioCtx, through: Arc<dyn Probe>, proxy: &Proxy) -> Observation {
    let prober = Prober::every_20ms(through, ASK);
    let start = Instant::now();
    if prober
        .wait_for(start, ctx.settings.recovery, |s| s.ok)
        .await
        .is_none()
    {
        prober.stop().await;
        return Observation::judged(
            false,
            "the service did not answer through the proxy before the partition",
        );
    }
    let len = ctx.settings.partition;
    let cut = Instant::now();
    let faults = [
        proxy.add_fault(Fault::Reset, Direction::Both, len),
        proxy.add_fault(Fault::Refuse, Direction::Both, len),
        proxy.add_fault(Fault::HalfOpen, Direction::Both, len),
    ];
    let first_error = prober.wait_for(cut, len, |s| !s.ok).await;
    let detection = first_error.as_ref().map(|s| s.done - cut);
    ctx.pause(len.saturating_sub(cut.elapsed())).await;
    for f in faults {
        proxy.remove_fault(f);
    }
    let healed = Instant::now();
    let back = prober
        .wait_for(healed, ctx.settings.recovery, |s| s.ok)
        .await;
    let recovery = back.as_ref().map(|s| s.done - healed);
    let samples = prober.stop().await;
    let during: Vec<_> = samples
        .iter()
        .filter(|s| s.sent >= cut && s.done <= healed)
        .collect();
    let failed = during.iter().filter(|s| !s.ok).count();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for s in during.iter().filter(|s| !s.ok) {
        *kinds.entry(s.what.clone()).or_default() += 1;
    }
    let observed = format!(
        "through proxy {}: {failed} of {} probes during the {} ms partition failed ({}){}; {}",
        proxy.listen_addr(),
        during.len(),
        super::ms(healed - cut) as u64,
        kinds
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        match detection {
            Some(d) => format!(", the first {:.3} ms after the cut", super::ms(d)),
            None => String::new(),
        },
        match recovery {
            Some(r) => format!(
                "answered again {:.3} ms after the partition ended",
                super::ms(r)
            ),
            None => format!(
                "no answer within {} ms after the partition ended",
                ctx.settings.recovery.as_millis()
            ),
        }
    );
    Observation::judged(
        detection.is_some() && recovery.is_some_and(|r| r <= ctx.settings.recovery),
        observed,
    )
    .detected(detection)
    .recovered(recovery)
    .with_measurements(json!({
        "proxy": proxy.listen_addr().to_string(),
        "probes_during": during.len(),
        "failed_during": failed,
        "errors": kinds,
    }))
}
