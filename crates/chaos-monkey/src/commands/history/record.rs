//! Recording a finished run or suite, and judging the gate against its baseline.

use super::HistorySettings;
use chaos_engine::Report;
use chaos_history::record::KIND_SCENARIOS;
use chaos_history::{HistoryStore, OpSequence, RecordedRun, TargetIdentity};
use serde_json::{json, Value};

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
    ops: OpSequence,
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
    run.op_sequence = ops;
    let store = HistoryStore::open(path);
    let mut gate_error = None;
    // A target's first run has no `last` to compare with: nothing to judge yet.
    let mut first_run = false;
    let baseline = match (&store, &h.baseline) {
        (Ok(store), Some(spec)) => {
            // Resolved before this run is stored: `last` is the run before it.
            match store
                .resolve(spec, Some(&run.target.node))
                .and_then(|id| store.get(id))
            {
                Ok(b) => Some(b),
                Err(chaos_history::HistoryError::NoSuchRun { .. })
                    if matches!(spec.as_str(), "last" | "latest" | "previous" | "prev") =>
                {
                    first_run = true;
                    None
                }
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
        None if first_run => {
            let why = format!(
                "no earlier run of {} in the history to compare with (--baseline {}); not checked",
                run.target.node,
                h.baseline.as_deref().unwrap_or("last")
            );
            eprintln!("chaos-monkey: gate not checked: {why}");
            json!({ "baseline": Value::Null, "passed": true, "not_checked": why })
        }
        None => {
            let why = gate_error.unwrap_or_default();
            eprintln!("chaos-monkey: gate FAILED: {why}");
            json!({ "baseline": Value::Null, "passed": false, "error": why })
        }
    };
    report.extras.insert("gate".to_string(), gate);
}

/// Record a `scenarios` suite; never fails.
pub fn record_suite(
    h: &crate::history_args::HistoryArgs,
    report: &chaos_engine::scenario::SuiteReport,
    started_at_ms: i64,
    seed: u64,
) {
    let h = HistorySettings::from_flags(h, KIND_SCENARIOS);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_list_is_the_safety_rules_list() {
        let erl = include_str!("../../../../chaos-beam/src/snippets/safety_rules.erl");
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
