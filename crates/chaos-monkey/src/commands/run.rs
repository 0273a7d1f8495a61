//! `chaos-monkey run`: settings (config file + flags), the run itself with
//! its live log / progress bar / events file, and the report.

use crate::cli::{RunArgs, TargetArgs};
use crate::config::{self, ConfigError, FileConfig, DEFAULT_WEIGHTS};
use crate::exit::{self, CliError};
use crate::output;
use chaos_beam::chaos::custom::CustomOp;
use chaos_beam::chaos::ops::{builtin, Allow};
use chaos_beam::chaos::{BeamTarget, Safety};
use chaos_beam::dist::NodeName;
use chaos_engine::{
    Category, Operation, Profile, Report, ReportInput, RunConfig, Schedule, Status, StopSignal,
    Update,
};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why the network category may get no operations.
const NETWORK_NONE: &str = "every network operation is disabled in the config; the category is skipped and the others are renormalised";

/// Everything a run needs, merged and validated.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub target: TargetArgs,
    pub duration: Duration,
    pub rate: f64,
    pub seed: u64,
    pub seed_given: bool,
    pub profile: Profile,
    pub weights: BTreeMap<Category, u32>,
    pub report: Option<PathBuf>,
    pub events: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub dry_run: bool,
    /// Keep every snippet interpreted (no temporary modules on the target).
    pub interpreted: bool,
    pub safety: Safety,
    pub allow: Allow,
    pub op_settings: BTreeMap<String, (bool, u32)>,
    pub custom: Vec<(String, Category, u32, String)>,
    pub max_in_flight: usize,
    /// The lease term (`--lease`): a silent monkey's effects end this long after its last renewal.
    pub lease: Duration,
    pub progress: bool,
    pub verbose: bool,
    /// `-q`: no line per operation on stderr (the events file still has them).
    pub quiet: bool,
    /// A client workload to run during the chaos: (address, clients, requests per second per client).
    pub workload: Option<(std::net::SocketAddr, usize, f64)>,
    /// Fault proxies to start: (listen, upstream).
    pub proxies: Vec<(std::net::SocketAddr, std::net::SocketAddr)>,
    /// Detection thresholds and probes.
    pub detect: chaos_beam::chaos::detect::DetectSettings,
    /// Stop the chaos when the steady state stays broken this long.
    pub breaker: Option<Duration>,
    /// A run across a cluster (`--cluster`, several `--node`, `[cluster]`).
    pub cluster: Option<super::cluster::ClusterSettings>,
}

impl RunSettings {
    /// Demo-level settings against `target` (used by `chaos-monkey demo`).
    pub fn demo(target: TargetArgs, duration: Duration, seed: Option<u64>) -> Self {
        Self {
            target,
            duration,
            rate: 10.0,
            seed: seed.unwrap_or_else(rand::random),
            seed_given: seed.is_some(),
            profile: Profile::Demo,
            weights: config::parse_weights(DEFAULT_WEIGHTS).expect("valid defaults"),
            report: None,
            events: None,
            html: None,
            junit: None,
            dry_run: false,
            interpreted: false,
            safety: Safety::default(),
            allow: Allow::default(),
            op_settings: BTreeMap::new(),
            custom: Vec::new(),
            max_in_flight: 64,
            lease: chaos_beam::lease::DEFAULT_TERM,
            progress: true,
            verbose: false,
            quiet: false,
            workload: None,
            proxies: Vec::new(),
            detect: chaos_beam::chaos::detect::DetectSettings {
                horizon: duration,
                ..Default::default()
            },
            breaker: Some(Duration::from_secs(30)),
            cluster: None,
        }
    }
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::usage(e)
}

fn cfg_err(e: ConfigError) -> CliError {
    CliError::usage(e)
}

/// Merge the config file and the flags (flags win) and check every value.
pub fn settings(args: &RunArgs, verbose: bool) -> Result<RunSettings, CliError> {
    let (file, text, path) = match &args.config {
        Some(p) => {
            let (f, t) = config::load(p).map_err(cfg_err)?;
            (f, t, p.clone())
        }
        None => (FileConfig::default(), String::new(), PathBuf::new()),
    };
    settings_from(args, verbose, file, &text, &path)
}

