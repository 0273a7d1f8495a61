//! The run configuration: a TOML file (`--config`) merged with flags (flags
//! win), validated with errors that say where (file and line, or flag).

use chaos_engine::{Category, Profile, Weights};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default category weights (the seed's 30/20/20/15/15).
pub const DEFAULT_WEIGHTS: &str = "process=30,memory=20,network=20,state=15,timing=15";

/// The config file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Target node.
    pub node: Option<String>,
    /// Cookie file.
    pub cookie_file: Option<PathBuf>,
    /// Run length, e.g. "60s", "1h".
    pub duration: Option<String>,
    /// Operations per second.
    pub rate: Option<f64>,
    /// Seed.
    pub seed: Option<u64>,
    /// demo | aggressive.
    pub profile: Option<String>,
    /// Category weights.
    pub weights: Option<BTreeMap<String, i64>>,
    /// Report file.
    pub report: Option<PathBuf>,
    /// Events file.
    pub events: Option<PathBuf>,
    /// HTML report file.
    pub html: Option<PathBuf>,
    /// JUnit XML file.
    pub junit: Option<PathBuf>,
    /// Fault proxies, `LISTEN=UPSTREAM`.
    pub proxies: Option<Vec<String>>,
    /// Safety rules.
    #[serde(default)]
    pub safety: SafetyConfig,
    /// Irreversible operations.
    #[serde(default)]
    pub allow: AllowConfig,
    /// Per-operation settings and custom operations.
    #[serde(default)]
    pub ops: OpsConfig,
    /// Detection thresholds.
    #[serde(default)]
    pub detect: DetectConfig,
    /// Probes.
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
    /// User metrics, sampled every second.
    #[serde(default)]
    pub metrics: Vec<MetricConfig>,
    /// A cluster run: `[cluster]` and `[cluster.node."NAME@HOST"]`.
    #[serde(default)]
    pub cluster: ClusterConfig,
    /// `chaos-monkey scenarios` thresholds.
    #[serde(default)]
    pub scenarios: ScenariosConfig,
}

/// `[cluster]`: attach to several nodes of one cluster.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Discover the members from the first node's `nodes()`.
    pub discover: Option<bool>,
    /// More members to attach to (besides `node`).
    pub nodes: Option<Vec<String>>,
    /// Per-node settings by node name.
    #[serde(default)]
    pub node: BTreeMap<String, ClusterNodeConfig>,
}

/// `[cluster.node."NAME@HOST"]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterNodeConfig {
    /// Its own cookie, when it differs from the shared one.
    pub cookie_file: Option<PathBuf>,
    /// Its weight when operations pick a node (default 1; 0 leaves it alone).
    pub weight: Option<i64>,
}

/// `[scenarios]`: thresholds, sizes and the service's protocol for
/// `chaos-monkey scenarios` (flags win). Durations like "2s".
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenariosConfig {
    /// HTML report file.
    pub html: Option<PathBuf>,
    pub service: Option<String>,
    pub disk_dir: Option<PathBuf>,
    pub recovery: Option<String>,
    pub process_restart: Option<String>,
    pub subtree_restart: Option<String>,
    pub partition: Option<String>,
    pub memory_percent: Option<u32>,
    pub memory_hold: Option<String>,
    pub flood_factor: Option<f64>,
    pub flood_duration: Option<String>,
    pub mailbox_bound: Option<u64>,
    pub connection_limit: Option<u32>,
    pub max_request_bytes: Option<u64>,
    pub payload_factor: Option<u64>,
    pub load_duration: Option<String>,
    pub latency_objective: Option<String>,
    pub disk_bytes: Option<u64>,
    pub probe_keys: Option<u32>,
    pub max_data_loss: Option<u64>,
    pub kills_keep_data: Option<bool>,
    pub ping: Option<String>,
    pub pong: Option<String>,
    pub put: Option<String>,
    pub put_ok: Option<String>,
    pub get: Option<String>,
    pub get_ok: Option<String>,
    pub error: Option<String>,
    /// `[scenarios.probe]`: the service's client (`url` and its protocol's options).
    pub probe: Option<crate::probes::ServiceProbeConfig>,
}

/// `[detect]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    pub recovery_window: Option<String>,
    pub mailbox_threshold: Option<u64>,
    pub memory_threshold: Option<f64>,
    pub limit_threshold: Option<f64>,
    pub leak_threshold: Option<u64>,
    pub breaker: Option<String>,
    pub keep_going: Option<bool>,
}

