//! The HTML page of a `chaos-monkey run` report: the summary card, the
//! operations over time by category, resource charts with the chaos and the
//! failure modes marked, the failure modes with their evidence, the
//! time-to-recover table and what was left behind.

use super::chart::{self, Size};
use super::series::*;
use super::{details, figure, section, summary_card, table, Cell, Page, Tone};
use chaos_engine::{Category, Report};
use maud::{html, Markup};

fn marker_legend() -> Markup {
    html! {
        ul class="legend" {
            li { span class="swatch" style="background:rgba(192,57,43,.25)" {} "failure mode (first to last seen)" }
            li { span class="swatch line" style="border-color:#c0392b;width:2px;height:10px;border-top:none;border-left:2px solid #c0392b" {} "kill" }
            li { span class="swatch dash" style="border-color:#5b6573" {} "chaos ends (clean-up, recovery window)" }
            li { span class="swatch line" style="border-color:#d35400" {} "breaker" }
            li { span class="swatch line" style="border-color:#b3261e" {} "target lost" }
            li { span class="swatch dash" style="border-color:#1d2530" {} "interrupted" }
            li { span class="swatch line" style="border-color:#1f5f99" {} "mean" }
            li { span class="swatch" style="background:rgba(31,95,153,.2)" {} "min–max in a bucket" }
        }
    }
}

fn summary(r: &Report) -> Markup {
    let tone = if r.target_lost.is_some() || !r.survived || !r.failure_modes.is_empty() {
        Tone::Bad
    } else if r.interrupted || r.breaker_tripped.is_some() {
        Tone::Warn
    } else {
        Tone::Ok
    };
    let facts = vec![
        (
            "seed",
            r.seed.to_string(),
            Some(format!("profile {}", r.profile)),
        ),
        (
            "duration",
            format!("{:.1} s", r.duration_s),
            Some(format!("planned {:.0} s", r.planned_duration_s)),
        ),
        (
            "operations",
            count(r.total_ops),
            Some(format!("{} kills", count(r.kills))),
        ),
        (
            "rate",
            format!("{:.1}/s", r.ops_per_sec),
            Some(format!("requested {}/s", r.rate_requested)),
        ),
        (
            "survival rate",
            format!("{:.1} %", r.survival_rate * 100.0),
            Some(
                if r.survived {
                    "whole at the end"
                } else {
                    "not whole at the end"
                }
                .into(),
            ),
        ),
        (
            "outcomes",
            format!("{} confirmed", count(r.confirmed)),
            Some(format!(
                "{} unconfirmed, {} skipped, {} failed",
                r.unconfirmed, r.skipped, r.errors
            )),
        ),
        ("failure modes", r.failure_modes.len().to_string(), None),
        (
            "left behind",
            if r.left_behind.is_clean() {
                "nothing".to_string()
            } else {
                let l = &r.left_behind;
                let n = l.undo_failures.len() + l.audit.len() + l.pending_effects + l.pending_ops;
                format!("{n} thing(s)")
            },
            None,
        ),
    ];
    let mut notes = Vec::new();
    if let Some(why) = &r.target_lost {
        notes.push(format!("The target went down: {why}"));
    }
    if let Some(why) = &r.breaker_tripped {
        notes.push(format!("The circuit breaker stopped the chaos: {why}"));
    }
    if r.interrupted {
        notes.push("The run was interrupted; effects were undone before this report.".into());
    }
    notes.push(format!("Survival rate: {}.", r.survival_definition));
    summary_card(&r.verdict, tone, &facts, &notes)
}