/// [`settings`] with the config file already read and parsed (`text` and
/// `path` locate errors in it; empty when there is none).
pub fn settings_from(
    args: &RunArgs,
    verbose: bool,
    file: FileConfig,
    text: &str,
    path: &Path,
) -> Result<RunSettings, CliError> {
    let at = |key: &str| config::locate(path, text, key);

    let node_text = args
        .node
        .first()
        .cloned()
        .or(file.node.clone())
        .ok_or_else(|| {
            usage("no target node: pass --node NAME@HOST (or set `node` in the config)")
        })?;
    let node: NodeName = node_text
        .parse()
        .map_err(|e: chaos_beam::dist::NodeNameError| {
            if !args.node.is_empty() {
                usage(format!("--node: {e}"))
            } else {
                usage(format!("{}: {e}", at("node")))
            }
        })?;
    let duration = match (&args.duration, &file.duration) {
        (Some(d), _) => {
            config::parse_duration(d).map_err(|e| cfg_err(ConfigError::flag("--duration", e)))?
        }
        (None, Some(d)) => config::parse_duration(d)
            .map_err(|e| usage(format!("{}: duration: {e}", at("duration"))))?,
        (None, None) => Duration::from_secs(60),
    };
    // A run (and its clock arithmetic) is bounded: a year is already absurd.
    const MAX_RUN: Duration = Duration::from_secs(366 * 24 * 3600);
    if duration > MAX_RUN {
        return Err(usage(format!(
            "{}: a run lasts at most {}",
            if args.duration.is_some() {
                "--duration".to_string()
            } else {
                at("duration")
            },
            humantime::format_duration(MAX_RUN)
        )));
    }
    let rate = match (&args.rate, file.rate) {
        (Some(r), _) => {
            let v: f64 = r.parse().map_err(|_| {
                cfg_err(ConfigError::flag(
                    "--rate",
                    format!("'{r}' is not a number"),
                ))
            })?;
            config::check_rate(v).map_err(|e| cfg_err(ConfigError::flag("--rate", e)))?
        }
        (None, Some(r)) => {
            config::check_rate(r).map_err(|e| usage(format!("{}: {e}", at("rate"))))?
        }
        (None, None) => 10.0,
    };
    let profile = match (&args.profile, &file.profile) {
        (Some(p), _) => {
            config::parse_profile(p).map_err(|e| cfg_err(ConfigError::flag("--profile", e)))?
        }
        (None, Some(p)) => {
            config::parse_profile(p).map_err(|e| usage(format!("{}: {e}", at("profile"))))?
        }
        (None, None) => Profile::Demo,
    };
    let weights = match (&args.weights, &file.weights) {
        (Some(w), _) => {
            config::parse_weights(w).map_err(|e| cfg_err(ConfigError::flag("--weights", e)))?
        }
        (None, Some(t)) => {
            config::table_weights(t).map_err(|e| usage(format!("{}: {e}", at("[weights]"))))?
        }
        (None, None) => config::parse_weights(DEFAULT_WEIGHTS).expect("valid defaults"),
    };
    let seed_given = args.seed.is_some() || file.seed.is_some();
    let seed = args.seed.or(file.seed).unwrap_or_else(rand::random);

    let s = &file.safety;
    let pick = |flag: &Vec<String>, file: &Option<Vec<String>>| {
        if flag.is_empty() {
            file.clone().unwrap_or_default()
        } else {
            flag.clone()
        }
    };
    let max_kills = match (args.max_kills_per_sec, s.max_kills_per_sec) {
        (Some(v), _) => v,
        (None, Some(v)) => u32::try_from(v).map_err(|_| {
            usage(format!(
                "{}: max_kills_per_sec must be a whole number ≥ 0, got {v}",
                at("max_kills_per_sec")
            ))
        })?,
        (None, None) => Safety::default().max_kills_per_sec,
    };
    let mut safety = Safety::default();
    safety.only_apps = pick(&args.only_app, &s.only_apps);
    safety.protect_apps = pick(&args.protect_app, &s.protect_apps);
    safety.include_otp_apps = args.include_otp_apps || s.include_otp_apps.unwrap_or(false);
    safety.include_no_app = args.include_no_app || s.include_no_app.unwrap_or(false);
    safety.max_kills_per_sec = max_kills;
    safety.max_app_share = args
        .max_app_share
        .or(s.max_app_share)
        .unwrap_or(safety.max_app_share);
    let safety = safety
        .with_protect_names(pick(&args.protect_name, &s.protect_names))
        .map_err(|e| {
            usage(if args.protect_name.is_empty() {
                format!("{}: {e}", at("protect_names"))
            } else {
                format!("--protect-name: {e}")
            })
        })?;
    safety.validate().map_err(|e| {
        usage(if args.max_app_share.is_some() {
            format!("--max-app-share: {e}")
        } else {
            format!("{}: {e}", at("max_app_share"))
        })
    })?;

    let allow = Allow {
        supervisor_kill: args.allow_supervisor_kill || file.allow.supervisor_kill.unwrap_or(false),
        atom_exhaustion: args.allow_atom_exhaustion || file.allow.atom_exhaustion.unwrap_or(false),
        port_exhaustion: args.allow_port_exhaustion || file.allow.port_exhaustion.unwrap_or(false),
    };
    if profile == Profile::Demo
        && (allow.supervisor_kill || allow.atom_exhaustion || allow.port_exhaustion)
    {
        return Err(usage(
            "the --allow-… operations only run with --profile aggressive",
        ));
    }

    // Per-operation settings: names must exist (built-in, whatever the allow flags).
    let known: Vec<&'static str> = builtin(Allow {
        supervisor_kill: true,
        atom_exhaustion: true,
        port_exhaustion: true,
    })
    .iter()
    .map(|o| o.name())
    .chain(chaos_beam::cluster::ops::NAMES)
    .collect();
    let mut op_settings = BTreeMap::new();
    for (name, setting) in &file.ops.builtin {
        if !known.contains(&name.as_str()) {
            return Err(usage(format!(
                "{}: unknown operation '{name}' in [ops]; known operations: {}",
                at(&format!("[ops.{name}]")),
                known.join(", ")
            )));
        }
        let weight = match setting.weight {
            Some(w) => u32::try_from(w).map_err(|_| {
                usage(format!(
                    "{}: weight of {name} must be a whole number ≥ 0, got {w}",
                    at(&format!("[ops.{name}]"))
                ))
            })?,
            None => 1,
        };
        op_settings.insert(name.clone(), (setting.enabled.unwrap_or(true), weight));
    }
    let mut custom = Vec::new();
    for c in &file.ops.custom {
        let loc = at(&format!("\"{}\"", c.name));
        if known.contains(&c.name.as_str())
            || custom
                .iter()
                .any(|(n, ..): &(String, Category, u32, String)| *n == c.name)
        {
            return Err(usage(format!(
                "{loc}: custom operation name '{}' is already taken",
                c.name
            )));
        }
        if c.name.is_empty()
            || !c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            return Err(usage(format!(
                "{loc}: custom operation name '{}' must be letters, digits and '_'",
                c.name
            )));
        }
        let cat: Category = c
            .category
            .parse()
            .map_err(|e: String| usage(format!("{loc}: {e}")))?;
        let w = u32::try_from(c.weight).map_err(|_| {
            usage(format!(
                "{loc}: weight must be a whole number ≥ 0, got {}",
                c.weight
            ))
        })?;
        if c.erlang.trim().is_empty() {
            return Err(usage(format!("{loc}: `erlang` is empty")));
        }
        custom.push((c.name.clone(), cat, w, c.erlang.clone()));
    }

    let target = TargetArgs {
        node,
        cookie: args.cookie.clone(),
        cookie_file: args.cookie_file.clone().or(file.cookie_file.clone()),
        port: args.port,
        epmd_port: args.epmd_port,
        connect_timeout: Duration::from_secs(5),
        call_timeout: args.call_timeout,
        tick: args.tick,
    };
    let proxies = if args.proxy.is_empty() {
        file.proxies
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                config::parse_proxy(p)
                    .map_err(|e| usage(format!("{}: proxies: {e}", at("proxies"))))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        args.proxy
            .iter()
            .map(|p| config::parse_proxy(p).map_err(|e| cfg_err(ConfigError::flag("--proxy", e))))
            .collect::<Result<Vec<_>, _>>()?
    };
    // Detection: thresholds and probes.
    let d = &file.detect;
    let share =
        |flag: Option<f64>, file: Option<f64>, name: &str, default: f64| -> Result<f64, CliError> {
            let (v, loc) = match (flag, file) {
                (Some(v), _) => (v, format!("--{}", name.replace('_', "-"))),
                (None, Some(v)) => (v, at(name)),
                (None, None) => return Ok(default),
            };
            if v.is_finite() && v > 0.0 && v <= 1.0 {
                Ok(v)
            } else {
                Err(usage(format!(
                    "{loc}: {name} must be above 0 and at most 1, got {v}"
                )))
            }
        };
    let recovery_window = match (&args.recovery_window, &d.recovery_window) {
        (Some(w), _) => config::parse_duration(w)
            .map_err(|e| cfg_err(ConfigError::flag("--recovery-window", e)))?,
        (None, Some(w)) => config::parse_duration(w)
            .map_err(|e| usage(format!("{}: recovery_window: {e}", at("recovery_window"))))?,
        (None, None) => Duration::from_secs(5),
    };
    if recovery_window > Duration::from_secs(3600) {
        return Err(usage("the recovery window is at most 1h"));
    }
    let keep_going = args.keep_going || d.keep_going.unwrap_or(false);
    let breaker = match (&args.breaker, &d.breaker) {
        _ if keep_going => None,
        (Some(b), _) => Some(
            config::parse_duration(b).map_err(|e| cfg_err(ConfigError::flag("--breaker", e)))?,
        ),
        (None, Some(b)) => Some(
            config::parse_duration(b)
                .map_err(|e| usage(format!("{}: breaker: {e}", at("breaker"))))?,
        ),
        (None, None) => Some(Duration::from_secs(30)),
    };
    let mut probes = Vec::new();
    if args.probe_tcp.is_empty() && args.probe_erlang.is_empty() {
        for p in &file.probes {
            probes.push(match p {
                config::ProbeConfig::Tcp {
                    address,
                    send,
                    expect,
                    objective,
                } => {
                    let spec = format!(
                        "{address}|{send}|{expect}|{}",
                        objective.clone().unwrap_or_else(|| "1s".into())
                    );
                    chaos_beam::chaos::detect::Probe::parse_tcp(&spec)
                        .map_err(|e| usage(format!("{}: probe: {e}", at("[[probes]]"))))?
                }
                config::ProbeConfig::Erlang { expr } => {
                    chaos_beam::chaos::detect::Probe::Erlang { expr: expr.clone() }
                }
            });
        }
    } else {
        for p in &args.probe_tcp {
            probes.push(
                chaos_beam::chaos::detect::Probe::parse_tcp(p)
                    .map_err(|e| cfg_err(ConfigError::flag("--probe-tcp", e)))?,
            );
        }
        for e in &args.probe_erlang {
            if e.trim().is_empty() {
                return Err(usage("--probe-erlang: the expression is empty"));
            }
            probes.push(chaos_beam::chaos::detect::Probe::Erlang { expr: e.clone() });
        }
    }
    let detect = chaos_beam::chaos::detect::DetectSettings {
        recovery_window,
        mailbox_threshold: args
            .mailbox_threshold
            .or(d.mailbox_threshold)
            .unwrap_or(10_000),
        memory_threshold: share(
            args.memory_threshold,
            d.memory_threshold,
            "memory_threshold",
            0.9,
        )?,
        limit_threshold: share(
            args.limit_threshold,
            d.limit_threshold,
            "limit_threshold",
            0.8,
        )?,
        leak_threshold: args.leak_threshold.or(d.leak_threshold).unwrap_or(200),
        horizon: duration,
        probes,
        include_otp_apps: safety.include_otp_apps,
    };
    let lease = match (&args.lease, &file.safety.lease) {
        (Some(l), _) => {
            config::parse_duration(l).map_err(|e| cfg_err(ConfigError::flag("--lease", e)))?
        }
        (None, Some(l)) => {
            config::parse_duration(l).map_err(|e| usage(format!("{}: lease: {e}", at("lease"))))?
        }
        (None, None) => chaos_beam::lease::DEFAULT_TERM,
    };
    if !(Duration::from_millis(200)..=Duration::from_secs(600)).contains(&lease) {
        return Err(usage(format!(
            "the lease term must be between 200ms and 10m, got {}",
            humantime::format_duration(lease)
        )));
    }
    if args.max_in_flight == 0 {
        return Err(usage("--max-in-flight must be at least 1"));
    }
    let cluster = super::cluster::settings(args, &file, &at, profile)?;
    Ok(RunSettings {
        target,
        duration,
        rate,
        seed,
        seed_given,
        profile,
        weights,
        report: args.report.clone().or(file.report.clone()),
        events: args.events.clone().or(file.events.clone()),
        html: args.html.clone().or(file.html.clone()),
        junit: args.junit.clone().or(file.junit.clone()),
        dry_run: args.dry_run,
        interpreted: args.no_compile,
        safety,
        allow,
        op_settings,
        custom,
        max_in_flight: args.max_in_flight,
        lease,
        progress: !args.no_progress,
        verbose,
        quiet: false,
        workload: None,
        proxies,
        detect,
        breaker,
        cluster,
    })
}