/// `[[probes]]`: `type = "http" | "amqp" | "line" | "connect"` with a
/// `url` and the protocol's options; `type = "tcp"` with `address`,
/// `send`, `expect`, `objective` (a line request, as before); or
/// `type = "erlang"` with `expr`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum ProbeConfig {
    Tcp {
        address: String,
        send: String,
        expect: String,
        objective: Option<String>,
    },
    Http(crate::probes::ServiceProbeConfig),
    Amqp(crate::probes::ServiceProbeConfig),
    Line(crate::probes::ServiceProbeConfig),
    /// A bare TCP connect (`url = "tcp://…"`).
    Connect(crate::probes::ServiceProbeConfig),
    Erlang {
        expr: String,
    },
}

/// `[safety]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    pub only_apps: Option<Vec<String>>,
    pub protect_apps: Option<Vec<String>>,
    pub protect_names: Option<Vec<String>>,
    pub include_otp_apps: Option<bool>,
    pub include_no_app: Option<bool>,
    pub max_kills_per_sec: Option<i64>,
    pub max_app_share: Option<f64>,
    pub lease: Option<String>,
    /// `--edge`.
    pub edge: Option<bool>,
    /// `--allow-collapse`.
    pub allow_collapse: Option<bool>,
    /// `--allow-message-loss`.
    pub allow_message_loss: Option<bool>,
}

/// `[allow]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowConfig {
    /// The gated operations allowed, by name.
    pub ops: Option<Vec<String>>,
    /// Aliases of `ops = ["kill_supervisor"]` and so on.
    pub supervisor_kill: Option<bool>,
    pub atom_exhaustion: Option<bool>,
    pub port_exhaustion: Option<bool>,
    /// Cluster runs: the `node_loss` operation.
    pub node_kill: Option<bool>,
}

/// `[ops]`: `[ops.NAME]` tables and `[[ops.custom]]`.
#[derive(Debug, Default, Deserialize)]
pub struct OpsConfig {
    /// Custom operations.
    #[serde(default)]
    pub custom: Vec<CustomOpConfig>,
    /// Built-in operation settings by name.
    #[serde(flatten)]
    pub builtin: BTreeMap<String, OpSetting>,
}

/// `[ops.NAME]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpSetting {
    pub enabled: Option<bool>,
    pub weight: Option<i64>,
}

/// `[[metrics]]`: an Erlang expression evaluated on the node with every
/// health sample, returning a number; charted and trended in the report,
/// a `metric_threshold` failure mode when over `max`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    pub name: String,
    pub expr: String,
    pub unit: Option<String>,
    pub max: Option<f64>,
}

/// `[[ops.custom]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomOpConfig {
    pub name: String,
    pub category: String,
    #[serde(default = "one")]
    pub weight: i64,
    pub erlang: String,
    /// Erlang case-clause heads (a pattern, optionally `when` a guard) the
    /// value must match to count as confirmed [default: true, ok, {ok, _}].
    pub success: Option<Vec<String>>,
}

fn one() -> i64 {
    1
}

/// A config error, located.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// `file:line` or `--flag`.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub fn flag(flag: &str, message: impl Into<String>) -> Self {
        Self {
            location: flag.to_string(),
            message: message.into(),
        }
    }
}

/// Read and parse a config file.
pub fn load(path: &Path) -> Result<(FileConfig, String), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        location: path.display().to_string(),
        message: format!("cannot read the config file: {e}"),
    })?;
    load_str(&text, path)
}

/// Parse config text read from `path` (which is only used in error locations).
pub fn load_str(text: &str, path: &Path) -> Result<(FileConfig, String), ConfigError> {
    let cfg: FileConfig = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
        ConfigError {
            location: format!("{}:{line}:{col}", path.display()),
            message: e.message().trim().to_string(),
        }
    })?;
    Ok((cfg, text.to_string()))
}

/// 1-based line and column of a byte offset (one inside a character counts
/// as that character's start; one past the end as the end).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Where `needle` first appears in the file, as `file:line`.
pub fn locate(path: &Path, text: &str, needle: &str) -> String {
    match text.find(needle) {
        Some(off) => format!("{}:{}", path.display(), line_col(text, off).0),
        None => path.display().to_string(),
    }
}

/// A duration from text: positive, finite.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::cli::parse_duration(s)
}

/// A rate: positive and finite.
pub fn check_rate(r: f64) -> Result<f64, String> {
    if r.is_finite() && r > 0.0 {
        Ok(r)
    } else {
        Err(format!(
            "the rate must be a positive number of operations per second, got {r}"
        ))
    }
}

/// Category weights from `process=30,...` text.
pub fn parse_weights(s: &str) -> Result<BTreeMap<Category, u32>, String> {
    let w = Weights::parse(s, &Category::names()).map_err(|e| e.to_string())?;
    Ok(Category::ALL
        .iter()
        .map(|c| (*c, w.weight(c.name())))
        .collect())
}

