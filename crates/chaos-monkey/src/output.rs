//! How results are printed: JSON for machines, aligned text for people.

use chaos_beam::inspect::{NodeInspection, ProcessRow, TreeNode};
use chaos_engine::{Category, Event, Report};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// Pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialisable")
    );
}

/// Bytes in KiB/MiB/GiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn pct(count: u64, limit: u64) -> String {
    if limit == 0 {
        return "-".into();
    }
    format!("{:.2}%", count as f64 * 100.0 / limit as f64)
}

/// The text form of `inspect`.
pub fn inspection_text(r: &NodeInspection) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Node {}", r.node);
    let _ = writeln!(
        s,
        "  OTP {} (ERTS {}), {}, {} schedulers ({} online), up {}",
        r.otp_release,
        r.erts_version,
        r.system_architecture,
        r.schedulers,
        r.schedulers_online,
        humantime::format_duration(std::time::Duration::from_secs(r.uptime_ms / 1000))
    );
    let _ = writeln!(s, "\nResources            count        limit    used");
    let rows = [
        ("processes", r.process_count, r.process_limit),
        ("ports", r.port_count, r.port_limit),
        ("atoms", r.atom_count, r.atom_limit),
    ];
    for (name, count, limit) in rows {
        let _ = writeln!(
            s,
            "  {name:<16} {count:>9} {limit:>12} {:>7}",
            pct(count, limit)
        );
    }
    if let (Some(c), Some(l)) = (r.ets_count, r.ets_limit) {
        let _ = writeln!(s, "  {:<16} {c:>9} {l:>12} {:>7}", "ets tables", pct(c, l));
    }
    let _ = writeln!(s, "\nMemory               {}", bytes(r.memory_total_bytes));
    let mut mem: Vec<_> = r
        .memory
        .iter()
        .filter(|(k, _)| k.as_str() != "total")
        .collect();
    mem.sort_by(|a, b| b.1.cmp(a.1));
    for (k, v) in mem {
        let _ = writeln!(s, "  {k:<16} {:>12}", bytes(*v));
    }
    let _ = writeln!(s, "\nApplications");
    for app in &r.applications {
        let _ = writeln!(s, "  {} {}", app.name, app.version);
        if let Some(tree) = &app.supervision_tree {
            tree_text(&mut s, tree, 2);
        }
    }
    let _ = writeln!(
        s,
        "\nTop {} processes by message queue",
        r.top_by_queue.len()
    );
    process_table(&mut s, &r.top_by_queue);
    let _ = writeln!(s, "\nTop {} processes by memory", r.top_by_memory.len());
    process_table(&mut s, &r.top_by_memory);
    let _ = writeln!(
        s,
        "\n(inspected in {} ms, {} ms of it on the target)",
        r.inspect_millis_total,
        r.inspect_micros_on_target / 1000
    );
    s
}

fn is_anonymous_worker(node: &TreeNode) -> bool {
    node.kind == "worker" && node.registered_name.is_none() && node.id == "undefined"
}

fn tree_text(s: &mut String, node: &TreeNode, depth: usize) {
    let indent = "  ".repeat(depth);
    let name = match (&node.registered_name, node.id.as_str(), &node.modules) {
        (Some(n), _, _) => n.clone(),
        (None, "undefined", Some(m)) => m.clone(),
        (None, id, _) => id.to_string(),
    };
    if node.kind == "supervisor" {
        let counts = match &node.counts {
            Some(c) => format!(
                "{} active: {} workers, {} supervisors",
                c.active, c.workers, c.supervisors
            ),
            None if node.responsive => {
                "no counts (not a plain supervisor, e.g. a supervisor_bridge)".into()
            }
            None => "no counts".into(),
        };
        let note = if !node.responsive {
            " — did not answer in time"
        } else if node.truncated {
            " — children not listed"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "{indent}└ {name} [supervisor {}] {counts}{note}",
            node.pid
        );
        // Anonymous workers of one module (a simple_one_for_one pool) collapse into one line.
        let mut i = 0;
        while i < node.children.len() {
            let child = &node.children[i];
            let run = node.children[i..]
                .iter()
                .take_while(|c| is_anonymous_worker(c) && c.modules == child.modules)
                .count();
            if run > 1 {
                let modules = child.modules.as_deref().unwrap_or("?");
                let _ = writeln!(s, "{}└ {run} × {modules} [worker]", "  ".repeat(depth + 1));
                i += run;
            } else {
                tree_text(s, child, depth + 1);
                i += 1;
            }
        }
    } else {
        let _ = writeln!(s, "{indent}└ {name} [{} {}]", node.kind, node.pid);
    }
}

