//! The HTML page of a `chaos-monkey scenarios` suite: the summary card
//! (counts, average detection and recovery, node, duration), one table row
//! per scenario with its figures, and per scenario what was expected and
//! what was observed. Built from the same parts as the run page.

use super::{details, section, summary_card, table, Cell, Page, Tone};
use chaos_engine::scenario::{ScenarioResult, SuiteReport, SuiteVerdict};
use maud::{html, Markup};

fn ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1} ms"))
        .unwrap_or_else(|| "-".into())
}

/// A scenario's verdict in a word, with its tone.
fn verdict(r: &ScenarioResult) -> (&'static str, Tone) {
    match (&r.skipped, r.passed) {
        (Some(_), _) => ("skipped", Tone::Warn),
        (None, true) => ("passed", Tone::Ok),
        (None, false) => ("failed", Tone::Bad),
    }
}

/// What the command put in the report's context under `key`, as a list of lines.
fn context_lines(r: &SuiteReport, key: &str) -> Vec<String> {
    r.context[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn summary(r: &SuiteReport) -> Markup {
    let s = &r.summary;
    let ran = s.total - s.skipped;
    let lost = r.context["target_lost"].as_str();
    let (text, tone) = if s.failed > 0 || lost.is_some() {
        (format!("{} of {ran} scenarios failed", s.failed), Tone::Bad)
    } else if s.verdict == SuiteVerdict::Inconclusive {
        (
            format!(
                "inconclusive: {} of {} scenarios skipped",
                s.skipped, s.total
            ),
            Tone::Warn,
        )
    } else if r.interrupted || s.skipped > 0 {
        (
            format!("{} of {ran} scenarios passed", s.passed),
            Tone::Warn,
        )
    } else {
        (format!("all {} scenarios passed", s.total), Tone::Ok)
    };
    let facts = vec![
        (
            "scenarios",
            format!("{} passed", s.passed),
            Some(format!("{} failed, {} skipped", s.failed, s.skipped)),
        ),
        ("average detection", ms(s.average_detection_ms), None),
        ("average recovery", ms(s.average_recovery_ms), None),
        ("node", r.target.clone(), None),
        ("duration", format!("{:.1} s", r.duration_s), None),
    ];
    let mut notes = Vec::new();
    if let Some(why) = lost {
        notes.push(format!("The node went down during the suite: {why}"));
    }
    if r.interrupted {
        notes.push("The suite was interrupted; the scenarios not run are skipped.".into());
    }
    notes.extend(s.inconclusive_because.iter().cloned());
    let left = context_lines(r, "left_behind");
    if !left.is_empty() {
        notes.push(format!("Left behind on the node: {}", left.join("; ")));
    }
    summary_card(&text, tone, &facts, &notes)
}

fn results_section(r: &SuiteReport) -> Markup {
    let rows: Vec<Vec<Cell>> = r
        .results
        .iter()
        .map(|x| {
            let (word, tone) = verdict(x);
            vec![
                Cell::Text(x.scenario.clone()),
                Cell::Pill(word.into(), tone),
                Cell::Num(ms(x.detection_time_ms)),
                Cell::Num(ms(x.recovery_time_ms)),
                Cell::Num(x.data_loss.map(|n| n.to_string()).unwrap_or("-".into())),
                Cell::Text(if x.cascading_failures.is_empty() {
                    "none".into()
                } else {
                    x.cascading_failures.join("; ")
                }),
            ]
        })
        .collect();
    section(
        "results",
        "Scenarios",
        Some("Detection: from the fault's injection to the first sighting of its effect. Recovery: from the fault's end to the steady state restored. Data loss: acknowledged probe writes missing or changed after the fault."),
        table(
            &["scenario", "verdict", "detection", "recovery", "data loss", "cascading failures"],
            &[2, 3, 4],
            &rows,
        ),
    )
}

fn one_scenario(x: &ScenarioResult) -> Markup {
    let (word, _) = verdict(x);
    details(
        &format!("{} — {word}", x.scenario),
        html! {
            dl {
                dt { "fault" } dd { (x.fault) }
                dt { "expected" } dd { (x.expected) }
                dt { "observed" } dd { (x.observed) }
                @if let Some(why) = &x.skipped { dt { "skipped" } dd { (why) } }
                @for f in &x.failures { dt { "failed" } dd { (f) } }
                dt { "took" } dd { (format!("{:.1} s", x.duration_ms / 1e3)) }
            }
            @if !x.measurements.is_null() {
                pre { (serde_json::to_string_pretty(&x.measurements).unwrap_or_default()) }
            }
        },
    )
}

fn details_section(r: &SuiteReport) -> Markup {
    section(
        "expected-observed",
        "Expected and observed",
        None,
        html! { @for x in &r.results { (one_scenario(x)) } },
    )
}

/// The whole page of a suite's report.
pub fn page(r: &SuiteReport) -> Page {
    let seed = r.context["seed"]
        .as_u64()
        .map(|s| format!("; seed {s}"))
        .unwrap_or_default();
    let mut p = Page::new(
        format!("Scenario report — {}", r.target),
        format!(
            "{}; {} scenarios{seed}; {:.0} s",
            r.tool, r.summary.total, r.duration_s
        ),
    );
    p.push(summary(r))
        .push(results_section(r))
        .push(details_section(r))
        .footer(format!("{}{seed}", r.tool));
    p
}

/// The suite's report as one self-contained HTML document.
pub fn render(r: &SuiteReport) -> String {
    page(r).render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::CONTENT_SECURITY_POLICY;
    use chaos_engine::scenario::{Around, Observation};
    use std::time::Duration;

    const HOSTILE: &str = "<img src=x onerror=alert(1)>&\"'";

    fn suite() -> SuiteReport {
        let judge = |name: &str, obs: Observation, cascade: Vec<String>| {
            ScenarioResult::judge(
                name,
                "kill <b>it</b>",
                format!("back within 1 s {HOSTILE}"),
                obs,
                Around {
                    data_loss: Some(0),
                    data_loss_allowed: Some(0),
                    cascading_failures: cascade,
                    duration: Duration::from_millis(1500),
                },
            )
        };
        let results = vec![
            judge(
                "process_crash",
                Observation::judged(true, "restarted in 3 ms")
                    .detected(Some(Duration::from_micros(1250)))
                    .recovered(Some(Duration::from_millis(3))),
                vec![],
            ),
            judge(
                &format!("evil {HOSTILE}"),
                Observation::judged(false, format!("observed {HOSTILE}")),
                vec![format!("app {HOSTILE} stopped")],
            ),
            judge(
                "disk_pressure",
                Observation::skipped("no --disk-dir"),
                vec![],
            ),
        ];
        SuiteReport::new(
            "chaos-monkey 0.1",
            format!("node{HOSTILE}@localhost"),
            Duration::from_millis(4200),
            false,
            results,
            serde_json::json!({"seed": 7, "left_behind": [HOSTILE]}),
        )
    }

    #[test]
    fn the_suite_page_escapes_what_came_from_the_target() {
        let page = render(&suite());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains(CONTENT_SECURITY_POLICY));
        for bad in ["<img", "<b>", "<script", "<link"] {
            assert!(!page.contains(bad), "the page has {bad}");
        }
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;&amp;&quot;'"));
        assert!(page.contains("kill &lt;b&gt;it&lt;/b&gt;"));
        // Summary, one row per scenario with its figures, one details block each.
        assert!(page.contains("1 of 2 scenarios failed"), "{page}");
        assert!(page.contains("card bad"));
        assert!(page.contains("<td class=\"num\">1.2 ms</td>"), "{page}");
        assert!(page.contains("<td class=\"num\">3.0 ms</td>"), "{page}");
        assert_eq!(page.matches("<tbody>").count(), 1);
        assert_eq!(page.matches("<details>").count(), 3);
        for word in ["passed", "failed", "skipped"] {
            assert!(page.contains(&format!(">{word}</span>")), "{word}");
        }
        assert!(page.contains("no --disk-dir"));
        assert!(page.contains("seed 7"));
        assert!(page.contains("Left behind on the node: &lt;img"));
    }

    #[test]
    fn a_clean_suite_reads_ok() {
        let mut r = suite();
        r.results.truncate(1);
        r.summary = chaos_engine::scenario::SuiteSummary::of(&r.results);
        r.context = serde_json::json!({});
        let page = render(&r);
        assert!(page.contains("all 1 scenarios passed"), "{page}");
        assert!(page.contains("card ok"));
        assert!(!page.contains("Left behind"));
    }
}
