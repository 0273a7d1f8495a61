//! The history's command-line arguments: `--history`/`--no-history` on the
//! commands that record, the gate's flags on `run`, and the arguments of
//! `history`, `compare` and `replay`. Plain clap types, kept apart from
//! both `cli` (which only names them) and `commands` (which acts on them).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where the history is, on every command that records or reads it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HistoryArgs {
    /// The history file (SQLite) every run, demo and scenarios suite is
    /// recorded in [default: $XDG_DATA_HOME/chaos-monkey/history.db, else
    /// ~/.local/share/chaos-monkey/history.db].
    #[arg(long, value_name = "PATH", env = "CHAOS_MONKEY_HISTORY")]
    pub history: Option<PathBuf>,
    /// Do not record this run in the history.
    #[arg(long)]
    pub no_history: bool,
    /// Set by `replay`: the run this one replays.
    #[arg(skip)]
    pub replay_of: Option<i64>,
    /// Filled with the new run's id once it is recorded (read by `replay`).
    #[arg(skip)]
    pub recorded: RecordedId,
}

/// The id a run got in the history, shared with whoever started it.
#[derive(Debug, Clone, Default)]
pub struct RecordedId(Arc<Mutex<Option<i64>>>);

impl RecordedId {
    pub(crate) fn set(&self, id: i64) {
        *self.0.lock().unwrap() = Some(id);
    }

    /// The id, once recorded.
    pub fn get(&self) -> Option<i64> {
        *self.0.lock().unwrap()
    }
}

/// `run`'s history flags: where, and the CI gate.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunHistoryArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Compare this run at its end with a recorded run of the same target:
    /// `last` (its newest run before this one), `previous` (the one before
    /// that) or a run id from `chaos-monkey history` [default with
    /// --max-regression: last].
    #[arg(long, value_name = "last|previous|ID")]
    pub baseline: Option<String>,
    /// Exit 1 when a figure is worse than in the baseline by more than its
    /// bound: FIGURE=N% (a share of the baseline's value) or FIGURE=N (in
    /// the figure's unit: ms, percentage points, operations per second, a
    /// count). Figures: survival, failure_modes, skipped, ops_per_sec,
    /// recovery_p50, recovery_p95 (the slowest application's),
    /// recovery_p95[APP], peak[RESOURCE]. Example:
    /// recovery_p95=20%,survival=0. JUnit gets a test case per bound.
    #[arg(long, value_name = "FIGURE=LIMIT,...")]
    pub max_regression: Option<String>,
}

/// List the recorded runs (every run, demo and scenarios suite is kept
/// in the history file unless --no-history).
#[derive(Debug, clap::Args)]
pub struct HistoryListArgs {
    /// Only the runs against this node (NAME@HOST).
    #[arg(long, value_name = "NAME@HOST")]
    pub node: Option<String>,
    /// The newest N runs.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub last: usize,
    /// Print JSON (every recorded figure) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// The history file [default: $XDG_DATA_HOME/chaos-monkey/history.db, else ~/.local/share/chaos-monkey/history.db].
    #[arg(long, value_name = "PATH", env = "CHAOS_MONKEY_HISTORY")]
    pub history: Option<PathBuf>,
}

/// Compare two recorded runs: failure modes new and gone, recovery
/// times per application, survival, skipped share, resource peaks,
/// operations per second (text, --json, --html with trends).
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The baseline: a run id, `last` or `previous`.
    #[arg(value_name = "A", default_value = "previous")]
    pub a: String,
    /// The run to compare with it: a run id, `last` or `previous`.
    #[arg(value_name = "B", default_value = "last")]
    pub b: String,
    /// `last` and `previous` count only the runs against this node.
    #[arg(long, value_name = "NAME@HOST")]
    pub node: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write one self-contained HTML page: the figures, failure modes
    /// new and gone, and each figure's trend across the target's runs.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// The history file [default: $XDG_DATA_HOME/chaos-monkey/history.db, else ~/.local/share/chaos-monkey/history.db].
    #[arg(long, value_name = "PATH", env = "CHAOS_MONKEY_HISTORY")]
    pub history: Option<PathBuf>,
}

/// Run a recorded run again with its settings and seed (the same
/// operations in the same order) and compare the two.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The run to replay: its id (see `chaos-monkey history`), `last` or `previous`.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Replay against this node instead of the recorded one.
    #[arg(long, value_name = "NAME@HOST")]
    pub node: Option<String>,
    /// The cookie file (the cookie is never recorded; without it the
    /// recorded --cookie-file, ERLANG_COOKIE, then ~/.erlang.cookie).
    #[arg(long, value_name = "PATH")]
    pub cookie_file: Option<PathBuf>,
    /// Write the replay's JSON report here.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Write the replay's HTML report here.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write the replay's JUnit XML here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the replay's operations here (JSON lines).
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// The history file [default: $XDG_DATA_HOME/chaos-monkey/history.db, else ~/.local/share/chaos-monkey/history.db].
    #[arg(long, value_name = "PATH", env = "CHAOS_MONKEY_HISTORY")]
    pub history: Option<PathBuf>,
}
