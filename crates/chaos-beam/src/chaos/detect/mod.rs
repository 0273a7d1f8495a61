//! The steady state and the failure-mode detectors.
//!
//! A baseline is taken before chaos (applications, each supervisor of their
//! trees with its active children, registered names and owners, named ETS
//! tables, resource counts); every health sample (once a second) takes the
//! steady state again on the target ([`snippets/steady.erl`]: aggregation
//! on the node, only the summary crosses the wire) and runs the probes; the
//! detectors below turn differences into [`Problem`]s. The engine makes a
//! failure mode of a problem that lasts longer than the recovery window, is
//! still there at the end, or is marked immediate (an application stopped,
//! a resource over its limit threshold).
//!
//! Default thresholds (all configurable): recovery window 5 s; mailbox
//! 10,000 messages; memory 90 % of the machine's memory; limits 80 % of the
//! process / port / atom / ETS limits, or a steady growth that reaches the
//! limit within the run's planned duration; leaks: a count more than 200
//! above its baseline.

mod checks;
mod detector;
mod memory_limit;
pub mod metrics;
mod probe;
mod shapes;
mod supervision;

use memory_limit::read_memory_limit;
pub(crate) use memory_limit::READ_FILES;
pub use memory_limit::{LimitSource, MemoryLimit};
use probe::run_probe;
pub use probe::Probe;
use shapes::{learn_shapes, Shapes};
pub(crate) use shapes::{ShapeBreak, SHAPES};
pub use shapes::{ShapeSkipped, TableShape, SHAPE_MAX_ROWS};
pub(crate) use supervision::supervision;
pub use supervision::{Supervision, SupervisorView};

use super::BeamTarget;
use crate::dist::json::to_json;
use crate::dist::term::{atom, int, list, tuple, TermExt};
use crate::eval::{eval_with_timeout, EvalError};
use crate::failure_kind::FailureKind;
use chaos_engine::Problem;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The steady state, aggregated on the node.
pub(crate) const STEADY: &str = concat!(
    include_str!("../../snippets/safety_rules.erl"),
    include_str!("../../snippets/index_sample.erl"),
    include_str!("../../snippets/shape_tag.erl"),
    include_str!("../../snippets/sup_read.erl"),
    include_str!("../../snippets/steady.erl")
);

/// The mailbox check of each health sample looks at every process of a node
/// with at most this many, else at a random sample of this many (from the
/// process index) plus every registered process. At 10^6 processes a
/// process is then looked at about every 200 s; the check costs about
/// 7 ms of the node a second, 20,000 cost 32 ms (`bench/node_costs`;
/// issue 20's "under 5 % of a core at 10 ops/s").
pub const MAILBOX_SAMPLE: usize = 5_000;

/// Every failure-mode kind the detectors (and the report) can name, for
/// reports that list what was checked (one JUnit test case per kind).
pub const FAILURE_KINDS: [&str; 16] = FailureKind::names(FailureKind::NODE);

/// Detection settings.
#[derive(Debug, Clone)]
pub struct DetectSettings {
    /// A broken steady state may last this long before it is a failure mode.
    pub recovery_window: Duration,
    /// Message queue length that counts as overflow.
    pub mailbox_threshold: u64,
    /// Share of the machine's memory that counts as exhaustion.
    pub memory_threshold: f64,
    /// Share of a limit (processes, ports, atoms, ETS) that counts as exhaustion.
    pub limit_threshold: f64,
    /// Growth of a count beyond its baseline that counts as a leak.
    pub leak_threshold: u64,
    /// The run's planned duration (the horizon for growth projections).
    pub horizon: Duration,
    /// Probes.
    pub probes: Vec<Probe>,
    /// Count OTP's own applications as the node's own.
    pub include_otp_apps: bool,
    /// User metrics, sampled with every health sample.
    pub metrics: Vec<metrics::Metric>,
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self {
            recovery_window: Duration::from_secs(5),
            mailbox_threshold: 10_000,
            memory_threshold: 0.9,
            limit_threshold: 0.8,
            leak_threshold: 200,
            horizon: Duration::from_secs(60),
            probes: Vec::new(),
            include_otp_apps: false,
            metrics: Vec::new(),
        }
    }
}

/// The steady state as the snippet reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Steady {
    applications: Vec<String>,
    own_applications: Vec<String>,
    supervisors: Vec<SupState>,
    names: Vec<NameState>,
    tables: Vec<TableState>,
    vanished_tables: Vec<String>,
    alive_owners: Vec<String>,
    queues: Vec<QueueState>,
    #[serde(default)]
    shape_breaks: Vec<ShapeBreak>,
    processes: u64,
    process_limit: u64,
    ports: u64,
    port_limit: u64,
    atoms: u64,
    atom_limit: u64,
    ets_tables: u64,
    ets_limit: u64,
    memory_bytes: u64,
    binary_bytes: u64,
    /// Of `processes` and `ets_tables`, what the monkey's own helpers hold
    /// (filled in from the run's ledger, not by the snippet).
    #[serde(skip)]
    own_processes: u64,
    #[serde(skip)]
    own_tables: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)] // every field is part of the snippet's answer; some are for evidence only
