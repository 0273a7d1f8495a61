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

use super::BeamTarget;
use crate::dist::json::to_json;
use crate::dist::term::{atom, int, list};
use crate::eval::{eval_with_timeout, EvalError};
use chaos_engine::Problem;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The steady state, aggregated on the node.
pub(crate) const STEADY: &str = include_str!("../snippets/steady.erl");

/// The machine's memory, from the node's `/proc/meminfo`.
pub(crate) const MEMTOTAL: &str = "case file:read_file(\"/proc/meminfo\") of \
    {ok, B} -> case re:run(B, \"MemTotal:\\\\s+(\\\\d+) kB\", [{capture, all_but_first, list}]) of \
                   {match, [K]} -> list_to_integer(K) * 1024; _ -> null end; \
    _ -> null end.";

/// Every failure-mode kind the detectors (and the report) can name, for
/// reports that list what was checked (one JUnit test case per kind).
pub const FAILURE_KINDS: [&str; 15] = [
    "process_crash",
    "supervisor_collapse",
    "memory_exhaustion",
    "mailbox_overflow",
    "ets_corruption",
    "registry_corruption",
    "timing_anomaly",
    "process_exhaustion",
    "port_exhaustion",
    "atom_exhaustion",
    "ets_exhaustion",
    "process_leak",
    "ets_leak",
    "node_down",
    "probe_failure",
];

/// A user-configured probe.
#[derive(Debug, Clone)]
pub enum Probe {
    /// Send a line, expect an answer matching a regex, within an objective.
    Tcp {
        /// Where.
        addr: SocketAddr,
        /// The line to send (a newline is added).
        send: String,
        /// What the first answer line must match.
        expect: regex::Regex,
        /// Latency objective.
        objective: Duration,
    },
    /// An Erlang expression that must return `true` (an application invariant).
    Erlang {
        /// The expression.
        expr: String,
    },
}

impl Probe {
    /// Parse `ADDR|SEND|EXPECT_REGEX[|OBJECTIVE]`.
    pub fn parse_tcp(s: &str) -> Result<Probe, String> {
        let parts: Vec<&str> = s.split('|').collect();
        if !(3..=4).contains(&parts.len()) {
            return Err(format!("'{s}' is not ADDR|SEND|EXPECT_REGEX[|OBJECTIVE], e.g. 127.0.0.1:4000|PING|^PONG$|200ms"));
        }
        let addr: SocketAddr = parts[0]
            .parse()
            .map_err(|_| format!("'{}' is not IP:PORT", parts[0]))?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{addr} is not a loopback address; probes only go to 127.0.0.0/8 and ::1"
            ));
        }
        let expect =
            regex::Regex::new(parts[2]).map_err(|e| format!("bad regex '{}': {e}", parts[2]))?;
        let objective = match parts.get(3) {
            Some(o) => chaos_engine::duration::checked_humantime(o)
                .map_err(|e| format!("bad objective '{o}': {e}"))?,
            None => Duration::from_secs(1),
        };
        if objective.is_zero() {
            return Err("the objective must be greater than zero".into());
        }
        Ok(Probe::Tcp {
            addr,
            send: parts[1].to_string(),
            expect,
            objective,
        })
    }

    fn label(&self) -> String {
        match self {
            Probe::Tcp { addr, send, .. } => format!("tcp {addr} {send:?}"),
            Probe::Erlang { expr } => format!("erlang {expr:?}"),
        }
    }
}

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
    machine_memory: Option<u64>,
}

/// The detectors' state across samples.
#[derive(Debug, Default)]
pub struct Detector {
    /// Settings.
    pub settings: DetectSettings,
    baseline: Baseline,
    history: Vec<(Instant, BTreeMap<&'static str, u64>)>,
    started: Option<Instant>,
}

/// Take the baseline.
pub(crate) async fn take(
    target: &BeamTarget,
    settings: &DetectSettings,
) -> Result<Baseline, EvalError> {
    let steady = steady(target, settings, &[], &[]).await?;
    let machine_memory = eval_with_timeout(&target.client, MEMTOTAL, &[], super::OP_TIMEOUT)
        .await
        .ok()
        .and_then(|t| to_json(&t).as_u64());
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
        machine_memory,
    })
}

async fn steady(
    target: &BeamTarget,
    settings: &DetectSettings,
    tables: &[String],
    owners: &[String],
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
        ("MaxScan", int(super::MAX_SCAN as i64)),
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
    kind: &str,
    subject: impl Into<String>,
    detail: impl Into<String>,
    immediate: bool,
) -> Problem {
    Problem {
        kind: kind.to_string(),
        subject: subject.into(),
        detail: detail.into(),
        immediate,
    }
}

impl Detector {
    /// Detectors over a baseline.
    pub fn new(settings: DetectSettings, baseline: Baseline) -> Self {
        Self {
            settings,
            baseline,
            history: Vec::new(),
            started: None,
        }
    }