/// `chaos-monkey run`.
pub fn run(args: &RunArgs, verbose: bool, quiet: bool) -> Result<(), CliError> {
    let mut s = settings(args, verbose)?;
    s.quiet = quiet;
    let report = execute(&s)?;
    match report {
        None => Ok(()),
        Some(r) => verdict(&r),
    }
}

/// The exit code a report calls for.
pub fn verdict(r: &Report) -> Result<(), CliError> {
    if let Some(why) = &r.target_lost {
        return Err(CliError::with_code(
            exit::NODE_DOWN,
            format!("the node went down during the run: {why}"),
        ));
    }
    if !r.failure_modes.is_empty() || !r.survived {
        return Err(CliError::with_code(
            exit::FAILURE,
            format!(
                "{} failure mode(s) found; the system {}",
                r.failure_modes.len(),
                if r.survived {
                    "survived"
                } else {
                    "did not survive"
                }
            ),
        ));
    }
    Ok(())
}

/// The operations of a run, with their weights. Proxy faults only when proxies run.
fn operations(s: &RunSettings) -> Vec<(Arc<dyn Operation<BeamTarget>>, u32)> {
    let mut ops = weighted(s, builtin(s.allow).into_iter().chain(proxy_ops(s)));
    ops.extend(custom_ops(s).map(|(op, w)| (op as Arc<dyn Operation<BeamTarget>>, w)));
    ops
}