/// Category weights from a `[weights]` table.
pub fn table_weights(t: &BTreeMap<String, i64>) -> Result<BTreeMap<Category, u32>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in t {
        let cat: Category = k.parse()?;
        let w = u32::try_from(*v)
            .map_err(|_| format!("weight for '{k}' is {v}; weights are whole numbers ≥ 0"))?;
        out.insert(cat, w);
    }
    if out.values().all(|w| *w == 0) {
        return Err("the weights add up to 0; at least one must be positive".into());
    }
    Ok(out)
}

/// Parse `LISTEN=UPSTREAM` (loopback IP:PORT on both sides).
pub fn parse_proxy(s: &str) -> Result<(std::net::SocketAddr, std::net::SocketAddr), String> {
    let (l, u) = s.split_once('=').ok_or_else(|| {
        format!("'{s}' is not LISTEN=UPSTREAM (for example 127.0.0.1:5555=127.0.0.1:4000)")
    })?;
    let addr = |t: &str, what: &str| -> Result<std::net::SocketAddr, String> {
        let a: std::net::SocketAddr = t
            .trim()
            .parse()
            .map_err(|_| format!("{what} '{t}' is not IP:PORT (for example 127.0.0.1:4000)"))?;
        if !a.ip().is_loopback() {
            return Err(format!(
                "{what} {a} is not a loopback address: the proxy only works on 127.0.0.0/8 and ::1"
            ));
        }
        Ok(a)
    };
    Ok((addr(l, "LISTEN")?, addr(u, "UPSTREAM")?))
}

/// Parse a profile name.
pub fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        let dir = std::env::temp_dir().join(format!(
            "cm-config-test-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&dir, text).unwrap();
        let r = load(&dir).map(|(c, _)| c);
        let _ = std::fs::remove_file(&dir);
        r
    }

    #[test]
    fn full_file_parses() {
        let cfg = parse(
            r#"
node = "app@localhost"
duration = "2m"
rate = 20
seed = 7
profile = "aggressive"
[weights]
process = 50
memory = 50
[safety]
protect_names = ["chaos_demo_reg*"]
max_kills_per_sec = 3
[allow]
supervisor_kill = true
[ops.kill_worker]
weight = 3
[ops.force_gc]
enabled = false
[[ops.custom]]
name = "count_rows"
category = "state"
erlang = "ets:info(chaos_demo_store, size)."
"#,
        )
        .unwrap();
        assert_eq!(cfg.rate, Some(20.0));
        assert_eq!(cfg.ops.builtin["kill_worker"].weight, Some(3));
        assert_eq!(cfg.ops.builtin["force_gc"].enabled, Some(false));
        assert_eq!(cfg.ops.custom[0].name, "count_rows");
        assert_eq!(cfg.safety.max_kills_per_sec, Some(3));
    }

    #[test]
    fn errors_say_where() {
        let e = parse("rate = 10\nduraton = \"5s\"\n").unwrap_err();
        assert!(e.location.ends_with(":2:1"), "{e}");
        assert!(e.message.contains("duraton"), "{e}");
        let e = parse("rate = \"fast\"\n").unwrap_err();
        assert!(e.location.ends_with(":1:8"), "{e}");
        let e = parse("[safety]\nmax_share = 1\n").unwrap_err();
        assert!(e.location.contains(":2:"), "{e}");
        let e = parse("rate = [1,\n").unwrap_err();
        assert!(e.location.contains(":"), "{e}");
    }

    #[test]
    fn line_col_inside_a_character() {
        // Found by fuzzing: an offset inside a multi-byte character panicked.
        assert_eq!(line_col("a\né🦀", 4), (2, 2));
        assert_eq!(line_col("a\né🦀", 5), (2, 2));
        assert_eq!(line_col("a\né🦀", 8), (2, 3));
        assert_eq!(line_col("a\né🦀", usize::MAX), (2, 3));
    }

    #[test]
    fn values_are_checked() {
        assert!(check_rate(f64::NAN).is_err());
        assert!(check_rate(-1.0).is_err());
        assert!(check_rate(0.0).is_err());
        assert!(parse_weights("process=0").is_err());
        assert!(parse_weights("procss=1").is_err());
        assert_eq!(
            parse_weights(DEFAULT_WEIGHTS).unwrap()[&Category::Network],
            20
        );
        let mut t = BTreeMap::new();
        t.insert("memory".to_string(), -1);
        assert!(table_weights(&t).is_err());
        assert!(parse_proxy("127.0.0.1:1=127.0.0.1:2").is_ok());
        assert!(parse_proxy("127.0.0.1:1")
            .unwrap_err()
            .contains("LISTEN=UPSTREAM"));
        assert!(parse_proxy("10.0.0.1:1=127.0.0.1:2")
            .unwrap_err()
            .contains("not a loopback"));
        assert!(parse_proxy("127.0.0.1:1=localhost:2")
            .unwrap_err()
            .contains("not IP:PORT"));
    }
}
