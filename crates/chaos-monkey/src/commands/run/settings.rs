//! A run's settings: every value from its flag, else the config file, else
//! its default, validated, with errors that say where a bad value came from.

use crate::cli::{RunArgs, TargetArgs};
use crate::commands::layered::{cfg_err, layered, layered_duration, usage};
use crate::config::{self, ConfigError, FileConfig, DEFAULT_WEIGHTS};
use crate::exit::CliError;
use chaos_beam::chaos::ops::builtin;
use chaos_beam::chaos::Safety;
use chaos_beam::dist::NodeName;
use chaos_engine::{Category, Profile};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the network category may get no operations.
pub(super) const NETWORK_NONE: &str = "every network operation is disabled in the config; the category is skipped and the others are renormalised";

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
    /// The gated operations the user allowed (`--allow`).
    pub allow: BTreeSet<String>,
    pub op_settings: BTreeMap<String, (bool, u32)>,
    /// `[[ops.custom]]`: name, category, weight, expression, success patterns.
    pub custom: Vec<(String, Category, u32, String, Vec<String>)>,
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
    pub cluster: Option<super::cluster_settings::ClusterSettings>,
    /// Where the run is recorded, and the regression gate.
    pub history: crate::commands::history::HistorySettings,
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
            allow: BTreeSet::new(),
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
            history: Default::default(),
        }
    }
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

    let node_text = args.node.first().cloned().or(file.node.clone());
    if node_text.is_none() && args.conn.release.is_none() {
        return Err(usage(
            "no target node: pass --node NAME@HOST or --release PATH (or set `node` in the config)",
        ));
    }
    let node: Option<NodeName> = node_text
        .map(|t| {
            t.parse().map_err(|e: chaos_beam::dist::NodeNameError| {
                if !args.node.is_empty() {
                    usage(format!("--node: {e}"))
                } else {
                    usage(format!("{}: {e}", at("node")))
                }
            })
        })
        .transpose()?;
    let duration = layered_duration(&args.duration, &file.duration, "duration", &at)?
        .unwrap_or(Duration::from_secs(60));
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
    let rate = layered(
        args.rate.as_deref(),
        file.rate,
        "rate",
        &at,
        |r| {
            let v: f64 = r.parse().map_err(|_| format!("'{r}' is not a number"))?;
            config::check_rate(v)
        },
        config::check_rate,
    )?
    .unwrap_or(10.0);
    let profile = layered(
        args.profile.as_deref(),
        file.profile.as_deref(),
        "profile",
        &at,
        config::parse_profile,
        config::parse_profile,
    )?
    .unwrap_or(Profile::Demo);
    let weights = layered(
        args.weights.as_deref(),
        file.weights.as_ref(),
        "[weights]",
        &at,
        config::parse_weights,
        config::table_weights,
    )?
    .unwrap_or_else(|| config::parse_weights(DEFAULT_WEIGHTS).expect("valid defaults"));
    let seed_given = args.seed.is_some() || file.seed.is_some();
    let seed = args.seed.or(file.seed).unwrap_or_else(rand::random);

    let safety = crate::commands::safety::safety(&args.safety, &file, Some(profile), &at)?;

    let allow = super::allow::allowed(&args.safety, &file, &at)?;

    // Per-operation settings: names must exist (built-in, whatever the allow flags).
    let known: Vec<&'static str> = builtin()
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
                .any(|(n, ..): &(String, Category, u32, String, Vec<String>)| *n == c.name)
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
        let success = match &c.success {
            Some(p) if p.is_empty() || p.iter().any(|x| x.trim().is_empty()) => {
                return Err(usage(format!(
                    "{loc}: `success` needs at least one pattern, and no empty one"
                )))
            }
            Some(p) if p.iter().any(|x| x.contains("->") || x.contains(';')) => {
                return Err(usage(format!(
                    "{loc}: `success` takes patterns (optionally `when` a guard), like \"{{ok, _}}\", not clauses"
                )))
            }
            Some(p) => p.clone(),
            None => chaos_beam::chaos::custom::DEFAULT_SUCCESS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        custom.push((c.name.clone(), cat, w, c.erlang.clone(), success));
    }

    let mut conn = args.conn.clone();
    conn.cookie_file = conn.cookie_file.or(file.cookie_file.clone());
    let mut target = TargetArgs { node, conn };
    crate::commands::attach::resolve(&mut target)?;
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
    let (detect, breaker) = super::detect_settings::detect_settings(
        args,
        &file,
        &at,
        duration,
        safety.include_otp_apps,
    )?;
    let lease = layered_duration(&args.lease, &file.safety.lease, "lease", &at)?
        .unwrap_or(chaos_beam::lease::DEFAULT_TERM);
    if !(Duration::from_millis(200)..=Duration::from_secs(600)).contains(&lease) {
        return Err(usage(format!(
            "the lease term must be between 200ms and 10m, got {}",
            humantime::format_duration(lease)
        )));
    }
    if args.max_in_flight == 0 {
        return Err(usage("--max-in-flight must be at least 1"));
    }
    let cluster = super::cluster_settings::settings(args, &file, &at, &allow)?;
    super::allow::only_aggressive(&allow, profile)?;
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
        history: crate::commands::history::HistorySettings::for_run(&args.history)?,
    })
}

/// For tests: the settings of `chaos-monkey run FLAGS` with `toml` as the
/// config file `c.toml`.
#[cfg(test)]
pub(crate) fn settings_for(flags: &[&str], toml: &str) -> Result<RunSettings, CliError> {
    use crate::cli::{Cli, Command};
    use clap::Parser;
    let args: Vec<&str> = ["chaos-monkey", "run"]
        .iter()
        .chain(flags)
        .copied()
        .collect();
    let Command::Run(run) = Cli::try_parse_from(args).unwrap().command else {
        panic!("not a run")
    };
    let path = Path::new("c.toml");
    let (file, text) = config::load_str(toml, path).unwrap();
    settings_from(&run, false, file, &text, path)
}