/// The proxy faults, when proxies run.
pub fn proxy_ops<C: chaos_proxy::ops::ProxyHost + 'static>(
    s: &RunSettings,
) -> Vec<Arc<dyn Operation<C>>> {
    if s.proxies.is_empty() {
        Vec::new()
    } else {
        chaos_proxy::ops::proxy_ops::<C>()
    }
}

/// `ops` that `[ops.NAME]` leaves enabled, with their weights (default 1).
pub fn weighted<C: ?Sized>(
    s: &RunSettings,
    ops: impl IntoIterator<Item = Arc<dyn Operation<C>>>,
) -> Vec<(Arc<dyn Operation<C>>, u32)> {
    ops.into_iter()
        .filter_map(|op| {
            let (enabled, weight) = s.op_settings.get(op.name()).copied().unwrap_or((true, 1));
            enabled.then_some((op, weight))
        })
        .collect()
}

/// The config's custom operations, with their weights.
pub fn custom_ops(s: &RunSettings) -> impl Iterator<Item = (Arc<CustomOp>, u32)> + '_ {
    s.custom
        .iter()
        .map(|(name, cat, w, src)| (Arc::new(CustomOp::new(name, *cat, src)), *w))
}

/// What a run needs of its target besides the engine's: one node
/// ([`BeamTarget`]) or a cluster (`commands/cluster.rs`).
pub trait RunTarget: chaos_engine::Target + chaos_proxy::ops::ProxyHost + Sized {
    /// Take the steady-state baseline (after the proxies started).
    fn with_detection(
        self,
        detect: chaos_beam::chaos::detect::DetectSettings,
    ) -> Result<Self, CliError>;
    /// Compile the snippets into temporary modules on the target(s) (and start their janitor).
    fn compile_snippets(&self) -> Result<(), chaos_beam::eval::EvalError>;
    /// List the first victims (before the clock starts).
    fn first_victims(&self) -> Result<(), chaos_beam::eval::EvalError>;
    /// Hand over the fault proxies.
    fn with_proxies(self, proxies: Vec<chaos_proxy::Proxy>) -> Self;
    /// The operations of a run, with their weights.
    fn operations(s: &RunSettings) -> Vec<(Arc<dyn Operation<Self>>, u32)>;
    /// Print the schedule and the victims it would pick.
    fn dry_run(&self, schedule: Schedule<Self>) -> Result<(), CliError>;
    /// What is still there after clean-up.
    fn audit(&self) -> Vec<String>;
    /// What the run is against, for the log and the report.
    fn describe(&self, s: &RunSettings) -> String;
    /// Target-specific report sections.
    fn finish_report(&self, _report: &mut Report, _record: &chaos_engine::RunRecord) {}
    /// Close the connections.
    fn close(&self);
}

