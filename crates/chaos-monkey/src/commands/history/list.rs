//! `chaos-monkey history`: the recorded runs as a table or JSON.

use crate::exit::CliError;
use crate::history_args::HistoryListArgs;
use chaos_history::{HistoryStore, RecordedRun};
use std::path::PathBuf;

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
