//! `chaos-monkey run`, as a pipeline of small modules:
//!
//! 1. [`settings`] — flags > config file > defaults, validated
//!    (`commands::layered` is the one flag > file > default mechanism;
//!    `detect_settings` and [`cluster_settings`] the detection and
//!    `--cluster` parts);
//! 2. [`target`] / [`cluster`] — attach: one node or every member of a cluster;
//! 3. [`operations`] — the operations and their weights ([`allow`]: the
//!    gated ones the user named);
//! 4. [`execute`] — prepare (proxies, baseline, compiled snippets, first
//!    victims), run the schedule, finish (clean-up, audit, report, files);
//! 5. [`verdict`] — the exit code the report calls for.

pub mod allow;
pub mod cluster;
pub mod cluster_settings;
mod detect_settings;
mod execute;
pub mod operations;
pub mod settings;
pub mod target;

pub use settings::{settings, RunSettings};

use crate::cli::RunArgs;
use crate::exit::{self, CliError};
use chaos_engine::Report;

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
    let gate = crate::commands::history::gate_failure(r);
    if !r.failure_modes.is_empty() || !r.survived {
        return Err(CliError::with_code(
            exit::FAILURE,
            format!(
                "{} failure mode(s) found; the system {}{}",
                r.failure_modes.len(),
                if r.survived {
                    "survived"
                } else {
                    "did not survive"
                },
                gate.map(|g| format!("; {g}")).unwrap_or_default()
            ),
        ));
    }
    if let Some(why) = gate {
        return Err(CliError::with_code(exit::FAILURE, why));
    }
    if !r.inconclusive.is_empty() {
        return Err(CliError::with_code(
            exit::INCONCLUSIVE,
            format!("inconclusive: {}", r.inconclusive.join("; ")),
        ));
    }
    Ok(())
}

/// Run (or dry-run) with `s`; `None` for a dry run.
pub fn execute(s: &RunSettings) -> Result<Option<Report>, CliError> {
    match &s.cluster {
        Some(c) => execute::execute_on(
            s,
            cluster::attach(s, c)?,
            chaos_history::TargetIdentity::default(),
        ),
        None => {
            let client = super::attach::connect(&s.target)?;
            // Read before the run (and only when it is recorded): what the target was.
            let identity = if s.history.path.is_some() && !s.dry_run {
                crate::commands::history::identity(&client, &s.target.node().to_string())
            } else {
                chaos_history::TargetIdentity::default()
            };
            execute::execute_on(s, target::beam_target(s, client)?, identity)
        }
    }
}