struct SupState {
    key: String,
    pid: String,
    name: Option<String>,
    app: String,
    active: u64,
    dynamic: bool,
    missing: Vec<String>,
    answered: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct NameState {
    name: String,
    pid: String,
    app: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct TableState {
    name: String,
    owner: String,
    app: String,
}

#[derive(Debug, Clone, Deserialize)]
struct QueueState {
    pid: String,
    len: u64,
    app: Option<String>,
    name: Option<String>,
}

/// What the steady state looked like before chaos.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    apps: Vec<String>,
    /// Registered names owned by the node's own applications → (owner pid, app).
    names: BTreeMap<String, (String, String)>,
    /// Named tables of the node's own applications.
    tables: Vec<String>,
    /// Static supervisors by key → active children.
    supervisors: BTreeMap<String, u64>,
    processes: u64,
    ets_tables: u64,
    /// What node memory is compared with: host RAM or the node's cgroup limit.
    memory_limit: Option<MemoryLimit>,
    /// The named tables' shape invariants.
    shapes: Shapes,
}

/// The detectors' state across samples.
pub struct Detector {
    /// Settings.
    pub settings: DetectSettings,
    baseline: Baseline,
    checks: Vec<Box<dyn checks::Check>>,
    started: Option<Instant>,
    /// Rows carrying `ets_modify`'s marker that the shape check found (the
    /// monkey's own corruption: evidence the check works, no failure mode).
    injected_rows_seen: u64,
    /// What each user metric gave so far, in the settings' order.
    metric_stats: Vec<metrics::MetricStats>,
}

impl Detector {
    /// The failure kinds this run could not look for, and why: the memory
    /// check without a machine memory read on the node, the probe check
    /// without a probe. A report's JUnit shows them as skipped, not passed.
    pub fn not_run(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.baseline.memory_limit.is_none() {
            out.push((
                FailureKind::MemoryExhaustion.name(),
                "neither the machine's memory nor a cgroup memory limit could be read on the node, so node memory had nothing to be compared with".to_string(),
            ));
        }
        if !self.settings.metrics.iter().any(|m| m.max.is_some()) {
            out.push((
                FailureKind::MetricThreshold.name(),
                "no [[metrics]] with a max configured".to_string(),
            ));
        }
        if self.settings.probes.is_empty() {
            out.push((
                FailureKind::ProbeFailure.name(),
                "no probe configured (--probe URL, --probe-tcp, [[probes]])".to_string(),
            ));
        }
        out
    }
}

impl Detector {
    /// What node memory is compared with (host RAM or a cgroup limit).
    pub fn memory_limit(&self) -> Option<&MemoryLimit> {
        self.baseline.memory_limit.as_ref()
    }

    /// For the report: what each user metric gave (start, peak, end,
    /// samples, errors, samples over its max).
    pub fn metrics_json(&self) -> Value {
        serde_json::to_value(&self.metric_stats).unwrap_or_default()
    }

    /// For the report: the shape invariants learnt at the baseline, the
    /// tables that got none and why, and how many rows carrying the
    /// monkey's own `ets_modify` marker the check found.
    pub fn shapes_json(&self) -> Value {
        serde_json::json!({
            "tables": self.baseline.shapes.shapes,
            "skipped": self.baseline.shapes.skipped,
            "injected_rows_seen": self.injected_rows_seen,
        })
    }
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(DetectSettings::default(), Baseline::default())
    }
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("settings", &self.settings)
            .field("baseline", &self.baseline)
            .field("checks", &self.checks.len())
            .finish()
    }
}

/// Take the baseline.
pub(crate) async fn take(
    target: &BeamTarget,
    settings: &DetectSettings,
) -> Result<Baseline, EvalError> {
    let steady = steady(target, settings, &[], &[], &[]).await?;
    let memory_limit = read_memory_limit(target).await;
    let shapes = learn_shapes(target, &steady.tables).await;
    let own: BTreeSet<&String> = steady.own_applications.iter().collect();
    Ok(Baseline {
        apps: steady.applications.clone(),
        names: steady
            .names
            .iter()
            .filter_map(|n| {
                n.app
                    .as_ref()
                    .filter(|a| own.contains(a))
                    .map(|a| (n.name.clone(), (n.pid.clone(), a.clone())))
            })
            .collect(),
        tables: steady.tables.iter().map(|t| t.name.clone()).collect(),
        supervisors: steady
            .supervisors
            .iter()
            .filter(|s| !s.dynamic && s.answered)
            .map(|s| (s.key.clone(), s.active))
            .collect(),
        processes: steady.processes,
        ets_tables: steady.ets_tables,
        memory_limit,
        shapes,
    })
}

