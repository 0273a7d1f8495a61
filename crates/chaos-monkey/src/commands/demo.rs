//! `chaos-monkey demo-node start|stop|status` and `chaos-monkey demo`.

use crate::cli::{ConnectionArgs, DemoArgs, DemoNodeArgs, DemoNodeCommand, TargetArgs};
use crate::exit::CliError;
use crate::output;
use chaos_beam::demo::{default_state_dir, DemoConfig, DemoError, DemoNode};
use std::path::PathBuf;
use std::time::Duration;

/// How long an orderly stop may take before the node is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

fn state_dir(dir: &Option<PathBuf>) -> PathBuf {
    dir.clone().unwrap_or_else(default_state_dir)
}

fn demo_err(e: DemoError) -> CliError {
    CliError::failed(e)
}

pub fn node_command(cmd: DemoNodeCommand) -> Result<(), CliError> {
    match cmd {
        DemoNodeCommand::Start(args) => start(&args),
        DemoNodeCommand::Stop(args) => stop(&args),
        DemoNodeCommand::Status(args) => status(&args),
    }
}

fn start(args: &DemoNodeArgs) -> Result<(), CliError> {
    let mut cfg = DemoConfig::new(&args.name);
    cfg.state_dir = state_dir(&args.state_dir);
    let node = DemoNode::start(&cfg).map_err(demo_err)?;
    if args.json {
        output::print_json(&node.info);
    } else {
        let i = &node.info;
        println!("demo node {} is up (OS pid {})", i.node, i.os_pid);
        println!(
            "  service   127.0.0.1:{} (line protocol: PING, PUT k v, GET k, CALL tool args, STATS)",
            i.service_port
        );
        println!("  cookie    {}", i.cookie_file.display());
        println!("  log       {}", i.log_file.display());
        println!(
            "inspect it: chaos-monkey inspect --node {} --cookie-file {}",
            i.node,
            i.cookie_file.display()
        );
        println!(
            "stop it:    chaos-monkey demo-node stop --name {}",
            args.name
        );
    }
    Ok(())
}

fn stop(args: &DemoNodeArgs) -> Result<(), CliError> {
    let dir = state_dir(&args.state_dir);
    let Some(node) = DemoNode::load(&dir, &args.name).map_err(demo_err)? else {
        return Err(CliError::failed(format!(
            "no demo node named '{}' under {} (nothing to stop)",
            args.name,
            dir.display()
        )));
    };
    let name = node.info.node.clone();
    let outcome = node.stop(STOP_GRACE).map_err(demo_err)?;
    if args.json {
        output::print_json(&serde_json::json!({ "node": name, "outcome": outcome }));
    } else {
        match outcome {
            chaos_beam::demo::StopOutcome::Stopped => println!("demo node {name} stopped"),
            chaos_beam::demo::StopOutcome::Killed => {
                println!("demo node {name} did not stop in {STOP_GRACE:?} and was killed")
            }
            chaos_beam::demo::StopOutcome::WasNotRunning => {
                println!("demo node {name} was not running; its files were removed")
            }
        }
    }
    Ok(())
}

fn status(args: &DemoNodeArgs) -> Result<(), CliError> {
    let dir = state_dir(&args.state_dir);
    match DemoNode::load(&dir, &args.name).map_err(demo_err)? {
        Some(mut node) => {
            let running = node.is_running();
            if args.json {
                output::print_json(&serde_json::json!({ "running": running, "info": node.info }));
            } else if running {
                println!(
                    "demo node {} is running (OS pid {}), service 127.0.0.1:{}, cookie file {}",
                    node.info.node,
                    node.info.os_pid,
                    node.info.service_port,
                    node.info.cookie_file.display()
                );
            } else {
                println!(
                    "demo node {} is not running (stale files in {})",
                    node.info.node,
                    node.info.dir.display()
                );
            }
            if running {
                Ok(())
            } else {
                Err(CliError::failed("not running"))
            }
        }
        None => {
            if args.json {
                output::print_json(&serde_json::json!({ "running": false }));
            } else {
                println!("no demo node named '{}' under {}", args.name, dir.display());
            }
            Err(CliError::failed("not running"))
        }
    }
}

/// The main demo: a fresh demo node, 60 s of demo-level chaos, the report, then
/// the node is stopped (unless --keep).
pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let duration = crate::cli::parse_duration(&args.duration)
        .map_err(|e| CliError::usage(format!("--duration: {e}")))?;
    let mut cfg = DemoConfig::new(&args.name);
    cfg.state_dir = state_dir(&args.state_dir);
    eprintln!("starting demo node {}@localhost ...", args.name);
    let node = DemoNode::start(&cfg).map_err(demo_err)?;
    eprintln!(
        "demo node up; service on 127.0.0.1:{}",
        node.info.service_port
    );
    let mut settings = super::run::RunSettings::demo(target_of(&node), duration, args.seed);
    settings.report = args.report.clone();
    settings.events = args.events.clone();
    settings.html = args.html.clone();
    settings.junit = args.junit.clone();
    settings.progress = !args.no_progress;
    settings.history = super::history::HistorySettings::from_flags(
        &args.history,
        chaos_history::record::KIND_DEMO,
    );
    // What `replay` needs to start the same demo again (the seed is kept apart).
    settings.history.argv = vec!["--name".into(), args.name.clone()];
    // A fault proxy in front of the demo service, and a small client workload
    // through it, so network chaos is felt by a real client.
    let service = std::net::SocketAddr::from(([127, 0, 0, 1], node.info.service_port));
    settings.proxies = vec![(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), service)];
    settings.workload = Some((service, 2, 5.0));
    // The steady-state probe: PING answered with PONG within 500 ms, on the workload's path.
    settings.detect.probes.push(
        chaos_beam::chaos::detect::Probe::parse_tcp(&format!("{service}|PING|^PONG$|500ms"))
            .expect("a valid probe"),
    );
    let result = super::run::execute(&settings);
    if args.keep {
        eprintln!(
            "demo node {} left running; stop it with: chaos-monkey demo-node stop --name {}",
            node.info.node, args.name
        );
    } else {
        node.stop(STOP_GRACE).map_err(demo_err)?;
        eprintln!("demo node stopped");
    }
    match result? {
        Some(report) => super::run::verdict(&report),
        None => Ok(()),
    }
}

fn target_of(node: &DemoNode) -> TargetArgs {
    TargetArgs {
        node: Some(node.node_name()),
        conn: ConnectionArgs::with_cookie_file(node.info.cookie_file.clone()),
    }
}
