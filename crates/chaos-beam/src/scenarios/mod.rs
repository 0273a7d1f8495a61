//! The structured scenario suite against a BEAM node: eleven named faults,
//! one small type per file behind [`chaos_engine::scenario::Scenario`], each
//! with a stated expectation, measured detection and recovery times.
//!
//! * [`ScenarioCtx`] — what every scenario runs with: the [`BeamTarget`],
//!   the service's address, the [`Settings`] (thresholds), the stop signal;
//! * `harness` — what every scenario shares: the steady-state check before,
//!   probe writes and reads (data loss), the recovery wait and the
//!   supervision snapshot after (cascading failures);
//! * `client` — line-protocol clients and the background prober;
//! * one file per scenario; [`all`] lists them in the order they run.
//!
//! Every fault is undone before its scenario returns, also when the stop
//! signal (Ctrl-C) is raised: waits end early, undo steps always run.
//! Effects on the node are held by helpers that undo themselves if the
//! monkey is gone; connections close when dropped; proxies are shut down;
//! files are removed by a guard.

mod client;
mod connection_leak;
mod cpu_saturation;
mod disk_pressure;
#[cfg(test)]
mod example;
mod harness;
mod invalid_payload;
mod large_payload;
mod memory_pressure;
mod message_flood;
mod network_partition;
mod process_crash;
mod slow_consumer;
mod supervisor_cascade;

use crate::chaos::BeamTarget;
use crate::services::{self, GuessView, Listener};
use chaos_engine::scenario::{Observation, Scenario, ScenarioResult};
use chaos_engine::StopSignal;
use chaos_probe::guess::guess;
use chaos_probe::Probe;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use disk_pressure::remove_fill_files;
pub use harness::run_one;

/// The line protocol's templates (the `line` probe's; `[scenarios]` ping, pong, …).
pub use chaos_probe::LineProtocol as Protocol;

/// Ask `ready` every `every` until it says yes, at most until `limit`
/// after `from`: the time from `from` to the yes.
pub(crate) async fn poll_until<F, Fut>(
    from: Instant,
    limit: Duration,
    every: Duration,
    mut ready: F,
) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if ready().await {
            return Some(from.elapsed());
        }
        if from.elapsed() >= limit {
            return None;
        }
        smol::Timer::after(every).await;
    }
}

/// Thresholds and sizes; every one configurable (flags or `[scenarios]`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The service under test (loopback), its protocol guessed; `None`:
    /// discovered on the node.
    pub service: Option<SocketAddr>,
    /// The probe named by the user (`--probe URL`), used as it is.
    pub probe: Option<Arc<dyn Probe>>,
    /// How a `line` probe talks.
    pub protocol: Protocol,
    /// The service (and the node's steady state) must be back within this
    /// after a fault ends; also the harness's recovery wait.
    pub recovery: Duration,
    /// process_crash: a killed worker must be back within this.
    pub process_restart: Duration,
    /// supervisor_cascade: a killed supervisor's subtree must be back within this.
    pub subtree_restart: Duration,
    /// network_partition: how long all traffic is cut.
    pub partition: Duration,
    /// memory_pressure: raise node memory by this percentage.
    pub memory_percent: u32,
    /// memory_pressure: how long the memory is held.
    pub memory_hold: Duration,
    /// message_flood: the flood is this many times the measured normal rate.
    pub flood_factor: f64,
    /// message_flood: how long it lasts (at most).
    pub flood_duration: Duration,
    /// message_flood: a message queue longer than this is unbounded growth.
    pub mailbox_bound: u64,
    /// connection_leak: the service's connection limit (the leak opens 150 % of it).
    pub connection_limit: u32,
    /// large_payload: the service's request size limit in bytes (the request is 100× it).
    pub max_request_bytes: u64,
    /// large_payload: how many times the limit the request is.
    pub payload_factor: u64,
    /// slow_consumer and cpu_saturation: how long the fault lasts.
    pub load_duration: Duration,
    /// slow_consumer and cpu_saturation: other clients' p99 latency objective.
    pub latency_objective: Duration,
    /// disk_pressure: where to write (`None`: skipped).
    pub disk_dir: Option<PathBuf>,
    /// disk_pressure: the file's size.
    pub disk_bytes: u64,
    /// Probe writes before each fault, read back after.
    pub probe_keys: u32,
    /// Acknowledged writes that may be lost; the scenarios that kill
    /// processes are not held to it unless `kills_keep_data`.
    pub max_data_loss: u64,
    /// Hold the killing scenarios to `max_data_loss` too.
    pub kills_keep_data: bool,
    /// supervisor_cascade may kill a supervisor (`--allow-supervisor-kill`,
    /// as for a run); without it that scenario is skipped, saying so.
    pub allow_supervisor_kill: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            service: None,
            probe: None,
            protocol: Protocol::default(),
            recovery: Duration::from_secs(5),
            process_restart: Duration::from_secs(1),
            subtree_restart: Duration::from_secs(5),
            partition: Duration::from_secs(2),
            memory_percent: 20,
            memory_hold: Duration::from_secs(2),
            flood_factor: 10.0,
            flood_duration: Duration::from_secs(2),
            mailbox_bound: 1000,
            connection_limit: 100,
            max_request_bytes: 4096,
            payload_factor: 100,
            load_duration: Duration::from_secs(2),
            latency_objective: Duration::from_millis(500),
            disk_dir: None,
            disk_bytes: 64 * 1024 * 1024,
            probe_keys: 5,
            max_data_loss: 0,
            kills_keep_data: false,
            allow_supervisor_kill: false,
        }
    }
}