    /// The baseline's named tables (checked every sample).
    fn tables(&self) -> Vec<String> {
        self.baseline.tables.clone()
    }

    /// The baseline's name owners (checked for life every sample).
    fn owners(&self) -> Vec<String> {
        self.baseline
            .names
            .values()
            .map(|(pid, _)| pid.clone())
            .collect()
    }

    /// Problems in one steady-state sample.
    fn check(&mut self, s: &Steady) -> Vec<Problem> {
        let now = Instant::now();
        self.started.get_or_insert(now);
        let mut out = Vec::new();
        let b = &self.baseline;
        // Applications that stopped.
        for app in b.apps.iter().filter(|a| !s.applications.contains(a)) {
            out.push(problem(
                "supervisor_collapse",
                app.clone(),
                format!("application {app} was running at the start and is not running now (its top supervisor gave up)"),
                true,
            ));
        }
        // Static supervisors with fewer children than at the start.
        let now_sups: BTreeMap<&str, &SupState> =
            s.supervisors.iter().map(|x| (x.key.as_str(), x)).collect();
        for (key, base_active) in &b.supervisors {
            match now_sups.get(key.as_str()) {
                Some(sup) if sup.answered && sup.active < *base_active => out.push(problem(
                    "process_crash",
                    key.clone(),
                    format!(
                        "supervisor {} ({}) has {} active children, {} at the start; {}",
                        sup.name.clone().unwrap_or_else(|| sup.pid.clone()),
                        key,
                        sup.active,
                        base_active,
                        if sup.missing.is_empty() {
                            "a temporary child that died was not replaced".to_string()
                        } else {
                            format!("not running: {}", sup.missing.join(", "))
                        }
                    ),
                    false,
                )),
                Some(_) => {}
                None if s
                    .applications
                    .contains(&key.split('/').next().unwrap_or("").to_string()) =>
                {
                    out.push(problem(
                        "supervisor_collapse",
                        key.clone(),
                        format!("supervisor {key} is gone from its application's tree"),
                        false,
                    ))
                }
                None => {}
            }
        }
        // Registered names of the applications.
        let names: BTreeMap<&str, &NameState> =
            s.names.iter().map(|n| (n.name.as_str(), n)).collect();
        for (name, (old_pid, app)) in &b.names {
            if !s.applications.contains(app) {
                continue;
            }
            match names.get(name.as_str()) {
                None => {
                    let owner_gone = !s.alive_owners.contains(old_pid);
                    if owner_gone {
                        out.push(problem(
                            "process_crash",
                            format!("name {name}"),
                            format!("registered process {name} ({old_pid} at the start) died and nothing registered the name again"),
                            false,
                        ));
                    } else {
                        out.push(problem(
                            "registry_corruption",
                            format!("name {name}"),
                            format!(
                                "the name {name} is missing while its owner {old_pid} still runs"
                            ),
                            false,
                        ));
                    }
                }
                Some(n) if n.app.as_deref() != Some(app) => out.push(problem(
                    "registry_corruption",
                    format!("name {name}"),
                    format!(
                        "the name {name} points at {} which is not a process of {app}",
                        n.pid
                    ),
                    false,
                )),
                Some(_) => {}
            }
        }
        // Application tables that vanished.
        for t in &s.vanished_tables {
            out.push(problem(
                "ets_corruption",
                format!("table {t}"),
                format!("the application table {t} vanished"),
                false,
            ));
        }
        // Mailboxes over the threshold.
        for q in &s.queues {
            let who = q.name.clone().unwrap_or_else(|| q.pid.clone());
            out.push(problem(
                "mailbox_overflow",
                who.clone(),
                format!(
                    "{who} ({}, application {}) has {} messages queued (threshold {})",
                    q.pid,
                    q.app.clone().unwrap_or_else(|| "none".into()),
                    q.len,
                    self.settings.mailbox_threshold
                ),
                false,
            ));
        }
        // Memory.
        if let Some(total) = b.machine_memory {
            let limit = (total as f64 * self.settings.memory_threshold) as u64;
            if s.memory_bytes > limit {
                out.push(problem(
                    "memory_exhaustion",
                    "node memory",
                    format!(
                        "node memory {} bytes is over {:.1}% of the machine's {} bytes",
                        s.memory_bytes,
                        self.settings.memory_threshold * 100.0,
                        total
                    ),
                    true,
                ));
            }
        }
        // Limits: over the threshold, or growing to reach the limit within the horizon.
        let counts: BTreeMap<&'static str, u64> = [
            ("processes", s.processes),
            ("ports", s.ports),
            ("atoms", s.atoms),
            ("ets_tables", s.ets_tables),
        ]
        .into();
        self.history.push((now, counts));
        let limits = [
            (
                "processes",
                s.processes,
                s.process_limit,
                "process_exhaustion",
            ),
            ("ports", s.ports, s.port_limit, "port_exhaustion"),
            ("atoms", s.atoms, s.atom_limit, "atom_exhaustion"),
            ("ets_tables", s.ets_tables, s.ets_limit, "ets_exhaustion"),
        ];
        for (what, count, limit, kind) in limits {
            if limit == 0 {
                continue;
            }
            let share = count as f64 / limit as f64;
            if share >= self.settings.limit_threshold {
                out.push(problem(
                    kind,
                    what,
                    format!(
                        "{what}: {count} of {limit} ({:.1}%, threshold {:.0}%)",
                        share * 100.0,
                        self.settings.limit_threshold * 100.0
                    ),
                    true,
                ));
            } else if let Some(rate) = self.growth(what) {
                let horizon = self.settings.horizon.as_secs_f64();
                let elapsed = now
                    .duration_since(self.started.unwrap_or(now))
                    .as_secs_f64();
                let left = (horizon - elapsed).max(0.0);
                // A steady climb, at least 10 % of the limit, that reaches it before the run ends.
                if rate > 0.0
                    && count as f64 + rate * left >= limit as f64
                    && rate * elapsed >= 0.1 * limit as f64
                {
                    out.push(problem(
                        kind,
                        what,
                        format!("{what}: {count} of {limit}, growing {rate:.0}/s: reaches the limit within {left:.0} s"),
                        false,
                    ));
                }
            }
        }
        // Leaks: counts far above the baseline.
        for (what, now_count, base, kind) in [
            ("processes", s.processes, b.processes, "process_leak"),
            ("ets_tables", s.ets_tables, b.ets_tables, "ets_leak"),
        ] {
            if now_count > base + self.settings.leak_threshold {
                out.push(problem(
                    kind,
                    what,
                    format!(
                        "{what}: {now_count}, {} more than the {base} at the start",
                        now_count - base
                    ),
                    false,
                ));
            }
        }
        out
    }

    /// Per-second growth of a count over the last samples (least squares), when it grew steadily.
    fn growth(&self, what: &str) -> Option<f64> {
        let pts: Vec<(f64, f64)> = self
            .history
            .iter()
            .rev()
            .take(10)
            .filter_map(|(t, c)| {
                c.get(what)
                    .map(|v| (t.duration_since(self.history[0].0).as_secs_f64(), *v as f64))
            })
            .collect();
        if pts.len() < 5 {
            return None;
        }
        // Every step up or flat: a steady climb, not a burst.
        let mut sorted = pts.clone();
        sorted.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        if sorted.windows(2).any(|w| w[1].1 < w[0].1) {
            return None;
        }
        let n = sorted.len() as f64;
        let (sx, sy) = sorted
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let (mx, my) = (sx / n, sy / n);
        let (num, den) = sorted.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
            (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
        });
        (den > 0.0).then(|| num / den)
    }
}