impl RunTarget for BeamTarget {
    fn with_detection(
        self,
        detect: chaos_beam::chaos::detect::DetectSettings,
    ) -> Result<Self, CliError> {
        smol::block_on(BeamTarget::with_detection(self, detect)).map_err(baseline_error)
    }

    fn compile_snippets(&self) -> Result<(), chaos_beam::eval::EvalError> {
        smol::block_on(BeamTarget::compile_snippets(self))
    }

    fn first_victims(&self) -> Result<(), chaos_beam::eval::EvalError> {
        smol::block_on(self.candidates()).map(|_| ())
    }

    fn with_proxies(self, proxies: Vec<chaos_proxy::Proxy>) -> Self {
        BeamTarget::with_proxies(self, proxies)
    }

    fn operations(s: &RunSettings) -> Vec<(Arc<dyn Operation<Self>>, u32)> {
        operations(s)
    }

    fn dry_run(&self, schedule: Schedule<Self>) -> Result<(), CliError> {
        dry_run(self, schedule)
    }

    fn audit(&self) -> Vec<String> {
        smol::block_on(BeamTarget::audit(self))
            .unwrap_or_else(|e| vec![format!("the after-run audit failed: {e}")])
    }

    fn describe(&self, s: &RunSettings) -> String {
        s.target.node.to_string()
    }