async fn steady(
    target: &BeamTarget,
    settings: &DetectSettings,
    tables: &[String],
    owners: &[String],
    shapes: &[TableShape],
) -> Result<Steady, EvalError> {
    let bindings = [
        (
            "IncludeOtpApps",
            atom(if settings.include_otp_apps {
                "true"
            } else {
                "false"
            }),
        ),
        ("MailboxThreshold", int(settings.mailbox_threshold as i64)),
        ("Tables", list(tables.iter().map(|t| atom(t)).collect())),
        ("CallMs", int(1000)),
        ("MaxScan", int(MAILBOX_SAMPLE as i64)),
        ("ProcessIndex", target.process_index_term()),
        ("SupervisionKeeper", target.supervision_keeper_term()),
        (
            "Shapes",
            list(
                shapes
                    .iter()
                    .map(|s| {
                        tuple(vec![
                            atom(&s.table),
                            int(s.arity as i64),
                            list(s.tags.iter().map(|t| atom(t)).collect()),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("ShapeMaxRows", int(SHAPE_MAX_ROWS)),
        (
            "Owners",
            list(
                owners
                    .iter()
                    .map(|o| crate::dist::term::binary(o.as_bytes()))
                    .collect(),
            ),
        ),
    ];
    let t = eval_with_timeout(&target.client, STEADY, &bindings, super::OP_TIMEOUT).await?;
    serde_json::from_value(to_json(&t)).map_err(|e| EvalError::Raised {
        class: "error".into(),
        reason: format!("steady-state answer has an unexpected shape: {e}"),
        term: Box::new(atom("shape")),
    })
}

fn problem(
    kind: FailureKind,
    subject: impl Into<String>,
    detail: impl Into<String>,
    immediate: bool,
) -> Problem {
    kind.problem(subject, detail, immediate)
}

/// One full sample: the steady state, the probes, the detectors.
pub(crate) async fn sample(
    target: &BeamTarget,
) -> Result<(Vec<Problem>, BTreeMap<String, u64>), String> {
    let (settings, tables, owners, shapes) = {
        let d = target.detection.lock().unwrap();
        (d.settings.clone(), d.tables(), d.owners(), d.shapes())
    };
    let mut s = steady(target, &settings, &tables, &owners, &shapes)
        .await
        .map_err(|e| e.to_string())?;
    (s.own_processes, s.own_tables) = target.own_holdings();
    let mut problems = target.detection.lock().unwrap().check(&s);
    // A name a chaos effect holds right now is the chaos, not a failure.
    problems.retain(|p| {
        !(p.subject
            .strip_prefix("name ")
            .is_some_and(|n| target.name_held(n)))
    });
    let mut latencies = Vec::new();
    for probe in &settings.probes {
        let (problem, took) = run_probe(target, probe).await;
        problems.extend(problem);
        if let Some(took) = took {
            let key = format!(
                "{}:{}",
                chaos_engine::timeline::PROBE_LATENCY,
                probe.label()
            );
            latencies.push((key, took.as_micros() as u64));
        }
    }
    let metric_values = sample_metrics(target, &settings.metrics).await;
    let mut metric_resources = Vec::new();
    {
        let mut d = target.detection.lock().unwrap();
        for (i, (m, v)) in settings.metrics.iter().zip(&metric_values).enumerate() {
            if let Some(st) = d.metric_stats.get_mut(i) {
                st.add(v);
            }
            if let metrics::Reading::Number(x) = v {
                metric_resources.push((m.resource(), metrics::milli(*x)));
                if let Some(max) = m.max.filter(|max| x > max) {
                    let unit = m
                        .unit
                        .as_deref()
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default();
                    problems.push(problem(
                        FailureKind::MetricThreshold,
                        format!("metric {}", m.name),
                        format!("metric {} is {x}{unit}, over its max {max}{unit}", m.name),
                        false,
                    ));
                }
            }
        }
    }
    let mut resources: BTreeMap<String, u64> = [
        ("processes", s.processes),
        ("ports", s.ports),
        ("atoms", s.atoms),
        ("ets_tables", s.ets_tables),
        ("memory_bytes", s.memory_bytes),
        ("binary_bytes", s.binary_bytes),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    resources.extend(latencies);
    resources.extend(metric_resources);
    Ok((problems, resources))
}

/// Every user metric's value now (one snippet for all); when the snippet
/// itself fails, an error for each.
async fn sample_metrics(target: &BeamTarget, ms: &[metrics::Metric]) -> Vec<metrics::Reading> {
    if ms.is_empty() {
        return Vec::new();
    }
    match eval_with_timeout(
        &target.client,
        &metrics::snippet(ms),
        &[],
        super::OP_TIMEOUT,
    )
    .await
    {
        Ok(t) => metrics::values(&t, ms.len()),
        Err(e) => vec![metrics::Reading::Error(e.to_string()); ms.len()],
    }
}