/// One full sample: the steady state, the probes, the detectors.
pub(crate) async fn sample(
    target: &BeamTarget,
) -> Result<(Vec<Problem>, BTreeMap<String, u64>), String> {
    let (settings, tables, owners) = {
        let d = target.detect.lock().unwrap();
        (d.settings.clone(), d.tables(), d.owners())
    };
    let s = steady(target, &settings, &tables, &owners)
        .await
        .map_err(|e| e.to_string())?;
    let mut problems = target.detect.lock().unwrap().check(&s);
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
    Ok((problems, resources))
}

/// A probe's finding, and for a TCP probe that got an answer, how long it took.
async fn run_probe(target: &BeamTarget, probe: &Probe) -> (Option<Problem>, Option<Duration>) {
    match probe {
        Probe::Erlang { expr } => {
            let r = eval_with_timeout(&target.client, expr, &[], Duration::from_secs(5)).await;
            let found = match r {
                Ok(t) if to_json(&t) == Value::Bool(true) => None,
                Ok(t) => Some(problem(
                    "ets_corruption",
                    probe.label(),
                    format!("invariant {expr} returned {}", crate::dist::term::show(&t)),
                    false,
                )),
                Err(e) if e.is_disconnect() => None,
                Err(e) => Some(problem(
                    "ets_corruption",
                    probe.label(),
                    format!("invariant {expr} raised: {e}"),
                    false,
                )),
            };
            (found, None)
        }
        Probe::Tcp {
            addr,
            send,
            expect,
            objective,
        } => {
            // A probe through a proxy that has a fault on now sees the fault, not the system.
            if target
                .proxies
                .iter()
                .any(|p| p.listen_addr() == *addr && !p.active_faults().is_empty())
            {
                return (None, None);
            }
            let limit = (*objective * 4).max(Duration::from_secs(2));
            let t0 = Instant::now();
            let answer = tcp_ask(*addr, send, limit).await;
            let took = t0.elapsed();
            let answered = answer.is_ok().then_some(took);
            let found = match answer {
                Ok(line) if !expect.is_match(&line) => Some(problem(
                    "probe_failure",
                    probe.label(),
                    format!(
                        "answered {line:?}, which does not match {}",
                        expect.as_str()
                    ),
                    false,
                )),
                Ok(_) if took > *objective => Some(problem(
                    "timing_anomaly",
                    probe.label(),
                    format!(
                        "answered in {} ms, objective {} ms",
                        took.as_millis(),
                        objective.as_millis()
                    ),
                    false,
                )),
                Ok(_) => None,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Some(problem(
                    "timing_anomaly",
                    probe.label(),
                    format!(
                        "no answer within {} ms (objective {} ms)",
                        limit.as_millis(),
                        objective.as_millis()
                    ),
                    false,
                )),
                Err(e) => Some(problem(
                    "probe_failure",
                    probe.label(),
                    format!("failed: {e}"),
                    false,
                )),
            };
            (found, answered)
        }
    }
}

