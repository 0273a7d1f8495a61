//! A run's report as text: outcomes, failure modes with their evidence,
//! time to recover, resources, what was left behind, recommendations.

use super::*;

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
    if !r.inconclusive.is_empty() {
        let _ = writeln!(s, "- Inconclusive, because:");
        for why in &r.inconclusive {
            let _ = writeln!(s, "  - {why}");
        }
    }
    if let Some(reach) = &r.reach {
        let groups: Vec<String> = reach
            .eligible_by_group
            .iter()
            .map(|(g, n)| format!("{g} {n}"))
            .collect();
        let _ = writeln!(
            s,
            "- Reach: {} eligible victims ({}); {}",
            reach.eligible,
            if groups.is_empty() {
                "none".to_string()
            } else {
                groups.join(", ")
            },
            reach.describe_excluded()
        );
    }
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
    if let Some(sup) = &r.supervision {
        supervision_text(&mut s, sup);
    }
    let _ = writeln!(s, "\n### Failure modes discovered");
    if r.failure_modes.is_empty() {
        let _ = writeln!(s, "None found.");
    }
    for m in &r.failure_modes {
        let detail = m
            .evidence
            .get("detail")
            .or_else(|| m.evidence.get("reason"))
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
        if let Some(cause) = m.evidence.get("cause").and_then(|c| c.as_str()) {
            let _ = writeln!(s, "  cause: {cause}");
        }
        if let Some(ops) = m.evidence.get("last_operations").and_then(|o| o.as_array()) {
            let last: Vec<String> = ops
                .iter()
                .map(|o| {
                    let on = o["victim"]
                        .as_str()
                        .map(|v| format!(" on {v}"))
                        .unwrap_or_default();
                    format!(
                        "{}{on} ({}, started {:.1} s)",
                        o["op"].as_str().unwrap_or("?"),
                        o["outcome"].as_str().unwrap_or("?"),
                        o["t_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
                    )
                })
                .collect();
            let _ = writeln!(s, "  the last operations to finish: {}", last.join("; "));
        }
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
    if let Some(loss) = r.extras.get("message_loss") {
        let _ = writeln!(s, "\n### Message loss (--allow-message-loss)");
        let _ = writeln!(
            s,
            "- {} real queued messages dropped by clear_mailbox in {} operation(s)",
            loss["total_dropped"], loss["operations"]
        );
        for d in loss["drops"].as_array().into_iter().flatten() {
            let _ = writeln!(
                s,
                "- {} from {}{}",
                d["dropped"],
                d["victim"].as_str().unwrap_or("?"),
                d["name"]
                    .as_str()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
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
            "- lost writes (acknowledged, then read back wrong or missing): {}",
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
    let _ = writeln!(
        s,
        "Clean-up and audit took {:.1} s.",
        r.left_behind.clean_up_s
    );
    let _ = writeln!(s, "\n### Recommendations");
    for rec in &r.recommendations {
        let _ = writeln!(s, "- {rec}");
    }
    s
}

/// The Supervision section: per application what stops it and its single
/// points of failure, the budgets the run spent, what they turned away,
/// and the predictions made before kills let past a budget.
fn supervision_text(s: &mut String, sup: &chaos_engine::budget::SupervisionSection) {
    let policy = match sup.policy.as_str() {
        "spare" => "every restart budget keeps one restart spare",
        "edge" => "budgets spent up to their last restart (--edge)",
        "collapse" => "kills may exhaust budgets (--allow-collapse)",
        other => other,
    };
    let _ = writeln!(s, "\n### Supervision ({policy})");
    for g in &sup.groups {
        let stops = if g.stops_target {
            " and the node halts"
        } else {
            ""
        };
        match (g.faults_to_stop, g.window_s, &g.limited_by) {
            (Some(k), Some(w), Some(by)) => {
                let _ = writeln!(
                    s,
                    "- {}: {k} kill(s) within {w} s stop it{stops} (limited by {by})",
                    g.group
                );
            }
            _ if !g.unknown.is_empty() => {
                let _ = writeln!(
                    s,
                    "- {}: unknown — budget unreadable for {} (treated as spent)",
                    g.group,
                    g.unknown.join(", ")
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "- {}: kills of its processes alone cannot stop it",
                    g.group
                );
            }
        }
        for (who, why) in g.single_points.iter().take(10) {
            let _ = writeln!(s, "  - single point of failure: {who}: {why}");
        }
        if g.single_points.len() > 10 {
            let _ = writeln!(
                s,
                "  - … and {} more (see the JSON report)",
                g.single_points.len() - 10
            );
        }
    }
    if !sup.budgets.is_empty() {
        let _ = writeln!(s, "| supervisor | budget | kills charged | peak used |");
        let _ = writeln!(s, "|---|---|---:|---:|");
        for b in sup.budgets.iter().take(10) {
            let _ = writeln!(
                s,
                "| {} | {} in {} s | {} | {} ({:.0}%) |",
                b.owner,
                b.limit,
                b.period_s,
                b.charged,
                b.peak_used,
                b.peak_share() * 100.0
            );
        }
    }
    let _ = writeln!(
        s,
        "- victims turned away by a restart budget or a single point of failure: {}",
        sup.guarded
    );
    if !sup.restarts_not_ours.is_empty() {
        let list: Vec<String> = sup
            .restarts_not_ours
            .iter()
            .map(|(owner, n)| format!("{owner} {n}"))
            .collect();
        let _ = writeln!(
            s,
            "- children that died and were restarted without a kill of the monkey: {}",
            list.join(", ")
        );
    }
    for p in &sup.predictions {
        let outcome = p.prediction.outcome_text();
        let _ = writeln!(
            s,
            "- prediction at {:.1} s ({}): {} — {outcome}",
            p.t_ms as f64 / 1000.0,
            p.operation,
            p.prediction.predicted
        );
    }
}