fn ops_section(r: &Report) -> Markup {
    let t = &r.timeline;
    let series: Vec<(&str, &str)> = Category::ALL
        .iter()
        .map(|c| (c.name(), category_colour(*c)))
        .chain(NOT_DONE)
        .collect();
    let chart = chart::stacked_bars(
        "operations per second: done by category, then skipped and failed",
        &series,
        &ops_stacks(t),
        &|v| format!("{v:.0}"),
        &overlay(t),
        Size {
            width: 1100.0,
            height: 230.0,
        },
    );
    let rows: Vec<Vec<Cell>> = Category::ALL
        .iter()
        .filter_map(|c| r.by_category.get(c.name()).map(|s| (c, s)))
        .map(|(c, s)| {
            vec![
                Cell::Text(c.name().into()),
                Cell::Num(count(s.ops)),
                Cell::Num(format!("{:.1} %", s.share * 100.0)),
                Cell::Num(format!("{:.1} %", s.expected_share * 100.0)),
                Cell::Num(count(s.confirmed)),
                Cell::Num(count(s.unconfirmed)),
                Cell::Num(count(s.skipped)),
                Cell::Num(count(s.failed)),
                Cell::Text(s.not_run_reason.clone().unwrap_or_default()),
            ]
        })
        .collect();
    let op_rows: Vec<Vec<Cell>> = r
        .by_op
        .iter()
        .map(|(name, s)| {
            vec![
                Cell::Text(name.clone()),
                Cell::Text(s.category.clone()),
                Cell::Num(count(s.ops)),
                Cell::Num(count(s.confirmed)),
                Cell::Num(count(s.unconfirmed)),
                Cell::Num(count(s.skipped)),
                Cell::Num(count(s.failed)),
            ]
        })
        .collect();
    let reasons: Vec<Vec<Cell>> = r
        .error_reasons
        .iter()
        .map(|e| {
            vec![
                Cell::Text(e.op.clone()),
                Cell::Num(count(e.count)),
                Cell::Pre(e.reason.clone()),
            ]
        })
        .collect();
    let body = html! {
        (figure("Operations per second", &format!("by category, {} s buckets", t.bucket_ms as f64 / 1000.0), chart))
        (chart::legend(&series))
        (table(&["category", "ops", "share", "expected", "confirmed", "unconfirmed", "skipped", "failed", "note"], &[1, 2, 3, 4, 5, 6, 7], &rows))
        (details(&format!("By operation ({})", r.by_op.len()), table(&["operation", "category", "ops", "confirmed", "unconfirmed", "skipped", "failed"], &[2, 3, 4, 5, 6], &op_rows)))
        @if !reasons.is_empty() {
            (details(&format!("Why operations failed ({})", r.errors), table(&["operation", "count", "reason"], &[1], &reasons)))
        }
    };
    section("operations", "Operations over time", None, body)
}

