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

use crate::exit::CliError;
use chaos_engine::Report;
use chaos_history::record::{KIND_RUN, KIND_SCENARIOS};
use chaos_history::{Bound, HistoryStore, OpSequence, RecordedRun, TargetIdentity};
use serde_json::{json, Value};
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
    fn set(&self, id: i64) {
        *self.0.lock().unwrap() = Some(id);
    }

    /// The id, once recorded.
    pub fn get(&self) -> Option<i64> {
        *self.0.lock().unwrap()
    }
}

/// The CI gate's flags (`run`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GateArgs {
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
    pub fn for_run(h: &HistoryArgs, gate: &GateArgs) -> Result<Self, CliError> {
        let mut s = Self::from_flags(h, KIND_RUN);
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

/// The node's OTP release and the user's applications with their versions
/// (read before the run; `None` fields when the node does not say).
pub fn identity(client: &chaos_beam::dist::DistClient, node: &str) -> TargetIdentity {
    const SNIPPET: &str = "iolist_to_binary([erlang:system_info(otp_release), \
        [[$\\n, atom_to_list(A), $\\s, V] || {A, _, V} <- application:which_applications()]]).";
    let mut id = TargetIdentity {
        node: node.to_string(),
        ..Default::default()
    };
    if let Ok(chaos_beam::dist::term::Term::Binary(b)) =
        smol::block_on(chaos_beam::eval::eval(client, SNIPPET, &[]))
    {
        let text = String::from_utf8_lossy(&b.bytes);
        let mut lines = text.lines();
        id.otp_release = lines.next().map(str::to_string);
        for l in lines {
            if let Some((app, vsn)) = l.split_once(' ') {
                if !RUNTIME_APPS.contains(&app) {
                    id.applications.insert(app.to_string(), vsn.to_string());
                }
            }
        }
    }
    id
}

/// The applications Erlang/OTP and Elixir ship, as
/// `chaos-beam/src/snippets/safety_rules.erl` lists them (a test keeps the two equal).
const RUNTIME_APPS: &[&str] = &[
    "asn1",
    "common_test",
    "compiler",
    "crypto",
    "debugger",
    "dialyzer",
    "diameter",
    "edoc",
    "eldap",
    "erl_docgen",
    "erl_interface",
    "erts",
    "et",
    "eunit",
    "ftp",
    "hipe",
    "inets",
    "jinterface",
    "kernel",
    "megaco",
    "mnesia",
    "observer",
    "odbc",
    "os_mon",
    "otp_mibs",
    "parsetools",
    "public_key",
    "reltool",
    "runtime_tools",
    "sasl",
    "snmp",
    "ssh",
    "ssl",
    "stdlib",
    "syntax_tools",
    "tftp",
    "tools",
    "wx",
    "xmerl",
    "elixir",
    "logger",
    "iex",
    "mix",
    "eex",
    "ex_unit",
];

fn warn(e: impl std::fmt::Display) {
    eprintln!("chaos-monkey: warning: the run is not in the history: {e}");
}

/// Record a finished `run` or `demo` (with its operations by schedule
/// position, `ops`), and judge the gate. Adds `history` (file and id) and
/// `gate` to the report's extras; never fails.
pub fn finish_run(
    h: &HistorySettings,
    identity: TargetIdentity,
    report: &mut Report,
    started_at_ms: i64,
    ops: Vec<(u64, &'static str)>,
) {
    let Some(path) = &h.path else {
        return;
    };
    let started = std::time::Instant::now();
    let mut run = RecordedRun::from_report(h.kind, report, started_at_ms);
    if !identity.node.is_empty() {
        run.target = identity;
    }
    run.settings = json!({
        "argv": h.argv,
        "replay_of": h.replay_of,
        "profile": report.profile.to_string(),
        "rate": report.rate_requested,
        "planned_duration_s": report.planned_duration_s,
    });
    run.op_sequence =
        OpSequence::from_events(ops.into_iter().map(|(s, o)| (s, o.to_string())).collect());
    let store = HistoryStore::open(path);
    let mut gate_error = None;
    let baseline = match (&store, &h.baseline) {
        (Ok(store), Some(spec)) => {
            // Resolved before this run is stored: `last` is the run before it.
            match store
                .resolve(spec, Some(&run.target.node))
                .and_then(|id| store.get(id))
            {
                Ok(b) => Some(b),
                Err(e) => {
                    gate_error = Some(format!("cannot read the baseline: {e}"));
                    None
                }
            }
        }
        (Err(e), Some(_)) => {
            gate_error = Some(format!("cannot read the baseline: {e}"));
            None
        }
        _ => None,
    };
    match store.and_then(|mut s| s.record(&run)) {
        Ok(id) => {
            run.id = id;
            h.recorded.set(id);
            report.extras.insert(
                "history".to_string(),
                json!({ "file": path, "id": id, "replay_of": h.replay_of }),
            );
            tracing::info!(id, elapsed = ?started.elapsed(), "recorded in the history");
        }
        Err(e) => warn(e),
    }
    if h.baseline.is_none() {
        return;
    }
    let gate = match baseline {
        Some(base) => {
            let c = chaos_history::compare(&base, &run);
            let checks = chaos_history::evaluate(&c, &h.bounds);
            let passed = checks.iter().all(|c| c.passed);
            eprintln!(
                "chaos-monkey: against baseline run {} ({}):",
                base.id,
                chaos_history::utc(base.started_at_ms)
            );
            for line in c.to_text().lines().skip(1) {
                eprintln!("  {line}");
            }
            for ch in &checks {
                eprintln!(
                    "  gate {}: {}",
                    if !ch.checked {
                        "not checked"
                    } else if ch.passed {
                        "ok"
                    } else {
                        "FAILED"
                    },
                    ch.message
                );
            }
            json!({ "baseline": base.id, "passed": passed, "checks": checks, "comparison": c })
        }
        None => {
            let why = gate_error.unwrap_or_default();
            eprintln!("chaos-monkey: gate FAILED: {why}");
            json!({ "baseline": Value::Null, "passed": false, "error": why })
        }
    };
    report.extras.insert("gate".to_string(), gate);
}

/// Why the gate failed (exit 1), when it did.
pub fn gate_failure(report: &Report) -> Option<String> {
    let g = report.extras.get("gate")?;
    if g["passed"].as_bool() != Some(false) {
        return None;
    }
    if let Some(e) = g["error"].as_str() {
        return Some(format!("the regression gate failed: {e}"));
    }
    let failed: Vec<String> = g["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["passed"].as_bool() == Some(false))
        .map(|c| c["message"].as_str().unwrap_or_default().to_string())
        .collect();
    Some(format!(
        "the regression gate failed against run {}: {}",
        g["baseline"],
        failed.join("; ")
    ))
}

/// The gate as a JUnit suite: one test case per bound (skipped when the
/// figure was not measured in both runs), or one failed case when the gate
/// could not read its baseline.
pub fn gate_suite(report: &Report) -> Option<quick_junit::TestSuite> {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    const CLASS: &str = "chaos-monkey.gate";
    let g = report.extras.get("gate")?;
    let mut suite = TestSuite::new(format!(
        "chaos-monkey gate {} against run {}",
        report.target, g["baseline"]
    ));
    let failed = |message: &str| {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
        st.set_message(message.to_string()).set_type("regression");
        st
    };
    if let Some(e) = g["error"].as_str() {
        let mut case = TestCase::new("baseline readable", failed(e));
        case.set_classname(CLASS);
        suite.add_test_case(case);
        return Some(suite);
    }
    for c in g["checks"].as_array().into_iter().flatten() {
        let message = c["message"].as_str().unwrap_or_default();
        let status = if c["checked"].as_bool() == Some(false) {
            let mut st = TestCaseStatus::skipped();
            st.set_message(message.to_string());
            st
        } else if c["passed"].as_bool() == Some(true) {
            TestCaseStatus::success()
        } else {
            failed(message)
        };
        let mut case = TestCase::new(
            format!("no regression in {}", c["figure"].as_str().unwrap_or("?")),
            status,
        );
        case.set_classname(CLASS);
        suite.add_test_case(case);
    }
    Some(suite)
}

/// Record a `scenarios` suite; never fails.
pub fn record_suite(
    h: &HistorySettings,
    report: &chaos_engine::scenario::SuiteReport,
    started_at_ms: i64,
    seed: u64,
) {
    let Some(path) = &h.path else {
        return;
    };
    let mut run = RecordedRun::from_suite(report, started_at_ms, seed);
    run.kind = KIND_SCENARIOS.to_string();
    match HistoryStore::open(path).and_then(|mut s| s.record(&run)) {
        Ok(id) => h.recorded.set(id),
        Err(e) => warn(e),
    }
}

/// `chaos-monkey history`.
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

/// The history file a reading command uses.
pub fn open_for_reading(path: &Option<PathBuf>) -> Result<HistoryStore, CliError> {
    let path = path
        .clone()
        .or_else(chaos_history::default_path)
        .ok_or_else(|| {
            CliError::usage(
                "no history file: neither XDG_DATA_HOME nor HOME is set; pass --history PATH",
            )
        })?;
    if !path.exists() {
        return Err(CliError::failed(format!(
            "history database {}: no such file (nothing recorded yet)",
            path.display()
        )));
    }
    HistoryStore::open(&path).map_err(CliError::failed)
}

/// `chaos-monkey history`: a table of runs.
pub fn list(args: &HistoryListArgs) -> Result<(), CliError> {
    let store = open_for_reading(&args.history)?;
    let runs = store
        .list(args.node.as_deref(), args.last)
        .map_err(CliError::failed)?;
    if args.json {
        crate::output::print_json(&runs);
        return Ok(());
    }
    if runs.is_empty() {
        println!(
            "no runs{} in {}",
            args.node
                .as_deref()
                .map(|n| format!(" against {n}"))
                .unwrap_or_default(),
            store.path().display()
        );
        return Ok(());
    }
    print!("{}", table(&runs, args.node.is_none()));
    Ok(())
}

fn table(runs: &[RecordedRun], with_node: bool) -> String {
    let mut rows: Vec<Vec<String>> = vec![[
        "id",
        "started (UTC)",
        "kind",
        "node",
        "seed",
        "duration",
        "ops",
        "ops/s",
        "survival",
        "skipped",
        "failures",
        "recovery p95",
        "end",
        "verdict",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()];
    for r in runs {
        let p95 = r
            .recovery_by_application()
            .filter(|x| x.kills > 0)
            .map(|x| x.p95_ms)
            .max()
            .map_or("—".to_string(), |v| format!("{v} ms"));
        rows.push(vec![
            r.id.to_string(),
            chaos_history::utc(r.started_at_ms),
            r.kind.clone(),
            r.target.node.clone(),
            r.seed.to_string(),
            format!("{:.1} s", r.duration_s),
            r.total_ops.to_string(),
            format!("{:.1}", r.ops_per_sec),
            format!("{:.1} %", r.survival_rate * 100.0),
            format!("{:.0} %", r.skipped_share() * 100.0),
            r.failure_modes.len().to_string(),
            p95,
            r.end.name().to_string(),
            r.verdict.clone(),
        ]);
    }
    if !with_node {
        for row in &mut rows {
            row.remove(3);
        }
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if i + 1 == cols {
                    v.clone()
                } else {
                    format!("{v:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
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

    #[test]
    fn the_runtime_list_is_the_safety_rules_list() {
        let erl = include_str!("../../../chaos-beam/src/snippets/safety_rules.erl");
        let start = erl.find("RuntimeApps = [").unwrap() + "RuntimeApps = [".len();
        let end = start + erl[start..].find(']').unwrap();
        let names: Vec<&str> = erl[start..end]
            .split(',')
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .collect();
        assert_eq!(names, RUNTIME_APPS);
    }
}
