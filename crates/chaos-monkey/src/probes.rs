//! Service probes from the command line and the config: `--probe URL`
//! (`run`, `scenarios`), `[scenarios.probe]` and `[[probes]]` tables with a
//! `url` and the protocol's options, built into `chaos_probe` clients.
//! Credentials come from the URL, the table, or an environment variable
//! named in it (`password_env`); they are never printed.

use chaos_probe::kinds::amqp::AmqpProbe;
use chaos_probe::kinds::http::{HttpProbe, HttpWrite};
use chaos_probe::spec::percent_decode;
use chaos_probe::{LineProtocol, Probe, ProbeSpec, Secret};
use serde::Deserialize;
use std::sync::Arc;

/// A service probe's table: `url` and, per protocol, its options.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceProbeConfig {
    /// `amqp://…`, `http://…`, `line://…`, `tcp://…` (loopback).
    pub url: String,
    /// User (HTTP basic auth, AMQP); overrides the URL's.
    pub user: Option<String>,
    /// Password; overrides the URL's.
    pub password: Option<String>,
    /// The environment variable that holds the password.
    pub password_env: Option<String>,
    /// HTTP: the liveness request's method [default: GET].
    pub method: Option<String>,
    /// HTTP: its body.
    pub body: Option<String>,
    /// HTTP: the status that means up [default: any 2xx].
    pub status: Option<u16>,
    /// HTTP: a regex the answer's body must match.
    pub expect_body: Option<String>,
    /// HTTP: the write's method (PUT or POST) [default: PUT].
    pub write_method: Option<String>,
    /// HTTP: the write's path, with `{key}`.
    pub write_path: Option<String>,
    /// HTTP: the write's body, with `{value}` [default: "{value}"].
    pub write_body: Option<String>,
    /// HTTP: the read-back path, with `{key}` [default: the write path].
    pub read_path: Option<String>,
    /// AMQP: the virtual host; overrides the URL's.
    pub vhost: Option<String>,
    /// `run`: the latency objective [default: 1s].
    pub objective: Option<String>,
}

impl ServiceProbeConfig {
    /// A table with just a URL (what `--probe URL` gives).
    pub fn url(url: &str) -> Self {
        Self {
            url: url.to_string(),
            ..Self::default()
        }
    }
}

/// The probe `cfg` describes; the error says what is wrong (never a password).
pub fn build(cfg: &ServiceProbeConfig, line: &LineProtocol) -> Result<Arc<dyn Probe>, String> {
    let spec = ProbeSpec::parse(&cfg.url).map_err(|e| e.to_string())?;
    let password = match (&cfg.password, &cfg.password_env) {
        (Some(_), Some(_)) => return Err("give password or password_env, not both".into()),
        (Some(p), None) => Some(p.clone()),
        (None, Some(var)) => Some(
            std::env::var(var)
                .map_err(|_| format!("password_env: the environment variable {var} is not set"))?,
        ),
        (None, None) => None,
    };
    let credentials = match (&cfg.user, password.map(Secret), &spec.credentials) {
        (Some(u), Some(p), _) => Some((u.clone(), p)),
        (Some(u), None, Some((_, p))) => Some((u.clone(), p.clone())),
        (Some(u), None, None) => Some((u.clone(), Secret::default())),
        (None, Some(p), Some((u, _))) => Some((u.clone(), p)),
        (None, Some(_), None) => return Err("a password needs a user".into()),
        (None, None, c) => c.clone(),
    };
    let http_only = [
        ("method", cfg.method.is_some()),
        ("body", cfg.body.is_some()),
        ("status", cfg.status.is_some()),
        ("expect_body", cfg.expect_body.is_some()),
        ("write_method", cfg.write_method.is_some()),
        ("write_path", cfg.write_path.is_some()),
        ("write_body", cfg.write_body.is_some()),
        ("read_path", cfg.read_path.is_some()),
    ];
    if spec.kind != "http" {
        if let Some((key, _)) = http_only.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{key} is an option of http probes, not {}",
                spec.kind
            ));
        }
    }
    if spec.kind != "amqp" && cfg.vhost.is_some() {
        return Err(format!(
            "vhost is an option of amqp probes, not {}",
            spec.kind
        ));
    }
    if credentials.is_some() && !["http", "amqp"].contains(&spec.kind.as_str()) {
        return Err(format!("a {} probe takes no credentials", spec.kind));
    }
    match spec.kind.as_str() {
        "http" => {
            let mut p = HttpProbe::get(spec.addr, &spec.path);
            p.credentials = credentials;
            if let Some(m) = &cfg.method {
                p.method = http_method(m, "method")?;
            }
            p.body = cfg.body.clone();
            if let Some(s) = cfg.status {
                if !(100..=599).contains(&s) {
                    return Err(format!("status {s} is not an HTTP status (100-599)"));
                }
                p.status = Some(s);
            }
            if let Some(r) = &cfg.expect_body {
                p.expect_body =
                    Some(regex::Regex::new(r).map_err(|e| format!("expect_body: bad regex: {e}"))?);
            }
            if let Some(path) = &cfg.write_path {
                if !path.starts_with('/') || !path.contains("{key}") {
                    return Err(format!(
                        "write_path '{path}' must start with '/' and contain {{key}}"
                    ));
                }
                let read_path = cfg.read_path.clone().unwrap_or_else(|| path.clone());
                if !read_path.starts_with('/') || !read_path.contains("{key}") {
                    return Err(format!(
                        "read_path '{read_path}' must start with '/' and contain {{key}}"
                    ));
                }
                p.write = Some(HttpWrite {
                    method: http_method(
                        cfg.write_method.as_deref().unwrap_or("PUT"),
                        "write_method",
                    )?,
                    path: path.clone(),
                    body: cfg.write_body.clone().unwrap_or_else(|| "{value}".into()),
                    read_path,
                });
            } else if cfg.read_path.is_some() || cfg.write_method.is_some() {
                return Err("read_path and write_method need write_path".into());
            }
            Ok(Arc::new(p))
        }
        "amqp" => {
            let mut p = AmqpProbe::new(spec.addr);
            if let Some(c) = credentials {
                p.credentials = c;
            }
            let vhost = spec.path.trim_start_matches('/');
            if let Some(v) = &cfg.vhost {
                p.vhost = v.clone();
            } else if !vhost.is_empty() {
                p.vhost = percent_decode(vhost);
            }
            Ok(Arc::new(p))
        }
        _ => Ok(spec.build(line)),
    }
}

