//! The run history, as the commands use it: the `--history`/`--no-history`
//! and gate flags, recording a finished run ([`finish_run`], [`record_suite`]),
//! the gate's verdict and JUnit suite, and `chaos-monkey history`.
//!
//! Recording never changes a run's own outcome: a history file that cannot
//! be opened or written (corrupted, locked, read-only, from a newer
//! chaos-monkey) is a warning naming the file, and the run's report files
//! are written as always. Only the gate (`--max-regression`) may turn a run
//! into exit 1 — also when it cannot read its baseline, so CI never passes a
//! gate that did not look.

mod gate;
mod list;
mod record;

pub use gate::{gate_failure, gate_suite};
pub use list::{list, open_for_reading};
pub use record::{finish_run, identity, record_suite};

use crate::exit::CliError;
use crate::history_args::{HistoryArgs, RecordedId, RunHistoryArgs};
use chaos_history::record::KIND_RUN;
use chaos_history::Bound;
use std::path::PathBuf;

/// What a command does with the history, resolved from its flags.
#[derive(Debug, Clone, Default)]
pub struct HistorySettings {
    /// The file; `None`: not recorded.
    pub path: Option<PathBuf>,
    /// `run`, `demo` or `scenarios`.
    pub kind: &'static str,
    /// The run's flags without the cookie, passwords, output files and the
    /// seed (kept apart): what `replay` runs again.
    pub argv: Vec<String>,
    /// The gate's baseline (`last`, `previous`, an id).
    pub baseline: Option<String>,
    /// The gate's bounds.
    pub bounds: Vec<Bound>,
    /// The run this one replays.
    pub replay_of: Option<i64>,
    /// Filled with the new run's id.
    pub recorded: RecordedId,
}

impl HistorySettings {
    /// From the history flags alone (no gate).
    pub fn from_flags(h: &HistoryArgs, kind: &'static str) -> Self {
        let path = if h.no_history {
            None
        } else {
            h.history.clone().or_else(chaos_history::default_path)
        };
        HistorySettings {
            path,
            kind,
            argv: Vec::new(),
            baseline: None,
            bounds: Vec::new(),
            replay_of: h.replay_of,
            recorded: h.recorded.clone(),
        }
    }

    /// A `run`'s: the history flags, the gate, and the command line to replay.
    pub fn for_run(gate: &RunHistoryArgs) -> Result<Self, CliError> {
        let mut s = Self::from_flags(&gate.history, KIND_RUN);
        s.argv = replayable(&run_argv());
        if let Some(b) = &gate.max_regression {
            s.bounds = chaos_history::parse_bounds(b)
                .map_err(|e| CliError::usage(format!("--max-regression: {e}")))?;
        }
        s.baseline = gate
            .baseline
            .clone()
            .or_else(|| (!s.bounds.is_empty()).then(|| "last".to_string()));
        if s.baseline.is_some() && s.path.is_none() {
            return Err(CliError::usage(
                "--baseline and --max-regression read the history: drop --no-history",
            ));
        }
        Ok(s)
    }
}

/// This process's arguments after the `run` subcommand.
fn run_argv() -> Vec<String> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    match all.iter().position(|a| a == "run") {
        Some(i) => all[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// Flags whose value is left out of what is recorded (a secret, a file this
/// run wrote, the history itself, the seed which is stored apart).
const DROPPED_WITH_VALUE: &[&str] = &[
    "--cookie",
    "--seed",
    "--report",
    "--events",
    "--html",
    "--junit",
    "--history",
    "--baseline",
    "--max-regression",
];
const DROPPED: &[&str] = &["--no-history", "--dry-run", "--no-progress"];

/// `argv` without the cookie, output files, the history and gate flags and
/// the seed, and with every URL's password removed (`amqp://u:p@h` → `amqp://u@h`).
pub fn replayable(argv: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let name = a.split_once('=').map_or(a.as_str(), |(n, _)| n);
        if DROPPED_WITH_VALUE.contains(&name) {
            if !a.contains('=') {
                it.next();
            }
            continue;
        }
        if DROPPED.contains(&a.as_str()) {
            continue;
        }
        out.push(without_password(a));
    }
    out
}

fn without_password(a: &str) -> String {
    let Some(scheme_end) = a.find("://") else {
        return a.to_string();
    };
    let rest = &a[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return a.to_string();
    };
    let userinfo = &rest[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    format!("{}{user}{}", &a[..scheme_end + 3], &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_cookie_passwords_and_outputs_are_never_kept() {
        let argv = s(&[
            "--node",
            "a@h",
            "--cookie",
            "SECRET",
            "--cookie-file",
            "/c",
            "--seed",
            "4",
            "--report=r.json",
            "--html",
            "r.html",
            "--probe",
            "amqp://guest:SECRET2@127.0.0.1:5672/vh",
            "--history",
            "h.db",
            "--max-regression",
            "survival=0",
            "--no-history",
            "--no-progress",
            "--rate",
            "5",
        ]);
        let kept = replayable(&argv);
        assert_eq!(
            kept,
            s(&[
                "--node",
                "a@h",
                "--cookie-file",
                "/c",
                "--probe",
                "amqp://guest@127.0.0.1:5672/vh",
                "--rate",
                "5"
            ])
        );
        assert!(!kept.join(" ").contains("SECRET"));
    }
}
