//! `inspect` as text: counts against their limits, memory, each
//! application's supervision tree, and the top processes.

use super::*;
use chaos_beam::elixir::readable;
use chaos_beam::inspect::{NodeInspection, ProcessRow, TreeNode};

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
        let start = app
            .start_type
            .as_deref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        let _ = writeln!(s, "  {} {}{start}", app.name, app.version);
        let spof: Vec<&str> = app
            .escalation
            .iter()
            .flat_map(|e| e.single_points.iter().filter_map(|p| p.pid.as_deref()))
            .collect();
        if let Some(tree) = &app.supervision_tree {
            tree_text(&mut s, tree, 2, &spof);
        }
        if let Some(e) = &app.escalation {
            escalation_text(&mut s, e);
        }
    }
    services_text(&mut s, &r.listeners);
    let _ = writeln!(
        s,
        "\nTop {} processes by message queue",
        r.top_by_queue.len()
    );
    process_table(&mut s, &r.top_by_queue);
    if let Some(reach) = &r.reach {
        let _ = writeln!(
            s,
            "\nChaos reach (default safety rules): {} eligible worker processes",
            reach.eligible
        );
        for (app, n) in &reach.eligible_by_group {
            let _ = writeln!(s, "  {app}: {n}");
        }
        let mut rules: Vec<_> = reach.excluded.iter().collect();
        rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let _ = writeln!(
            s,
            "  left out: {}",
            rules.iter().map(|(_, n)| **n).sum::<u64>()
        );
        for (rule, n) in rules {
            let _ = writeln!(s, "    {n} {rule}");
        }
    }
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

/// Each listener: where it is bound, where we reach it, whose it is, what it speaks.
fn services_text(s: &mut String, listeners: &[chaos_beam::services::Listener]) {
    if listeners.is_empty() {
        let _ = writeln!(s, "\nServices: no application listens on TCP");
        return;
    }
    let _ = writeln!(s, "\nServices (TCP listeners)");
    for l in listeners {
        let reach = match l.reach {
            Some(a) => format!("reached on {a}"),
            None => "not reachable on loopback: never probed".into(),
        };
        let speaks = l
            .protocol
            .as_ref()
            .map(|g| format!("; speaks {} ({})", g.kind, g.evidence))
            .unwrap_or_default();
        let _ = writeln!(s, "  {}: {reach}{speaks}", l.describe());
    }
}

fn is_anonymous_worker(node: &TreeNode) -> bool {
    node.kind == "worker" && node.registered_name.is_none() && node.id == "undefined"
}

/// Kills-to-stop and the single points of failure of one application.
fn escalation_text(s: &mut String, e: &chaos_beam::supervision::Escalation) {
    let halts = if e.halts_node { "; the node halts" } else { "" };
    match (e.kills_to_stop, e.window_s, &e.limited_by) {
        (Some(k), Some(w), Some(by)) => {
            let _ = writeln!(
                s,
                "    collapse: {k} kill(s) within {w} s stop it{halts} (limited by {by})"
            );
        }
        _ if !e.unknown.is_empty() => {
            let _ = writeln!(
                s,
                "    collapse: unknown — budget unreadable for {} (treated as spent)",
                e.unknown.join(", ")
            );
        }
        _ if e.single_points.is_empty() => return,
        _ => {
            let _ = writeln!(
                s,
                "    collapse: kills of its processes alone cannot stop it"
            );
        }
    }
    if !e.single_points.is_empty() {
        let _ = writeln!(
            s,
            "    single points of failure ({}):",
            e.single_points.len()
        );
        for p in &e.single_points {
            let _ = writeln!(s, "      ⚠ {}: {}", p.who, readable(&p.why));
        }
    }
}

fn tree_text(s: &mut String, node: &TreeNode, depth: usize, spof: &[&str]) {
    let indent = "  ".repeat(depth);
    let name = match (&node.registered_name, node.id.as_str(), &node.modules) {
        (Some(n), _, _) => n.clone(),
        (None, "undefined", Some(m)) => m.clone(),
        (None, id, _) => id.to_string(),
    };
    let name = readable(&name);
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
        let budget = match &node.budget {
            Some(b) => format!(
                " {}, at most {} restarts in {} s ({} counted now);",
                b.strategy, b.intensity, b.period_s, b.restarts_in_window
            ),
            None if node.module.as_deref() == Some("supervisor_bridge") => {
                " a bridge: it exits when its one process does;".to_string()
            }
            None => " restart budget unknown;".to_string(),
        };
        let _ = writeln!(
            s,
            "{indent}└ {name} [supervisor {}{}]{budget} {counts}{note}{}",
            node.pid,
            restart_of(node),
            mark(node, spof)
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
                let modules = readable(child.modules.as_deref().unwrap_or("?"));
                let _ = writeln!(s, "{}└ {run} × {modules} [worker]", "  ".repeat(depth + 1));
                i += run;
            } else {
                tree_text(s, child, depth + 1, spof);
                i += 1;
            }
        }
    } else {
        let _ = writeln!(
            s,
            "{indent}└ {name} [{} {}{}]{}",
            node.kind,
            node.pid,
            restart_of(node),
            mark(node, spof)
        );
    }
}

/// `, temporary` and so on: how its supervisor restarts it.
fn restart_of(node: &TreeNode) -> String {
    node.spec
        .as_ref()
        .map(|c| format!(", {}", c.restart))
        .unwrap_or_default()
}

fn mark(node: &TreeNode, spof: &[&str]) -> &'static str {
    if spof.contains(&node.pid.as_str()) {
        "  ⚠ single point of failure"
    } else {
        ""
    }
}

fn process_table(s: &mut String, rows: &[ProcessRow]) {
    let name_of = |p: &ProcessRow| {
        let name = p
            .registered_name
            .clone()
            .unwrap_or_else(|| p.initial_call.clone());
        readable(&name).into_owned()
    };
    // Wide enough for the longest name (a Registry key is long), within reason.
    let w = rows
        .iter()
        .map(|p| name_of(p).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(24, 48);
    let _ = writeln!(
        s,
        "  {:<14} {:<w$} {:>9} {:>11}  {:<12} {:<12} current function",
        "pid", "name", "queue", "memory", "behaviour", "application"
    );
    for p in rows {
        let _ = writeln!(
            s,
            "  {:<14} {:<w$} {:>9} {:>11}  {:<12} {:<12} {}",
            p.pid,
            truncate(&name_of(p), w),
            p.message_queue_len,
            bytes(p.memory_bytes),
            readable(p.behaviour.as_deref().unwrap_or("-")),
            p.application.as_deref().unwrap_or("-"),
            readable(&p.current_function)
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
