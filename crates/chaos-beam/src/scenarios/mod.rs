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
use crate::dist::term::{list, Term, TermExt};
use chaos_engine::scenario::{Observation, Scenario, ScenarioResult};
use chaos_engine::StopSignal;
use regex::Regex;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use disk_pressure::remove_fill_files;
pub use harness::run_one;

/// The service's line protocol, as the probes speak it. `{key}` and
/// `{value}` are filled in. Defaults: the demo system's protocol.
#[derive(Debug, Clone)]
pub struct Protocol {
    /// The liveness request.
    pub ping: String,
    /// Its answer.
    pub pong: Regex,
    /// A write.
    pub put: String,
    /// The write's acknowledgement.
    pub put_ok: Regex,
    /// A read.
    pub get: String,
    /// The read's answer when the value is there.
    pub get_ok: String,
    /// An answer that is a protocol error (a clean refusal).
    pub error: Regex,
}

impl Default for Protocol {
    fn default() -> Self {
        Self {
            ping: "PING".into(),
            pong: Regex::new("^PONG$").unwrap(),
            put: "PUT {key} {value}".into(),
            put_ok: Regex::new("^OK$").unwrap(),
            get: "GET {key}".into(),
            get_ok: "VALUE {value}".into(),
            error: Regex::new("^(ERR|ERROR|-ERR)\\b").unwrap(),
        }
    }
}

impl Protocol {
    /// `template` with `key` and `value` filled in.
    pub fn fill(template: &str, key: &str, value: &str) -> String {
        template.replace("{key}", key).replace("{value}", value)
    }

    /// The service at `addr` answers the probe request, on a fresh connection, within 2 s.
    pub async fn answers(&self, addr: SocketAddr) -> bool {
        crate::line::ask_once(addr, &self.ping, Duration::from_secs(2))
            .await
            .is_ok_and(|a| self.pong.is_match(&a))
    }
}

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
    /// The service under test (loopback); `None`: discovered on the node.
    pub service: Option<SocketAddr>,
    /// How the probes talk to it.
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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            service: None,
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
        }
    }
}

/// What every scenario runs with.
pub struct ScenarioCtx {
    /// The node.
    pub target: BeamTarget,
    /// Thresholds; `service` is resolved by [`ScenarioCtx::new`].
    pub settings: Settings,
    /// Raised on Ctrl-C: waits end early, undo always runs.
    pub stop: StopSignal,
    /// Where the service address came from (for the report).
    pub service_source: String,
}

impl ScenarioCtx {
    /// The context; finds the service when no address was given (the
    /// lowest loopback TCP port the node's own applications listen on).
    pub async fn new(target: BeamTarget, mut settings: Settings, stop: StopSignal) -> Self {
        let service_source = match settings.service {
            Some(a) => format!("given ({a})"),
            None => match discover_service(&target).await {
                Ok(Some(a)) => {
                    settings.service = Some(a);
                    format!("discovered: the lowest port an application listens on ({a})")
                }
                Ok(None) => "none: no application listens on loopback TCP".into(),
                Err(e) => format!("none: discovery failed: {e}"),
            },
        };
        Self {
            target,
            settings,
            stop,
            service_source,
        }
    }

    /// The service's address, or the observation that says why the scenario is skipped.
    pub fn service(&self) -> Result<SocketAddr, Box<Observation>> {
        self.settings.service.ok_or_else(|| {
            Box::new(Observation::skipped(format!(
                "no service to test: {} (pass --service IP:PORT)",
                self.service_source
            )))
        })
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

const DISCOVER: &str = concat!(
    crate::chaos::ops::listeners!(),
    "[P || P <- Listeners, P > 0]."
);

async fn discover_service(target: &BeamTarget) -> Result<Option<SocketAddr>, String> {
    let cands = target.candidates().await.map_err(|e| e.to_string())?;
    let pids: Vec<Term> = cands.iter().map(|c| Term::from(c.pid.clone())).collect();
    let t = target
        .exec(DISCOVER, &[("Candidates", list(pids))])
        .await
        .map_err(|e| e.to_string())?;
    let port = t
        .as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|p| crate::dist::json::to_json(p).as_u64())
        .min();
    Ok(port.map(|p| SocketAddr::from(([127, 0, 0, 1], p as u16))))
}

/// Every scenario, in the order the suite runs them.
pub fn all() -> Vec<Arc<dyn Scenario<ScenarioCtx>>> {
    #[allow(unused_mut)]
    let mut all: Vec<Arc<dyn Scenario<ScenarioCtx>>> = vec![
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
    scenarios: &[Arc<dyn Scenario<ScenarioCtx>>],
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