pub(crate) async fn tcp_ask(
    addr: SocketAddr,
    send: &str,
    limit: Duration,
) -> std::io::Result<String> {
    use futures::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let work = async {
        let mut s = smol::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        s.write_all(format!("{send}\n").as_bytes()).await?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).await?;
        Ok::<String, std::io::Error>(line.trim_end().to_string())
    };
    match futures::future::select(Box::pin(work), Box::pin(smol::Timer::after(limit))).await {
        futures::future::Either::Left((r, _)) => r,
        futures::future::Either::Right(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer",
        )),
    }
}

/// The parts of the steady state the scenarios compare before and after a
/// fault: which applications run and each supervisor of their trees.
#[derive(Debug, Clone, Default)]
pub struct Supervision {
    /// Running applications.
    pub applications: Vec<String>,
    /// Every supervisor of the node's own applications.
    pub supervisors: Vec<SupervisorView>,
    /// The node's total memory.
    pub memory_bytes: u64,
}

/// One supervisor in a [`Supervision`].
#[derive(Debug, Clone)]
pub struct SupervisorView {
    /// `app/child_id/...`: its place in the tree, stable across restarts.
    pub key: String,
    /// Its pid now.
    pub pid: String,
    /// Children running.
    pub active: u64,
    /// A simple_one_for_one supervisor (its child count varies by design).
    pub dynamic: bool,
    /// It answered `which_children` in time.
    pub answered: bool,
}

/// Take the [`Supervision`] now (the steady-state snippet, without the
/// name and table checks).
pub(crate) async fn supervision(target: &BeamTarget) -> Result<Supervision, EvalError> {
    let settings = target.detect.lock().unwrap().settings.clone();
    let s = steady(target, &settings, &[], &[]).await?;
    Ok(Supervision {
        applications: s.applications,
        supervisors: s
            .supervisors
            .into_iter()
            .map(|x| SupervisorView {
                key: x.key,
                pid: x.pid,
                active: x.active,
                dynamic: x.dynamic,
                answered: x.answered,
            })
            .collect(),
        memory_bytes: s.memory_bytes,
    })
}

#[cfg(test)]
mod kinds_tests {
    use crate::cluster::detect::CLUSTER_FAILURE_KINDS;

    /// Every kind literal in `src` (by its ending) is in `listed`; how many were seen.
    fn check(src: &str, listed: &[&str]) -> usize {
        let suffixes = [
            "_crash\"",
            "_collapse\"",
            "_exhaustion\"",
            "_overflow\"",
            "_corruption\"",
            "_anomaly\"",
            "_leak\"",
            "_failure\"",
            "node_down\"",
            "node_left\"",
            "_partition\"",
            "_conflict\"",
            "_divergence\"",
        ];
        let mut seen = 0;
        for piece in src.split('"').collect::<Vec<_>>().windows(2) {
            let quoted = format!("{}\"", piece[1]);
            let is_kind = piece[1].chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && suffixes.iter().any(|s| quoted.ends_with(s));
            if is_kind {
                seen += 1;
                assert!(listed.contains(&piece[1]), "{} is not listed", piece[1]);
            }
        }
        seen
    }

    /// Every kind the detectors name is in [`super::FAILURE_KINDS`] or, for
    /// the cluster's, in [`CLUSTER_FAILURE_KINDS`].
    #[test]
    fn every_detected_kind_is_listed() {
        let seen = check(include_str!("detect.rs"), &super::FAILURE_KINDS);
        assert!(seen >= 30, "found only {seen} kind literals");
        let seen = check(include_str!("../cluster/detect.rs"), &CLUSTER_FAILURE_KINDS);
        assert!(seen >= 10, "found only {seen} cluster kind literals");
    }
}
