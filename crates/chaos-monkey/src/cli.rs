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
/// Exit codes: 0 success, 1 failure, 2 usage error, 3 target unreachable.
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
    /// The main demo: start a fresh demo node, inspect it, stop it.
    Demo(DemoArgs),
}

/// How to reach a node.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// The target node, NAME@HOST (`-sname` style like app@localhost, or `-name` style like app@127.0.0.1).
    #[arg(long, value_name = "NAME@HOST", value_parser = parse_node)]
    pub node: NodeName,
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
    /// The node must be heard from at least this often, or the connection is declared lost.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub tick: Duration,
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
    /// Short node name for the demo node.
    #[arg(long, default_value = "chaos_demo", value_parser = parse_short_name)]
    pub name: String,
    /// Where demo nodes keep their files.
    #[arg(long, value_name = "DIR", env = "CHAOS_MONKEY_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Leave the demo node running afterwards.
    #[arg(long)]
    pub keep: bool,
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
    let d = humantime::parse_duration(s)
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
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("not a duration"));
    }
}