    fn finish_report(&self, report: &mut Report, _record: &chaos_engine::RunRecord) {
        report.extras.insert("lease".to_string(), lease_json(self));
        // Primed before the clock started, and compiled during the run
        // (custom snippets; each one's names are new atoms on its first time).
        report.extras.insert(
            "compiled_snippets".to_string(),
            serde_json::to_value(chaos_beam::compiled::stats(&self.client)).expect("serialisable"),
        );
    }

    fn close(&self) {
        self.end_lease();
        self.client.close();
    }
}

/// The lease's figures for the report: its term, the renewals sent, and how
/// often it ended while the connection was up (each time, every effect then
/// held was undone early).
pub fn lease_json(target: &BeamTarget) -> serde_json::Value {
    let stats = target.lease_stats();
    serde_json::json!({
        "term_ms": target.lease_term().as_millis() as u64,
        "renewals": stats.renewals,
        "expired_while_connected": stats.expired_while_connected,
        "keeper_lost": stats.keeper_lost,
    })
}

/// A failed steady-state baseline: exit 3 when the node went away, else 1.
pub fn baseline_error(e: chaos_beam::eval::EvalError) -> CliError {
    if e.is_disconnect() {
        CliError::unreachable(e)
    } else {
        CliError::failed(format!("could not take the steady-state baseline: {e}"))
    }
}

/// The chaos context on one connected node (no detection yet).
pub fn beam_target(
    s: &RunSettings,
    client: chaos_beam::dist::DistClient,
) -> Result<BeamTarget, CliError> {
    let target = smol::block_on(BeamTarget::new(client, s.profile, s.safety.clone(), s.seed))
        .map_err(|e| {
            if e.is_disconnect() {
                CliError::unreachable(e)
            } else {
                CliError::failed(e)
            }
        })?;
    target.set_lease_term(s.lease);
    Ok(target)
}

/// Run (or dry-run) with `s`; `None` for a dry run.
pub fn execute(s: &RunSettings) -> Result<Option<Report>, CliError> {
    match &s.cluster {
        Some(c) => execute_on(s, super::cluster::attach(s, c)?),
        None => execute_on(s, beam_target(s, super::connect(&s.target)?)?),
    }
}

