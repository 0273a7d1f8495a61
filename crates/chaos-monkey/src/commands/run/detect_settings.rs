//! The detection settings of a run: thresholds, the recovery window, the
//! breaker and the probes (flags, else `[detect]` and `[[probes]]`).

use crate::cli::RunArgs;
use crate::commands::layered::{cfg_err, layered_duration, usage};
use crate::config::{self, ConfigError, FileConfig};
use crate::exit::CliError;
use chaos_beam::chaos::detect::DetectSettings;
use std::time::Duration;

/// The detection settings and the breaker (`None` with `--keep-going`).
pub(super) fn detect_settings(
    args: &RunArgs,
    file: &FileConfig,
    at: &dyn Fn(&str) -> String,
    duration: Duration,
    include_otp_apps: bool,
) -> Result<(DetectSettings, Option<Duration>), CliError> {
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
    let recovery_window = layered_duration(
        &args.recovery_window,
        &d.recovery_window,
        "recovery_window",
        &at,
    )?
    .unwrap_or(Duration::from_secs(5));
    if recovery_window > Duration::from_secs(3600) {
        return Err(usage("the recovery window is at most 1h"));
    }
    let keep_going = args.keep_going || d.keep_going.unwrap_or(false);
    let breaker = match layered_duration(&args.breaker, &d.breaker, "breaker", &at)? {
        _ if keep_going => None,
        given => Some(given.unwrap_or(Duration::from_secs(30))),
    };
    let mut probes = Vec::new();
    if args.probe.is_empty() && args.probe_tcp.is_empty() && args.probe_erlang.is_empty() {
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
                config::ProbeConfig::Http(c)
                | config::ProbeConfig::Amqp(c)
                | config::ProbeConfig::Line(c)
                | config::ProbeConfig::Connect(c) => {
                    let want = match p {
                        config::ProbeConfig::Http(_) => "http",
                        config::ProbeConfig::Amqp(_) => "amqp",
                        config::ProbeConfig::Line(_) => "line",
                        _ => "tcp",
                    };
                    service_probe(c, Some(want))
                        .map_err(|e| usage(format!("{}: probe: {e}", at("[[probes]]"))))?
                }
            });
        }
    } else {
        for url in &args.probe {
            probes.push(
                service_probe(&crate::probes::ServiceProbeConfig::url(url), None)
                    .map_err(|e| usage(format!("--probe: {e}")))?,
            );
        }
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
    let metrics = metrics(file, at)?;
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
        include_otp_apps,
        metrics,
    };
    Ok((detect, breaker))
}

/// The `[[metrics]]` tables: names unique (letters, digits, `_`), an
/// expression, a finite `max`. Whether each expression runs and gives a
/// number is checked on the node before the run.
fn metrics(
    file: &FileConfig,
    at: &dyn Fn(&str) -> String,
) -> Result<Vec<chaos_beam::chaos::detect::metrics::Metric>, CliError> {
    let mut out: Vec<chaos_beam::chaos::detect::metrics::Metric> = Vec::new();
    for m in &file.metrics {
        let first_line = m.expr.trim().lines().next().unwrap_or_default();
        // Its line: the expression as usually written, else its text, else
        // the name (`at` answers the bare file when it finds nothing).
        let unfound = at("\u{1}");
        let location = [
            format!("expr = \"{first_line}"),
            format!("expr = '{first_line}"),
            first_line.to_string(),
            format!("\"{}\"", m.name),
        ]
        .iter()
        .filter(|needle| !needle.trim_matches(['"', '\'']).is_empty())
        .map(|needle| at(needle))
        .find(|l| *l != unfound)
        .unwrap_or(unfound);
        let bad = |why: String| usage(format!("{location}: metric {}: {why}", m.name));
        if m.name.is_empty()
            || !m
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad("the name must be letters, digits and '_'".into()));
        }
        if out.iter().any(|o| o.name == m.name) {
            return Err(bad("the name is already taken".into()));
        }
        if first_line.is_empty() {
            return Err(bad("expr is empty".into()));
        }
        if m.max.is_some_and(|x| !x.is_finite()) {
            return Err(bad("max must be a finite number".into()));
        }
        out.push(chaos_beam::chaos::detect::metrics::Metric {
            name: m.name.clone(),
            expr: m.expr.clone(),
            unit: m.unit.clone(),
            max: m.max,
            location,
        });
    }
    Ok(out)
}

/// A service probe for the detector, from its table; `kind` is what the
/// table's `type` says the URL must be.
fn service_probe(
    c: &crate::probes::ServiceProbeConfig,
    kind: Option<&str>,
) -> Result<chaos_beam::chaos::detect::Probe, String> {
    let probe = crate::probes::build(c, &chaos_probe::LineProtocol::default())?;
    if let Some(k) = kind {
        if probe.kind() != k {
            return Err(format!(
                "the url is a {} probe, but the table says {k}",
                probe.kind()
            ));
        }
    }
    let objective = match &c.objective {
        Some(o) => chaos_engine::duration::checked_humantime(o)
            .map_err(|e| format!("bad objective '{o}': {e}"))?,
        None => std::time::Duration::from_secs(1),
    };
    if objective.is_zero() {
        return Err("the objective must be greater than zero".into());
    }
    Ok(chaos_beam::chaos::detect::Probe::Service { probe, objective })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The `[[metrics]]` of `text`, or the error's text.
    fn metrics_of(text: &str) -> Result<Vec<String>, String> {
        let path = Path::new("m.toml");
        let (file, text) = config::load_str(text, path).map_err(|e| e.to_string())?;
        let at = |k: &str| config::locate(path, &text, k);
        metrics(&file, &at)
            .map(|ms| {
                ms.iter()
                    .map(|m| format!("{} {}", m.name, m.location))
                    .collect()
            })
            .map_err(|e| {
                assert_eq!(e.code(), crate::exit::USAGE);
                e.to_string()
            })
    }

    #[test]
    fn metrics_are_named_once_with_an_expression_and_a_finite_max_each_located() {
        let ok = "seed = 1\n[[metrics]]\nname = \"a\"\nexpr = \"1\"\n\n[[metrics]]\nname = \"b_2\"\nexpr = \"2.5\"\nunit = \"s\"\nmax = 3\n";
        assert_eq!(metrics_of(ok).unwrap(), ["a m.toml:4", "b_2 m.toml:8"]);
        let err = |t: &str| metrics_of(t).unwrap_err();
        assert_eq!(
            err("[[metrics]]\nname = \"a\"\nexpr = \"1\"\n[[metrics]]\nname = \"a\"\nexpr = \"3\"\n"),
            "m.toml:6: metric a: the name is already taken"
        );
        assert_eq!(
            err("[[metrics]]\nname = \"a b\"\nexpr = \"1\"\n"),
            "m.toml:3: metric a b: the name must be letters, digits and '_'"
        );
        assert_eq!(
            err("[[metrics]]\nname = \"e\"\nexpr = \"  \"\n"),
            "m.toml:3: metric e: expr is empty"
        );
        assert_eq!(
            err("[[metrics]]\nname = \"m\"\nexpr = \"1\"\nmax = nan\n"),
            "m.toml:3: metric m: max must be a finite number"
        );
        // A field the table does not have is refused by the parser, with its line.
        assert!(
            err("[[metrics]]\nname = \"m\"\nexpr = \"1\"\nlimit = 3\n").starts_with("m.toml:4:")
        );
    }
}