fn http_method(m: &str, key: &str) -> Result<String, String> {
    let up = m.to_ascii_uppercase();
    if ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(&up.as_str()) {
        Ok(up)
    } else {
        Err(format!("{key}: '{m}' is not an HTTP method"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(cfg: ServiceProbeConfig) -> String {
        build(&cfg, &LineProtocol::default()).unwrap_err()
    }

    #[test]
    fn builds_each_kind_and_refuses_options_of_another() {
        let line = LineProtocol::default();
        for (url, kind) in [
            ("amqp://127.0.0.1:5672", "amqp"),
            ("http://127.0.0.1:8080/health", "http"),
            ("line://127.0.0.1:5555", "line"),
            ("tcp://127.0.0.1:5555", "tcp"),
        ] {
            assert_eq!(
                build(&ServiceProbeConfig::url(url), &line).unwrap().kind(),
                kind
            );
        }
        let mut c = ServiceProbeConfig::url("amqp://127.0.0.1:5672");
        c.status = Some(200);
        assert!(err(c).contains("status is an option of http probes"));
        let mut c = ServiceProbeConfig::url("http://127.0.0.1:80/");
        c.write_path = Some("/kv".into());
        assert!(err(c).contains("must start with '/' and contain {key}"));
        let mut c = ServiceProbeConfig::url("http://127.0.0.1:80/");
        c.expect_body = Some("(".into());
        assert!(err(c).contains("bad regex"));
        let mut c = ServiceProbeConfig::url("tcp://127.0.0.1:80");
        c.user = Some("u".into());
        assert!(err(c).contains("takes no credentials"));
        let mut c = ServiceProbeConfig::url("http://127.0.0.1:80/");
        c.password_env = Some("CHAOS_MONKEY_SURELY_UNSET_VAR".into());
        c.user = Some("u".into());
        assert!(err(c).contains("is not set"));
    }

    #[test]
    fn the_description_never_shows_the_password() {
        let mut c = ServiceProbeConfig::url("http://admin:s3cretpw@127.0.0.1:15672/api/overview");
        c.expect_body = Some("version".into());
        let p = build(&c, &LineProtocol::default()).unwrap();
        let shown = format!("{} {p:?}", p.describe());
        assert!(!shown.contains("s3cretpw"), "{shown}");
        let mut c = ServiceProbeConfig::url("amqp://bob:s3cretpw@127.0.0.1:5672/v");
        c.vhost = Some("other".into());
        let p = build(&c, &LineProtocol::default()).unwrap();
        let shown = format!("{} {p:?}", p.describe());
        assert!(!shown.contains("s3cretpw"), "{shown}");
    }
}