fn execute_on<T: RunTarget>(s: &RunSettings, target: T) -> Result<Option<Report>, CliError> {
    // Fault proxies (real runs only; a dry run starts nothing).
    let mut proxies = Vec::new();
    if !s.dry_run {
        for (listen, upstream) in &s.proxies {
            let p = smol::block_on(chaos_proxy::Proxy::start(*listen, *upstream))
                .map_err(|e| CliError::usage(format!("--proxy {listen}={upstream}: {e}")))?;
            eprintln!(
                "  proxy {} → {} (clients connect to {})",
                p.listen_addr(),
                p.upstream_addr(),
                p.listen_addr()
            );
            proxies.push(p);
        }
    }
    let target = if s.dry_run {
        target
    } else {
        // Probes aimed at a proxied service go through its proxy, like the workload.
        let mut detect = s.detect.clone();
        for p in &mut detect.probes {
            if let chaos_beam::chaos::detect::Probe::Tcp { addr, .. } = p {
                if let Some(px) = proxies.iter().find(|px| px.upstream_addr() == *addr) {
                    *addr = px.listen_addr();
                }
            }
        }
        target.with_detection(detect)?
    };
    // After the baseline, so the run's own snippets share the first module.
    if !s.dry_run && !s.interpreted {
        target.compile_snippets().map_err(|e| {
            if e.is_disconnect() {
                CliError::unreachable(e)
            } else {
                CliError::failed(format!("could not start the snippet janitor: {e}"))
            }
        })?;
    }
    if !s.dry_run {
        // The first victim list, before the clock starts: on a big node it
        // takes a second or two, and operations would queue behind it.
        target.first_victims().map_err(|e| {
            if e.is_disconnect() {
                CliError::unreachable(e)
            } else {
                CliError::failed(format!("could not list the node's processes: {e}"))
            }
        })?;
    }
    let target = Arc::new(target.with_proxies(proxies.clone()));
    let mut reasons = BTreeMap::new();
    reasons.insert(Category::Network, NETWORK_NONE.to_string());
    let schedule = Schedule::new(
        s.seed,
        s.rate,
        s.duration,
        s.profile,
        &s.weights,
        T::operations(s),
        &reasons,
    )
    .map_err(usage)?;
    let shares = schedule.shares();
    let skipped = schedule.skipped().to_vec();

    eprintln!(
        "chaos-monkey: {} against {} for {} at {}/s, profile {}, seed {}{}",
        if s.dry_run { "dry run" } else { "run" },
        target.describe(s),
        humantime::format_duration(s.duration),
        s.rate,
        s.profile,
        s.seed,
        if s.seed_given {
            ""
        } else {
            " (random; replay with --seed)"
        }
    );
    for sk in &skipped {
        eprintln!(
            "  {} (weight {}) skipped: {}",
            sk.category, sk.weight, sk.reason
        );
    }

    if s.dry_run {
        target.dry_run(schedule)?;
        target.close();
        return Ok(None);
    }

    let stop = StopSignal::new();
    {
        let stop = stop.clone();
        let presses = std::sync::atomic::AtomicUsize::new(0);
        // Ctrl-C / SIGTERM: stop, undo everything, write the report. A second one exits at once.
        let _ = ctrlc::set_handler(move || {
            if presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                eprintln!("chaos-monkey: second interrupt, exiting without clean-up (helpers on the node undo their effects at their deadlines)");
                std::process::exit(130);
            }
            eprintln!("chaos-monkey: interrupted, undoing effects and writing the report (press again to exit at once)");
            stop.stop();
        });
    }

    let mut events_file = match &s.events {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| {
                CliError::failed(format!(
                    "cannot create the events file {}: {e}",
                    p.display()
                ))
            },
        )?)),
        None => None,
    };
    let total = schedule.len();
    let bar = (s.progress && std::io::stderr().is_terminal())
        .then(|| output::progress_bar(total, s.duration));
    let log_lines = s.verbose || (bar.is_none() && !s.quiet);
    let mut ops_done = 0u64;
    let mut errors = 0u64;
    let mut healthy = true;
    let mut observer = |u: Update<'_>| match u {
        Update::Event(e) => {
            ops_done += 1;
            if e.outcome == Status::Failed {
                errors += 1;
            }
            if let Some(f) = events_file.as_mut() {
                let _ = serde_json::to_writer(&mut *f, e);
                let _ = f.write_all(b"\n");
            }
            if log_lines {
                let line = output::event_line(e);
                match &bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
            if let Some(b) = &bar {
                b.set_position(ops_done);
                b.set_message(output::bar_message(ops_done, errors, healthy, b.elapsed()));
            }
        }
        Update::Sample(s) => {
            healthy = matches!(s, Ok(s) if s.healthy);
            if let Some(b) = &bar {
                b.set_message(output::bar_message(ops_done, errors, healthy, b.elapsed()));
            }
        }
        Update::UndoFailed(what) => {
            let line = format!("chaos-monkey: could not undo: {what}");
            match &bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }
    };
    let cfg = RunConfig {
        duration: s.duration,
        max_in_flight: s.max_in_flight,
        recovery_window: s.detect.recovery_window,
        breaker: s.breaker,
        ..RunConfig::default()
    };
    // The workload goes through the proxy in front of its address, when there is one.
    let workload = s.workload.map(|(addr, clients, rate)| {
        let via = proxies
            .iter()
            .find(|p| p.upstream_addr() == addr)
            .map(|p| p.listen_addr())
            .unwrap_or(addr);
        crate::workload::Workload::start(via, clients, rate)
    });
    let record = smol::block_on(chaos_engine::run(
        target.clone(),
        schedule,
        &cfg,
        stop,
        &mut observer,
    ));
    let workload = workload.map(|w| smol::block_on(w.stop()));
    // Every proxy fault has ended (effects undone); close the proxies' connections and release their ports.
    let proxy_stats: Vec<_> = proxies.iter().map(|p| p.stats()).collect();
    for p in &proxies {
        smol::block_on(p.shutdown());
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(f) = events_file.as_mut() {
        let _ = f.flush();
    }
    let audit = if record.target_lost.is_none() {
        target.audit()
    } else {
        vec!["the node went down: nothing could be checked".to_string()]
    };
    let report = Report::build(
        ReportInput {
            tool: format!("chaos-monkey {}", env!("CARGO_PKG_VERSION")),
            target: target.describe(s),
            seed: s.seed,
            profile: s.profile,
            planned_duration_s: s.duration.as_secs_f64(),
            rate: s.rate,
            weights: &s.weights,
            shares: &shares,
            skipped_categories: &skipped,
            audit,
            recovery_window: s.detect.recovery_window,
        },
        &record,
    );
    let mut report = report;
    if !proxy_stats.is_empty() {
        report.extras.insert(
            "proxies".to_string(),
            serde_json::to_value(&proxy_stats).expect("serialisable"),
        );
    }
    if let Some(w) = &workload {
        report.extras.insert(
            "workload".to_string(),
            serde_json::to_value(w).expect("serialisable"),
        );
        if w.lost_writes > 0 {
            report.recommendations.insert(
                0,
                format!("The client workload saw {} acknowledged writes read back wrong or missing: the store loses data under chaos.", w.lost_writes),
            );
        }
    }
    target.finish_report(&mut report, &record);
    target.close();
    if let Some(p) = &s.report {
        std::fs::write(
            p,
            serde_json::to_string_pretty(&report).expect("serialisable"),
        )
        .map_err(|e| CliError::failed(format!("cannot write the report {}: {e}", p.display())))?;
    }
    write_html_and_junit(s, &report)?;
    print!("{}", output::report_text(&report));
    Ok(Some(report))
}

