//! Command-line interface (clap).

use chaos_beam::dist::NodeName;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Chaos engineering for live Erlang/OTP systems.
///
/// chaos-monkey attaches to a running node from outside, as a hidden
/// distribution node, and needs nothing installed there. Start with
/// `inspect`, then run chaos against the node.
///
/// Exit codes: 0 success, 1 failure (failure modes found, or a CI gate broken), 2 usage error, 3 target unreachable, 4 the node went down during a run, 5 inconclusive (the chaos mostly did not happen).
#[derive(Debug, Parser)]
#[command(name = "chaos-monkey", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a node is made of: versions, counts and limits, memory,
    /// applications and their supervision trees, top processes.
    Inspect(InspectArgs),
    /// Start or stop the demo system (an OTP application shaped like an MCP
    /// server) as a local named node with a random cookie.
    #[command(subcommand)]
    DemoNode(DemoNodeCommand),
    /// Subject a node to random, reproducible chaos for a set time, then report.
    ///
    /// Exit codes: 0 the system survived and no failure mode was found; 1
    /// failure modes found; 2 usage or config error; 3 could not connect; 4
    /// the node went down during the run; 5 inconclusive: nothing found, but
    /// the planned chaos mostly did not happen (no eligible victim, most
    /// operations skipped, or a category with no confirmed operation).
    Run(Box<RunArgs>),
    /// Run the structured scenario suite (eleven named faults, one at a
    /// time) against a node and its service, with measured detection and
    /// recovery times; text, plus JSON (--report) and JUnit (--junit).
    ///
    /// Scenarios that talk to the service (everything but process_crash and
    /// supervisor_cascade) go through a probe in its own protocol: --probe
    /// URL (amqp://, http://, line://, tcp://; or [scenarios.probe]), else
    /// --service IP:PORT asked what it speaks, else a listener of the node's
    /// applications (as `inspect` lists them), asked the same. The line
    /// protocol is by default the demo's (PING/PONG, PUT k v/OK, GET k/VALUE
    /// v, ERR ...), configurable in [scenarios]. Safety is a run's: --only-app,
    /// --protect-*, [safety]; supervisor_cascade needs --allow-supervisor-kill.
    ///
    /// Exit codes: 0 every scenario that ran passed; 1 a scenario failed; 2
    /// usage or config error; 3 could not connect; 4 the node went down; 5
    /// inconclusive (more than half the scenarios skipped).
    Scenarios(Box<ScenariosArgs>),
    /// The main demo: start a fresh demo node, run 60 s of demo-level chaos
    /// against it, print the report, stop the node.
    Demo(DemoArgs),
    History(crate::history_args::HistoryListArgs),
    Compare(crate::history_args::CompareArgs),
    Replay(crate::history_args::ReplayArgs),
}

