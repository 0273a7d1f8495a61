//! `chaos-monkey replay ID`: run a recorded run again — its settings and
//! seed, so the same operations in the same order — against the same node
//! (or `--node`), then compare the two. Victims depend on the live system;
//! the schedule does not.

use super::history::open_for_reading;
use crate::cli::{Cli, Command, DemoArgs};
use crate::exit::CliError;
use crate::history_args::{HistoryArgs, RecordedId, ReplayArgs};
use chaos_history::record::{KIND_DEMO, KIND_RUN};
use clap::Parser;

/// `argv` without `flag` and its value.
fn without(argv: Vec<String>, flag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        if a == flag {
            it.next();
        } else if !a.starts_with(&format!("{flag}=")) {
            out.push(a);
        }
    }
    out
}

/// `chaos-monkey replay`.
pub fn run(args: &ReplayArgs, verbose: bool, quiet: bool) -> Result<(), CliError> {
    let store = open_for_reading(&args.history)?;
    let id = store.resolve(&args.id, None).map_err(CliError::failed)?;
    let original = store.get(id).map_err(CliError::failed)?;
    let path = store.path().to_path_buf();
    drop(store);
    let recorded = RecordedId::default();
    let history = HistoryArgs {
        history: Some(path.clone()),
        no_history: false,
        replay_of: Some(id),
        recorded: recorded.clone(),
    };
    eprintln!(
        "chaos-monkey: replaying run {id} ({} against {}, seed {})",
        original.kind, original.target.node, original.seed
    );
    let outcome = match original.kind.as_str() {
        KIND_RUN => {
            let recorded_argv: Vec<String> = original.settings["argv"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let mut argv = recorded_argv.clone();
            if let Some(n) = &args.node {
                argv = without(argv, "--node");
                argv.extend(["--node".to_string(), n.clone()]);
            }
            if let Some(c) = &args.cookie_file {
                argv = without(argv, "--cookie-file");
                argv.extend(["--cookie-file".to_string(), c.display().to_string()]);
            }
            argv.extend(["--seed".to_string(), original.seed.to_string()]);
            for (flag, p) in [
                ("--report", &args.report),
                ("--html", &args.html),
                ("--junit", &args.junit),
                ("--events", &args.events),
            ] {
                if let Some(p) = p {
                    argv.extend([flag.to_string(), p.display().to_string()]);
                }
            }
            if args.no_progress {
                argv.push("--no-progress".into());
            }
            let cli = Cli::try_parse_from(
                ["chaos-monkey".to_string(), "run".to_string()]
                    .into_iter()
                    .chain(argv),
            )
            .map_err(|e| CliError::usage(format!("run {id}'s recorded settings: {e}")))?;
            let Command::Run(mut run_args) = cli.command else {
                unreachable!("parsed as run")
            };
            run_args.history.history = history;
            let mut s = super::run::settings(&run_args, verbose)?;
            s.quiet = quiet;
            s.history.argv = recorded_argv;
            match super::run::execute(&s)? {
                Some(r) => super::run::verdict(&r),
                None => Ok(()),
            }
        }
        KIND_DEMO => {
            if args.node.is_some() {
                return Err(CliError::usage(
                    "a demo run replays on a fresh demo node: drop --node",
                ));
            }
            // The demo node's short name, as recorded (`--name NAME`).
            let argv = &original.settings["argv"];
            let name = argv[1]
                .as_str()
                .filter(|_| argv[0] == "--name")
                .unwrap_or("chaos_demo")
                .to_string();
            super::demo::run(DemoArgs {
                duration: format!("{}ms", (original.planned_duration_s * 1000.0).round() as u64),
                seed: Some(original.seed),
                report: args.report.clone(),
                events: args.events.clone(),
                html: args.html.clone(),
                junit: args.junit.clone(),
                no_progress: args.no_progress,
                name,
                state_dir: None,
                keep: false,
                history,
            })
        }
        other => {
            return Err(CliError::usage(format!(
                "run {id} is a {other}; replay runs `run` and `demo` records (rerun a suite with scenarios --seed {})",
                original.seed
            )))
        }
    };
    match recorded.get() {
        Some(new_id) => {
            let store = chaos_history::HistoryStore::open(&path).map_err(CliError::failed)?;
            let replay = store.get(new_id).map_err(CliError::failed)?;
            let c = chaos_history::compare(&original, &replay);
            if args.json {
                crate::output::print_json(&c);
            } else {
                println!("replay (run {new_id}) against the original (run {id}):");
                print!("{}", c.to_text());
            }
            if c.same_operations == Some(false) {
                eprintln!(
                    "chaos-monkey: warning: the replay's operations differ from the original's from position {} (were the settings or the config file changed?)",
                    c.first_difference.unwrap_or(0)
                );
            }
        }
        None => eprintln!("chaos-monkey: warning: the replay was not recorded; nothing to compare"),
    }
    outcome
}