/// The HTML page and the JUnit file, when asked for.
fn write_html_and_junit(s: &RunSettings, report: &Report) -> Result<(), CliError> {
    let write = |path: &Path, what: &str, text: String| {
        std::fs::write(path, text).map_err(|e| {
            CliError::failed(format!("cannot write the {what} {}: {e}", path.display()))
        })
    };
    if let Some(p) = &s.html {
        write(p, "HTML report", chaos_report::run_html(report))?;
    }
    if let Some(p) = &s.junit {
        let mut kinds = chaos_beam::chaos::detect::FAILURE_KINDS.to_vec();
        if s.cluster.is_some() {
            kinds.extend(chaos_beam::cluster::detect::CLUSTER_FAILURE_KINDS);
        }
        let xml = chaos_report::run_junit(report, &kinds)
            .map_err(|e| CliError::failed(format!("cannot write JUnit XML: {e}")))?;
        write(p, "JUnit file", xml)?;
    }
    Ok(())
}

fn dry_run(target: &BeamTarget, schedule: Schedule<BeamTarget>) -> Result<(), CliError> {
    let candidates: Vec<_> = smol::block_on(target.candidates())
        .map_err(CliError::failed)?
        .iter()
        .filter(|c| !c.supervisor)
        .cloned()
        .collect();
    let mut by_app: BTreeMap<String, usize> = BTreeMap::new();
    for c in &candidates {
        *by_app
            .entry(c.app.clone().unwrap_or_else(|| "(no application)".into()))
            .or_default() += 1;
    }
    println!("eligible victims: {} worker processes", candidates.len());
    for (app, n) in &by_app {
        println!("  {app}: {n}");
    }
    let mut rng = schedule.stream("victims");
    println!("schedule ({} operations):", schedule.len());
    for planned in schedule {
        let victim = if candidates.is_empty() {
            "no eligible victim".to_string()
        } else {
            let c = &candidates[rng.range_inclusive(0, candidates.len() as u64 - 1) as usize];
            format!(
                "e.g. {} {}",
                c.pid_text,
                c.name.clone().unwrap_or_else(|| c.initial_call.clone())
            )
        };
        println!("{} -> {victim}", output::planned_line(&planned));
    }
    Ok(())
}