/// `chaos-monkey run`. Every option can also be set in the TOML file given
/// with --config; flags win.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The target node, NAME@HOST (or `node = ...` in the config). Repeat
    /// it to attach to several nodes of one cluster.
    #[arg(long, value_name = "NAME@HOST")]
    pub node: Vec<String>,
    /// Attach to --node, discover the cluster it is part of (its `nodes()`),
    /// and run chaos across every member.
    #[arg(long)]
    pub cluster: bool,
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// A TOML file with any of these settings, plus per-operation weights, safety lists and custom operations.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// How long to run, like 60s, 10m, 1h [default: 60s].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub duration: Option<String>,
    /// Operations per second [default: 10].
    #[arg(long, value_name = "OPS", allow_hyphen_values = true)]
    pub rate: Option<String>,
    /// The seed; the same seed and settings replay the same schedule [default: random, printed].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// demo (bounded, reversible) or aggressive (bigger, longer) [default: demo].
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Category weights [default: process=30,memory=20,network=20,state=15,timing=15].
    #[arg(long, value_name = "LIST")]
    pub weights: Option<String>,
    /// Write the JSON report here.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Write every operation here, one JSON object per line.
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,
    /// Write the report as one self-contained HTML page (charts inline, no network).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML for CI: a test case per failure-mode kind, and for nothing left behind.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Put a fault proxy in front of a service: LISTEN=UPSTREAM, both loopback
    /// IP:PORT (e.g. 127.0.0.1:5555=127.0.0.1:4000); clients connect to LISTEN.
    /// Enables the proxy_* network operations (repeatable).
    #[arg(long, value_name = "LISTEN=UPSTREAM")]
    pub proxy: Vec<String>,
    /// Print the schedule and the victims it would pick; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Interpret every snippet with erl_eval instead of compiling it into a
    /// temporary module on the target (modules are unloaded at the end, and by
    /// a janitor on the node if the monkey is lost). Slower: milliseconds per
    /// operation instead of microseconds.
    #[arg(long)]
    pub no_compile: bool,
    /// The lease term: when the monkey goes silent (killed, frozen, cut off)
    /// every effect on the node is undone this long after its last renewal
    /// (renewed 4 times a term, at most every 250 ms) [default: 1s; 200ms–10m].
    #[arg(long, value_name = "DURATION")]
    pub lease: Option<String>,
    #[command(flatten)]
    pub safety: SafetyArgs,
    /// A broken steady state may last this long before it counts as a failure mode [default: 5s].
    #[arg(long, value_name = "DURATION")]
    pub recovery_window: Option<String>,
    /// A message queue longer than this is a mailbox overflow [default: 10000].
    #[arg(long, value_name = "N")]
    pub mailbox_threshold: Option<u64>,
    /// Node memory above this share (0–1) of the machine's memory is exhaustion [default: 0.9].
    #[arg(long, value_name = "SHARE")]
    pub memory_threshold: Option<f64>,
    /// Process, port, atom and ETS counts above this share (0–1) of their limits are exhaustion [default: 0.8].
    #[arg(long, value_name = "SHARE")]
    pub limit_threshold: Option<f64>,
    /// A process or ETS count this far above its value at the start is a leak [default: 200].
    #[arg(long, value_name = "N")]
    pub leak_threshold: Option<u64>,
    /// A service probe in the service's own protocol, answered within 1 s (repeatable):
    /// amqp://[USER:PASS@]127.0.0.1:5672[/VHOST], http://[USER:PASS@]127.0.0.1:15672/api/overview,
    /// line://127.0.0.1:5555 (the line protocol), tcp://127.0.0.1:5555 (a bare connect).
    /// Credentials are never printed; prefer [[probes]] with password_env.
    #[arg(long, value_name = "URL")]
    pub probe: Vec<String>,
    /// A TCP probe: 'ADDR|SEND|EXPECT_REGEX[|OBJECTIVE]', e.g. '127.0.0.1:4000|PING|^PONG$|200ms' (repeatable).
    #[arg(long, value_name = "SPEC")]
    pub probe_tcp: Vec<String>,
    /// An Erlang expression evaluated on the node every second that must return true (repeatable).
    #[arg(long, value_name = "EXPR")]
    pub probe_erlang: Vec<String>,
    /// Stop the chaos when the steady state stays broken this long [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub breaker: Option<String>,
    /// Never stop the chaos early because the steady state is broken.
    #[arg(long)]
    pub keep_going: bool,
    /// At most this many operations in flight at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_in_flight: usize,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub history: crate::history_args::RunHistoryArgs,
}

/// `chaos-monkey scenarios`. Thresholds not given as flags come from the
/// `[scenarios]` table of --config (see docs/chaos.example.toml).
#[derive(Debug, Args)]
// `--list` needs no node: it says what each scenario would do with these settings.
#[command(mut_arg("node", |a| a.required_unless_present_any(["release", "list"])))]
pub struct ScenariosArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Run only this scenario (repeatable, or comma-separated); see --list.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub only: Vec<String>,
    /// List the scenarios with their faults and expectations, and exit.
    #[arg(long)]
    pub list: bool,
    /// Write the suite's JSON report (results and summary) here.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Write the suite as one self-contained HTML page (no network).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write a JUnit XML file here (one test case per scenario).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// A TOML file; its [scenarios] table sets thresholds, sizes and the service's protocol.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The service's client: amqp://[USER:PASS@]127.0.0.1:5672[/VHOST], http://127.0.0.1:8080/health,
    /// line://127.0.0.1:5555 or tcp://127.0.0.1:5555 [default: a listener discovered on the node,
    /// its protocol guessed by asking it; see `inspect`]. Credentials are never printed.
    #[arg(long, value_name = "URL", conflicts_with = "service")]
    pub probe: Option<String>,
    /// The service under test, a loopback IP:PORT, its protocol guessed [default: discovered on the node].
    #[arg(long, value_name = "IP:PORT")]
    pub service: Option<String>,
    /// disk_pressure writes (and deletes) a file here; without it that scenario is skipped.
    #[arg(long, value_name = "DIR")]
    pub disk_dir: Option<PathBuf>,
    /// The service's connection limit; connection_leak opens 150 % of it [default: 100].
    #[arg(long, value_name = "N")]
    pub connection_limit: Option<u32>,
    /// The service's request size limit; large_payload sends 100× it [default: 4096].
    #[arg(long, value_name = "BYTES")]
    pub max_request_bytes: Option<u64>,
    /// The service and the node must be back this soon after a fault ends [default: 5s].
    #[arg(long, value_name = "DURATION")]
    pub recovery: Option<String>,
    /// The seed for victim choices [default: random, printed].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub safety: SafetyArgs,
    #[command(flatten)]
    pub history: crate::history_args::HistoryArgs,
}