fn resources_section(r: &Report) -> Markup {
    let t = &r.timeline;
    let mut names = t.resource_names();
    names.sort_by_key(|n| (resource_kind(n).order, n.clone()));
    let o = overlay(t);
    let figures: Vec<Markup> = names
        .iter()
        .map(|n| {
            let k = resource_kind(n);
            let pts = resource_points(t, n, k.scale);
            let trend = r.resources.get(n).map(|tr| {
                format!(
                    "start {} · peak {} · end {}",
                    (k.fmt)(tr.start as f64 / k.scale),
                    (k.fmt)(tr.peak as f64 / k.scale),
                    (k.fmt)(tr.end as f64 / k.scale)
                )
            });
            let detail = [
                k.detail.clone(),
                metric_note(r, n),
                trend.unwrap_or_default(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" — ");
            figure(
                &k.title,
                &detail,
                chart::line_chart(
                    &k.title,
                    &pts,
                    &k.fmt,
                    k.min_step,
                    &o,
                    Size {
                        width: 540.0,
                        height: 170.0,
                    },
                ),
            )
        })
        .collect();
    let body = html! {
        @if figures.is_empty() {
            p { "No health sample was taken." }
        } @else {
            div class="charts" { @for f in &figures { (f) } }
            (marker_legend())
        }
    };
    section(
        "resources",
        "Resources over time",
        Some("Measured on the target once a second, with the chaos events and the failure modes marked. A gap is a second without a measurement (a probe is not counted while a fault is on its proxy, or when it got no answer)."),
        body,
    )
}

/// A user metric's unit, threshold and errors (from `extras.metrics`).
fn metric_note(r: &Report, resource: &str) -> String {
    let Some(name) = resource
        .strip_prefix(chaos_engine::timeline::METRIC)
        .map(|n| n.trim_start_matches(':'))
    else {
        return String::new();
    };
    let Some(m) = r
        .extras
        .get("metrics")
        .and_then(|v| v.as_array())
        .and_then(|a| a.iter().find(|m| m["name"] == name))
    else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(u) = m["unit"].as_str() {
        parts.push(u.to_string());
    }
    if let Some(max) = m["max"].as_f64() {
        parts.push(format!("max {max}, over it in {} samples", m["over_max"]));
    }
    if m["errors"].as_u64().unwrap_or(0) > 0 {
        parts.push(format!(
            "{} samples failed (last: {})",
            m["errors"],
            m["last_error"].as_str().unwrap_or("?")
        ));
    }
    parts.join(" · ")
}

fn failures_section(r: &Report) -> Markup {
    let rows: Vec<Vec<Cell>> = r
        .failure_modes
        .iter()
        .map(|f| {
            vec![
                Cell::Text(f.kind.clone()),
                Cell::Text(f.subject.clone()),
                Cell::Num(seconds(f.first_seen_ms)),
                Cell::Num(seconds(f.last_seen_ms)),
                if f.recovered {
                    Cell::Pill("recovered".into(), Tone::Warn)
                } else {
                    Cell::Pill("still there".into(), Tone::Bad)
                },
                Cell::Pre(serde_json::to_string_pretty(&f.evidence).unwrap_or_default()),
            ]
        })
        .collect();
    let body = html! {
        @if rows.is_empty() {
            p class="clean" { "None found." }
        } @else {
            (table(&["kind", "subject", "first seen", "last seen", "state", "evidence"], &[2, 3], &rows))
        }
    };
    section(
        "failure-modes",
        &format!("Failure modes ({})", r.failure_modes.len()),
        None,
        body,
    )
}

fn recovery_section(r: &Report) -> Markup {
    let rows: Vec<Vec<Cell>> = r
        .recovery
        .iter()
        .map(|x| {
            vec![
                Cell::Text(x.by.clone()),
                Cell::Text(x.key.clone()),
                Cell::Num(count(x.kills)),
                Cell::Num(count(x.recovered)),
                Cell::Num(format!("{} ms", x.p50_ms)),
                Cell::Num(format!("{} ms", x.p95_ms)),
                Cell::Num(format!("{} ms", x.max_ms)),
                Cell::Num(format!("{} µs", x.detect_p50_us)),
            ]
        })
        .collect();
    let body = html! {
        @if rows.is_empty() {
            p { "No kill was watched for recovery." }
        } @else {
            (table(&["by", "which", "kills", "recovered", "p50", "p95", "max", "to 'DOWN' (p50)"], &[2, 3, 4, 5, 6, 7], &rows))
        }
    };
    section(
        "recovery",
        "Time to recover",
        Some("From each kill to its restart by the supervisor; the last column is the time to the kill's 'DOWN'."),
        body,
    )
}

/// Per application what stops it and its single points of failure, the
/// budgets the run spent, and the predictions made before collapses.
fn supervision_section(r: &Report) -> Markup {
    let Some(sup) = &r.supervision else {
        return html! {};
    };
    let budgets: Vec<Vec<Cell>> = sup
        .budgets
        .iter()
        .map(|b| {
            vec![
                Cell::Text(b.owner.clone()),
                Cell::Text(format!("{} in {} s", b.limit, b.period_s)),
                Cell::Num(count(b.charged)),
                Cell::Num(format!("{} ({:.0}%)", b.peak_used, b.peak_share() * 100.0)),
            ]
        })
        .collect();
    let body = html! {
        p { "Budget policy: " strong { (sup.policy) } "; victims turned away by a budget or a single point of failure: " (count(sup.guarded)) "." }
        @if !sup.restarts_not_ours.is_empty() {
            p {
                "Children that died and were restarted without a kill of the monkey: "
                (sup.restarts_not_ours.iter().map(|(o, n)| format!("{o} {n}")).collect::<Vec<_>>().join(", "))
            }
        }
        ul {
            @for g in &sup.groups {
                li {
                    strong { (g.group) } ": "
                    @match (g.faults_to_stop, g.window_s, &g.limited_by) {
                        (Some(k), Some(w), Some(by)) => {
                            (k) " kill(s) within " (w) " s stop it"
                            @if g.stops_target { " and halt the node" }
                            " (limited by " (by) ")"
                        }
                        _ => {
                            @if g.unknown.is_empty() { "kills of its processes alone cannot stop it" }
                            @else { "unknown: budget unreadable for " (g.unknown.join(", ")) }
                        }
                    }
                    @if !g.single_points.is_empty() {
                        ul { @for (who, why) in &g.single_points { li class="spof" { "single point of failure: " strong { (who) } " — " (why) } } }
                    }
                }
            }
        }
        @if !budgets.is_empty() {
            (table(&["supervisor", "budget", "kills charged", "peak used"], &[2, 3], &budgets))
        }
        @if !sup.predictions.is_empty() {
            h3 { "Predictions" }
            ul {
                @for p in &sup.predictions {
                    li {
                        (format!("{:.1} s", p.t_ms as f64 / 1000.0)) " " (p.operation) ": " (p.prediction.predicted) " — "
                        (p.prediction.outcome_text())
                    }
                }
            }
        }
    };
    section(
        "supervision",
        "Supervision",
        Some("Restart budgets read from the supervisors before the run; each kill was checked against the live budgets it would charge."),
        body,
    )
}

fn left_behind_section(r: &Report) -> Markup {
    let l = &r.left_behind;
    let body = html! {
        @if l.is_clean() {
            p class="clean" { "Nothing: every effect was undone and the after-run audit found nothing." }
        } @else {
            ul {
                @for u in &l.undo_failures { li { "could not undo: " (u) } }
                @for a in &l.audit { li { "audit: " (a) } }
                @if l.pending_effects > 0 { li { (l.pending_effects) " effect(s) still in place when the run stopped waiting" } }
                @if l.pending_ops > 0 { li { (l.pending_ops) " operation(s) still running when the run stopped waiting" } }
            }
        }
        p { (format!("Clean-up and audit took {:.1} s.", l.clean_up_s)) }
    };
    section("left-behind", "Left behind", None, body)
}

fn more_section(r: &Report) -> Markup {
    let body = html! {
        ul { @for x in &r.recommendations { li { (x) } } }
        @for (name, v) in &r.extras {
            (details(name, html! { pre { (serde_json::to_string_pretty(v).unwrap_or_default()) } }))
        }
    };
    section("recommendations", "Recommendations", None, body)
}

/// The whole page of a run's report.
pub fn page(r: &Report) -> Page {
    let mut p = Page::new(
        format!("Chaos report — {}", r.target),
        format!(
            "{}; {} profile; seed {}; {:.0} s",
            r.tool, r.profile, r.seed, r.duration_s
        ),
    );
    p.push(summary(r))
        .push(ops_section(r))
        .push(resources_section(r))
        .push(failures_section(r))
        .push(recovery_section(r))
        .push(supervision_section(r))
        .push(left_behind_section(r))
        .push(more_section(r))
        .footer(format!(
            "{} · replay with --seed {} · charts in {} s buckets{}",
            r.tool,
            r.seed,
            r.timeline.bucket_ms as f64 / 1000.0,
            if r.timeline.markers_dropped > 0 {
                format!(" · {} markers not drawn", r.timeline.markers_dropped)
            } else {
                String::new()
            }
        ));
    p
}

/// The report as one self-contained HTML document.
pub fn render(r: &Report) -> String {
    page(r).render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_bytes_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(50.0 * 1024.0 * 1024.0), "50 MiB");
        assert_eq!(bytes(2.5 * 1024.0 * 1024.0 * 1024.0), "2.5 GiB");
        assert_eq!(mib(0.5), "512 KiB");
    }

    #[test]
    fn probe_latency_is_drawn_in_milliseconds_with_its_probe() {
        let k = resource_kind("probe_latency_us:tcp 127.0.0.1:4000 \"PING\"");
        assert_eq!(k.title, "Probe latency");
        assert_eq!(k.detail, "tcp 127.0.0.1:4000 \"PING\"");
        assert_eq!(k.scale, 1000.0);
        assert_eq!((k.fmt)(1.25), "1.2 ms");
    }
}