/// What every scenario runs with.
pub struct ScenarioCtx {
    /// The node.
    pub target: BeamTarget,
    /// Thresholds.
    pub settings: Settings,
    /// Raised on Ctrl-C: waits end early, undo always runs.
    pub stop: StopSignal,
    /// The client of the service under test, if there is one.
    pub probe: Option<Arc<dyn Probe>>,
    /// Where the probe came from (for the report).
    pub service_source: String,
    /// The node's listeners, as discovered (empty when a probe was named).
    pub listeners: Vec<Listener>,
}

impl ScenarioCtx {
    /// The context; chooses the probe: the one named, else a guess of what
    /// the given service speaks, else one of the listeners discovered on
    /// the node ([`services::pick`]), asked what it speaks.
    pub async fn new(target: BeamTarget, settings: Settings, stop: StopSignal) -> Self {
        let line = settings.protocol.clone();
        let mut listeners = Vec::new();
        let (probe, service_source) = if let Some(p) = settings.probe.clone() {
            let d = p.describe();
            (Some(p), format!("given: {d}"))
        } else if let Some(addr) = settings.service {
            let g = guess(addr, &line, GUESS).await;
            let probe = services::Listener {
                ip: addr.ip().to_string(),
                port: addr.port(),
                owner: String::new(),
                owner_name: None,
                application: None,
                reach: Some(addr),
                protocol: Some(g.clone().into()),
            }
            .probe(&line);
            (
                probe,
                format!(
                    "given ({addr}); speaks {} (guessed: it {})",
                    g.kind, g.evidence
                ),
            )
        } else {
            match services::listeners(&target.client).await {
                Ok(mut found) => {
                    services::guess_protocols(&mut found, &line, GUESS).await;
                    let chosen = services::pick(&found).map(|l| {
                        let g = l.protocol.clone().unwrap_or(GuessView {
                            kind: "tcp".into(),
                            evidence: String::new(),
                        });
                        (
                            l.probe(&line),
                            format!(
                                "discovered: {} speaks {} (guessed: it {}); {} listener(s) on the node",
                                l.describe(),
                                g.kind,
                                g.evidence,
                                found.len()
                            ),
                        )
                    });
                    listeners = found;
                    match chosen {
                        Some(c) => c,
                        None if listeners.is_empty() => (
                            None,
                            "none: no application of the node listens on TCP".into(),
                        ),
                        None => (
                            None,
                            format!(
                                "none: the node's listeners ({}) are not reachable on loopback",
                                listeners
                                    .iter()
                                    .map(|l| l.describe())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                    }
                }
                Err(e) => (None, format!("none: discovery failed: {e}")),
            }
        };
        Self {
            target,
            settings,
            stop,
            probe,
            service_source,
            listeners,
        }
    }

    /// The probe, or the observation that says why the scenario is skipped.
    pub fn probe(&self) -> Result<Arc<dyn Probe>, Box<Observation>> {
        self.probe.clone().ok_or_else(|| {
            Box::new(Observation::skipped(format!(
                "no service to test: {} (pass --probe URL or --service IP:PORT)",
                self.service_source
            )))
        })
    }

    /// The service's address, or the observation that says why the scenario is skipped.
    pub fn service(&self) -> Result<SocketAddr, Box<Observation>> {
        self.probe().map(|p| p.addr())
    }

    /// Sleep `d`, or less when the stop signal is raised; `false` when stopped.
    pub async fn pause(&self, d: Duration) -> bool {
        let stop = self.stop.clone();
        futures::future::select(
            Box::pin(smol::Timer::after(d)),
            Box::pin(async move { stop.wait().await }),
        )
        .await;
        !self.stop.is_stopped()
    }
}

/// How long a listener gets to show what it speaks, per try.
const GUESS: Duration = Duration::from_millis(1500);

/// Every scenario, in the order the suite runs them.
pub fn all() -> Vec<Arc<dyn Scenario<ScenarioCtx, Settings>>> {
    #[allow(unused_mut)]
    let mut all: Vec<Arc<dyn Scenario<ScenarioCtx, Settings>>> = vec![
        Arc::new(process_crash::ProcessCrash),
        Arc::new(supervisor_cascade::SupervisorCascade),
        Arc::new(network_partition::NetworkPartition),
        Arc::new(memory_pressure::MemoryPressure),
        Arc::new(message_flood::MessageFlood),
        Arc::new(invalid_payload::InvalidPayload),
        Arc::new(connection_leak::ConnectionLeak),
        Arc::new(slow_consumer::SlowConsumer),
        Arc::new(cpu_saturation::CpuSaturation),
        Arc::new(large_payload::LargePayload),
        Arc::new(disk_pressure::DiskPressure),
    ];
    #[cfg(test)]
    all.push(Arc::new(example::ExampleBlip));
    all
}

/// Why a scenario did not run after Ctrl-C.
pub const INTERRUPTED: &str = "interrupted before it ran";

/// Run `scenarios` one at a time; `each` sees every result as it comes.
/// After the stop signal the rest are reported skipped. `Err` when the
/// node went away (the results so far are in it).
pub async fn run_suite(
    ctx: &ScenarioCtx,
    scenarios: &[Arc<dyn Scenario<ScenarioCtx, Settings>>],
    mut each: impl FnMut(&ScenarioResult),
) -> Result<Vec<ScenarioResult>, (String, Vec<ScenarioResult>)> {
    let mut out = Vec::new();
    for s in scenarios {
        let r = if ctx.stop.is_stopped() {
            harness::not_run(ctx, s.as_ref(), INTERRUPTED)
        } else {
            run_one(ctx, s.as_ref()).await
        };
        each(&r);
        out.push(r);
        if let Some(why) = ctx.target.client.closed_reason() {
            return Err((why, out));
        }
    }
    Ok(out)
}

/// Milliseconds, rounded to the microsecond, for measurements.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