fn process_table(s: &mut String, rows: &[ProcessRow]) {
    let _ = writeln!(
        s,
        "  {:<14} {:<24} {:>9} {:>11}  {:<12} {:<12} current function",
        "pid", "name", "queue", "memory", "behaviour", "application"
    );
    for p in rows {
        let name = p
            .registered_name
            .clone()
            .unwrap_or_else(|| p.initial_call.clone());
        let _ = writeln!(
            s,
            "  {:<14} {:<24} {:>9} {:>11}  {:<12} {:<12} {}",
            p.pid,
            truncate(&name, 24),
            p.message_queue_len,
            bytes(p.memory_bytes),
            p.behaviour.as_deref().unwrap_or("-"),
            p.application.as_deref().unwrap_or("-"),
            p.current_function
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// The progress bar of a run (stderr, terminals only).
pub fn progress_bar(total: u64, duration: Duration) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} ops, {eta} left  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("run of {}", humantime::format_duration(duration)));
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// The bar's message: rate, errors, health.
pub fn bar_message(ops: u64, errors: u64, healthy: bool, elapsed: Duration) -> String {
    let rate = if elapsed.as_secs_f64() > 0.0 {
        ops as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    format!(
        "{rate:.1}/s, {errors} errors, health {}",
        if healthy { "ok" } else { "DEGRADED" }
    )
}

/// One planned operation of a dry run: `[at_ms] CATEGORY op params`.
pub fn planned_line(p: &chaos_engine::PlannedOp) -> String {
    format!(
        "[{:>7}] {:<8} {:<22} {}",
        p.at.as_millis(),
        p.category.name().to_uppercase(),
        p.op,
        p.params
    )
}

/// One operation in the seed's style: `[elapsed_ms] CATEGORY: what was done -> outcome`.
pub fn event_line(e: &Event) -> String {
    let victim = e
        .victim
        .as_ref()
        .map(|v| {
            let who = v
                .registered_name
                .clone()
                .or(v.initial_call.clone())
                .unwrap_or_default();
            let on = v
                .node
                .as_ref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            if v.pid.is_empty() {
                on
            } else {
                format!(" {} ({who}){on}", v.pid)
            }
        })
        .unwrap_or_default();
    format!(
        "[{}] {}: {}{victim} -> {}: {}",
        e.t_ms,
        e.category.name().to_uppercase(),
        e.op,
        e.outcome.name(),
        e.detail
    )
}

fn share(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The text report, in the seed's layout.
pub fn report_text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n## Chaos Monkey report — {}", r.target);
    let _ = writeln!(s, "\n### Summary");
    let _ = writeln!(
        s,
        "- Duration: {:.2} s (planned {:.0} s){}",
        r.duration_s,
        r.planned_duration_s,
        if r.interrupted {
            " — INTERRUPTED"
        } else {
            ""
        }
    );
    let _ = writeln!(s, "- Seed: {} (profile {})", r.seed, r.profile);
    let _ = writeln!(s, "- Total operations: {}", r.total_ops);
    let _ = writeln!(
        s,
        "- Chaos rate: {:.2} ops/sec (requested {})",
        r.ops_per_sec, r.rate_requested
    );
    let _ = writeln!(
        s,
        "- Outcomes: {} confirmed, {} unconfirmed, {} skipped, {} errors",
        r.confirmed, r.unconfirmed, r.skipped, r.errors
    );
    let _ = writeln!(s, "- Victims killed: {}", r.kills);
    let verdict = match (&r.target_lost, r.survived) {
        (Some(why), _) => format!("the node went DOWN ({why})"),
        (None, true) => "the system survived".to_string(),
        (None, false) => "the system did NOT survive".to_string(),
    };
    let _ = writeln!(s, "- Survival rate: {} — {verdict}", share(r.survival_rate));
    let _ = writeln!(s, "  ({})", r.survival_definition);
    let _ = writeln!(s, "- Verdict: {}", r.verdict);
    if let Some(why) = &r.breaker_tripped {
        let _ = writeln!(s, "- Circuit breaker: chaos stopped early — {why}");
    }

    let _ = writeln!(s, "\n### Chaos distribution");
    let _ = writeln!(
        s,
        "| category | ops | share | expected | confirmed | unconfirmed | skipped | errors |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for c in Category::ALL {
        let st = &r.by_category[c.name()];
        match &st.not_run_reason {
            Some(why) => {
                let _ = writeln!(
                    s,
                    "| {} | – | – | weight {} | not run: {why} | | | |",
                    c.name(),
                    st.weight
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    c.name(),
                    st.ops,
                    share(st.share),
                    share(st.expected_share),
                    st.confirmed,
                    st.unconfirmed,
                    st.skipped,
                    st.failed
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\n| operation | category | ops | confirmed | unconfirmed | skipped | errors |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
    for (name, o) in &r.by_op {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            o.category, o.ops, o.confirmed, o.unconfirmed, o.skipped, o.failed
        );
    }
    if !r.error_reasons.is_empty() {
        let _ = writeln!(s, "\n### Errors, explained");
        for e in r.error_reasons.iter().take(10) {
            let _ = writeln!(s, "- {} × {}: {}", e.count, e.op, e.reason);
        }
    }
    if !r.skip_reasons.is_empty() {
        let _ = writeln!(s, "\n### Skipped operations");
        for e in r.skip_reasons.iter().take(10) {
            let _ = writeln!(s, "- {} × {}: {}", e.count, e.op, e.reason);
        }
    }
    let _ = writeln!(s, "\n### Failure modes discovered");
    if r.failure_modes.is_empty() {
        let _ = writeln!(s, "None found.");
    }
    for m in &r.failure_modes {
        let detail = m
            .evidence
            .get("detail")
            .and_then(|d| d.as_str())
            .map(String::from)
            .unwrap_or_else(|| m.evidence.to_string());
        let state = if m.recovered {
            "recovered"
        } else {
            "NOT recovered"
        };
        let _ = writeln!(
            s,
            "- {} ({}): first seen {:.1} s, last seen {:.1} s, {state} — {detail}",
            m.kind,
            m.subject,
            m.first_seen_ms as f64 / 1000.0,
            m.last_seen_ms as f64 / 1000.0,
        );
    }
    if !r.recovery.is_empty() {
        let _ = writeln!(s, "\n### Time to recover from kills");
        let _ = writeln!(
            s,
            "| by | which | kills | back in time | p50 ms | p95 ms | max ms | detect p50 µs |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
        for row in &r.recovery {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                row.by,
                row.key,
                row.kills,
                row.recovered,
                row.p50_ms,
                row.p95_ms,
                row.max_ms,
                row.detect_p50_us
            );
        }
    }
    if let Some(w) = r.extras.get("workload") {
        let _ = writeln!(
            s,
            "\n### Client workload (through {})",
            w["address"].as_str().unwrap_or("?")
        );
        let _ = writeln!(
            s,
            "- {} requests, {} answered as expected; latency p50 {} µs, p99 {} µs, max {} µs",
            w["requests"], w["ok"], w["latency_p50_us"], w["latency_p99_us"], w["latency_max_us"]
        );
        let _ = writeln!(s, "- error answers: {}", w["err_answers"]);
        let _ = writeln!(s, "- connection errors: {}", w["connection_errors"]);
        let _ = writeln!(
            s,
            "- lost writes (acknowledged PUT, wrong or missing GET): {}",
            w["lost_writes"]
        );
    }
    if let Some(nodes) = r.extras.get("by_node").and_then(|v| v.as_object()) {
        let _ = writeln!(s, "\n### By node");
        let _ = writeln!(
            s,
            "| node | state | ops | confirmed | skipped | failed | kills | failure modes |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---|");
        for (node, n) in nodes {
            let modes: Vec<&str> = n["failure_modes"]
                .as_array()
                .map(|a| a.iter().filter_map(|m| m.as_str()).collect())
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {node} | {} | {} | {} | {} | {} | {} | {} |",
                n["state"].as_str().unwrap_or("?"),
                n["ops"],
                n["confirmed"],
                n["skipped"],
                n["failed"],
                n["kills"],
                if modes.is_empty() {
                    "-".to_string()
                } else {
                    modes.join("; ")
                }
            );
        }
    }
    if let Some(ps) = r.extras.get("proxies").and_then(|v| v.as_array()) {
        let _ = writeln!(s, "\n### Fault proxies");
        for p in ps {
            let faults = p["faults"].as_array().map(|f| f.len()).unwrap_or(0);
            let _ = writeln!(
                s,
                "- {} → {}: {} connections ({} reset, {} refused), {} B up / {} B down, {faults} faults applied",
                p["listen_addr"].as_str().unwrap_or("?"),
                p["upstream_addr"].as_str().unwrap_or("?"),
                p["connections_accepted"],
                p["connections_reset"],
                p["connections_refused"],
                p["bytes_upstream"],
                p["bytes_downstream"]
            );
        }
    }
    let _ = writeln!(s, "\n### Resource trends (start / peak / end)");
    for (name, t) in &r.resources {
        let fmt = |v: u64| {
            if name.ends_with("bytes") {
                bytes(v)
            } else {
                v.to_string()
            }
        };
        let _ = writeln!(
            s,
            "- {name}: {} / {} / {}",
            fmt(t.start),
            fmt(t.peak),
            fmt(t.end)
        );
    }
    let _ = writeln!(s, "\n### Left behind");
    if r.left_behind.is_clean() {
        let _ = writeln!(
            s,
            "Nothing: every effect was undone and the after-run audit found nothing."
        );
    } else {
        for u in &r.left_behind.undo_failures {
            let _ = writeln!(s, "- could not undo: {u}");
        }
        if r.left_behind.pending_effects > 0 {
            let _ = writeln!(
                s,
                "- {} effect(s) still in place when the run stopped waiting",
                r.left_behind.pending_effects
            );
        }
        if r.left_behind.pending_ops > 0 {
            let _ = writeln!(
                s,
                "- {} operation(s) still running when the run stopped waiting",
                r.left_behind.pending_ops
            );
        }
        for a in &r.left_behind.audit {
            let _ = writeln!(s, "- audit: {a}");
        }
    }
    let _ = writeln!(s, "\n### Recommendations");
    for rec in &r.recommendations {
        let _ = writeln!(s, "- {rec}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_bytes() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(2048), "2.0 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