/// How to reach a node.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// The target node, NAME@HOST (`-sname` style like app@localhost, or `-name` style like app@127.0.0.1).
    #[arg(long, value_name = "NAME@HOST", value_parser = parse_node, required_unless_present = "release")]
    pub node: Option<NodeName>,
    #[command(flatten)]
    pub conn: ConnectionArgs,
}

impl TargetArgs {
    /// The node (after `attach::resolve`, which fills it in from `--release`).
    pub fn node(&self) -> &NodeName {
        self.node
            .as_ref()
            .expect("the node is resolved before it is used")
    }
}

/// How to connect: the same flags for every command that attaches.
#[derive(Debug, Args, Clone)]
pub struct ConnectionArgs {
    /// The Erlang cookie. Prefer --cookie-file: command lines are visible to other users.
    #[arg(long, value_name = "COOKIE")]
    pub cookie: Option<String>,
    /// Read the cookie from this file. Without --cookie/--cookie-file, ERLANG_COOKIE and then ~/.erlang.cookie are used.
    #[arg(long, value_name = "PATH")]
    pub cookie_file: Option<PathBuf>,
    /// The node's distribution port, for nodes started without epmd (skips the epmd lookup).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// epmd's port on the node's host [default: $ERL_EPMD_PORT or 4369].
    #[arg(long, value_name = "PORT")]
    pub epmd_port: Option<u16>,
    /// Limit for each step of connecting.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Limit for each remote call.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub call_timeout: Duration,
    /// The node must be heard from this often, or the connection is declared lost (a closed one: at once).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub tick: Duration,
    /// Attach to a rebar3/relx or mix release by its folder (the one with
    /// bin/ and releases/): the node name and the cookie are read from its
    /// files — RELEASE_NODE/RELEASE_COOKIE in this environment, else
    /// releases/VSN/vm.args (-sname/-name, -setcookie), releases/VSN/env.sh,
    /// releases/COOKIE, else the release's name. --node and --cookie(-file) win.
    #[arg(long, value_name = "PATH")]
    pub release: Option<PathBuf>,
    /// The cookie `--release` found (never printed).
    #[arg(skip)]
    pub release_cookie: Option<chaos_beam::dist::Cookie>,
}

impl ConnectionArgs {
    /// The defaults, with the cookie read from `cookie_file`.
    pub fn with_cookie_file(cookie_file: PathBuf) -> Self {
        Self {
            cookie: None,
            cookie_file: Some(cookie_file),
            port: None,
            epmd_port: None,
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(5),
            tick: Duration::from_secs(5),
            release: None,
            release_cookie: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Rows in each top-processes list.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub top: u16,
    /// Limit for the whole inspection (it runs on the target).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum DemoNodeCommand {
    /// Compile the demo system with erlc and start it as NAME@localhost.
    Start(DemoNodeArgs),
    /// Stop a demo node started by `demo-node start` and remove its files.
    Stop(DemoNodeArgs),
    /// Say whether a demo node is running, and how to reach it.
    Status(DemoNodeArgs),
}

#[derive(Debug, Args)]
pub struct DemoNodeArgs {
    /// Short node name; the node is NAME@localhost.
    #[arg(long, default_value = "chaos_demo", value_parser = parse_short_name)]
    pub name: String,
    /// Where demo nodes keep their files (code, cookie, log).
    #[arg(long, value_name = "DIR", env = "CHAOS_MONKEY_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long the chaos runs.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub duration: String,
    /// The seed [default: random, printed].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Write the JSON report here.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Write every operation here (JSON lines).
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,
    /// Write the report as one self-contained HTML page.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML for CI.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Short node name for the demo node.
    #[arg(long, default_value = "chaos_demo", value_parser = parse_short_name)]
    pub name: String,
    /// Where demo nodes keep their files.
    #[arg(long, value_name = "DIR", env = "CHAOS_MONKEY_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Leave the demo node running afterwards.
    #[arg(long)]
    pub keep: bool,
    #[command(flatten)]
    pub history: crate::history_args::HistoryArgs,
}

fn parse_node(s: &str) -> Result<NodeName, String> {
    s.parse()
        .map_err(|e: chaos_beam::dist::NodeNameError| e.to_string())
}

fn parse_short_name(s: &str) -> Result<String, String> {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "'{s}' is not a short node name: use letters, digits, '_' and '-' only (the host is always localhost)"
        ));
    }
    Ok(s.to_string())
}

/// Durations like `500ms`, `5s`, `1h`; zero is refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    // humantime 2.4 can panic on overflowing input (chronotope/humantime#66); this guard cannot.
    let d = chaos_engine::duration::checked_humantime(s)
        .map_err(|e| format!("'{s}' is not a duration ({e}); use for example 500ms, 5s, 1h"))?;
    if d.is_zero() {
        return Err(format!("'{s}': the duration must be greater than zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("0s")
            .unwrap_err()
            .contains("greater than zero"));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("18446744073709551615s 1000000000ns").is_err());
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("not a duration"));
    }
}

/// Which processes chaos may touch and how hard: shared by `run` and
/// `scenarios` (flags over the config's `[safety]` and `[allow]` tables).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SafetyArgs {
    /// Only touch processes of this application (repeatable).
    #[arg(long, value_name = "APP")]
    pub only_app: Vec<String>,
    /// Never touch processes of this application (repeatable).
    #[arg(long, value_name = "APP")]
    pub protect_app: Vec<String>,
    /// Never touch processes whose registered name matches this glob, like 'db_*' (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub protect_name: Vec<String>,
    /// Also touch processes of the runtime's own applications, those Erlang/OTP and Elixir ship (kernel, stdlib, sasl, compiler and logger stay protected).
    #[arg(long)]
    pub include_otp_apps: bool,
    /// Also touch processes that belong to no application.
    #[arg(long)]
    pub include_no_app: bool,
    /// At most this many kills per second [default: 5].
    #[arg(long, value_name = "N")]
    pub max_kills_per_sec: Option<u32>,
    /// At most this share (0–1) of one application's processes under an effect at once [default: 0.25].
    #[arg(long, value_name = "SHARE")]
    pub max_app_share: Option<f64>,
    /// Spend supervisors' restart budgets up to their last restart, never
    /// past it (by default every budget keeps one restart spare). Each kill,
    /// exit signal and crash chain is checked on the node against the live
    /// restart counts of the supervisors it would charge.
    #[arg(long, conflicts_with = "allow_collapse")]
    pub edge: bool,
    /// Let kills exhaust restart budgets and hit single points of failure
    /// (aggressive profile only): before each such kill the monkey records
    /// its prediction ("killing X: S gives up; application A stops") and
    /// afterwards whether it came true. Can stop applications and halt the node.
    #[arg(long)]
    pub allow_collapse: bool,
    /// Let clear_mailbox drop an OTP process's real queued messages
    /// (aggressive profile only; counted, the loss in the report); without
    /// it, clear_mailbox drains only the monkey's own tagged messages.
    #[arg(long)]
    pub allow_message_loss: bool,
    /// Allow a gated operation (aggressive profile only): kill_supervisor
    /// (not the top one), atom_exhaustion (atoms are never freed; bounded to a
    /// small share of the free table), port_exhaustion (bounded, released),
    /// node_loss (cluster runs: stop a whole member; never the last two).
    /// Repeat it or separate names with commas.
    #[arg(long, value_name = "OP", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Same as `--allow kill_supervisor`.
    #[arg(long)]
    pub allow_supervisor_kill: bool,
    /// Same as `--allow atom_exhaustion`.
    #[arg(long)]
    pub allow_atom_exhaustion: bool,
    /// Same as `--allow port_exhaustion`.
    #[arg(long)]
    pub allow_port_exhaustion: bool,
    /// Same as `--allow node_loss`.
    #[arg(long)]
    pub allow_node_kill: bool,
}
