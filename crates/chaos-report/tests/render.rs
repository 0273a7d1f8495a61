//! A report built by the engine from a run record with hostile text in it
//! (victim names and evidence come from the target) renders to HTML that
//! escapes it, and to JUnit that validates against the Jenkins xUnit schema
//! with `xmllint` (scripts/ensure-chromium.sh installs it).

#[path = "support/xmllint.rs"]
mod xmllint;

use chaos_engine::record::{Event, Problem, Sample};
use chaos_engine::report::{Report, ReportInput};
use chaos_engine::runner::RunRecord;
use chaos_engine::timeline::Timeline;
use chaos_engine::{Category, Profile, Recovery, Status, Victim, Vocabulary};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const HOSTILE: &str = "<img src=x onerror=alert(1)>&\"'";

fn record(broken: bool) -> RunRecord {
    let mut r = RunRecord::default();
    for i in 0..40u64 {
        let e = Event {
            seq: i,
            t_ms: i * 250,
            scheduled_ms: i * 250,
            late_us: 0,
            category: Category::ALL[(i % 5) as usize],
            op: "kill_worker",
            params: json!({}),
            victim: Some(Victim {
                id: "<0.1.0>".into(),
                label: Some(HOSTILE.into()),
                group: Some("app".into()),
                node: None,
                attrs: [("registered_name".to_string(), HOSTILE.to_string())].into(),
            }),
            outcome: if i % 7 == 0 {
                Status::Failed
            } else {
                Status::Confirmed
            },
            detail: format!("detail {HOSTILE}"),
            duration_us: 10,
            measurements: if broken && i == 5 {
                json!({"recovered": false})
            } else {
                json!({"restart_ms": 3, "detect_us": 40})
            },
            killed: i % 5 == 0,
            recovery: Some(if broken && i == 5 {
                Recovery {
                    recovered: Some(false),
                    ..Recovery::default()
                }
            } else {
                Recovery {
                    restart_ms: Some(3),
                    detect_us: Some(40),
                    recovered: None,
                }
            }),
            // Restart budgets: names and predictions are target text too.
            budget: Some(chaos_engine::budget::BudgetNote {
                charges: vec![chaos_engine::budget::BudgetCharge {
                    owner: HOSTILE.into(),
                    limit: 3,
                    period_s: 10,
                    used: 1 + i % 3,
                }],
                prediction: (i == 3).then(|| chaos_engine::budget::Prediction {
                    predicted: format!("killing {HOSTILE} stops it"),
                    group: Some("app".into()),
                    came_true: Some(true),
                    after_ms: Some(12),
                    unchecked: None,
                }),
                guarded: u64::from(i == 4),
            }),
        };
        r.timeline.add_event(&e);
        r.tally.add(&e);
    }
    for s in 0..12u64 {
        let problems = if broken && (3..10).contains(&s) {
            vec![Problem {
                kind: "mailbox_overflow".into(),
                subject: format!("process {HOSTILE}"),
                detail: format!("queue 20000 {HOSTILE}"),
                immediate: false,
            }]
        } else {
            Vec::new()
        };
        let sample = Sample {
            t_ms: s * 1000,
            healthy: true,
            problems,
            resources: [
                ("processes".to_string(), 100 + s * 3),
                ("memory_bytes".to_string(), 40_000_000 + s * 1_000_000),
                (
                    "probe_latency_us:tcp 127.0.0.1:1 \"PING\"".to_string(),
                    300 + s * 10,
                ),
            ]
            .into(),
        };
        r.timeline.add_sample(&sample);
        r.samples.push(Ok(sample));
    }
    r.timeline.end_of_chaos(10_000, false, None, None);
    if broken {
        r.undo_failures.push(format!("held memory {HOSTILE}"));
    }
    r.elapsed = Duration::from_millis(12_500);
    r
}

fn report(broken: bool) -> Report {
    let weights: BTreeMap<Category, u32> = Category::ALL.iter().map(|c| (*c, 1)).collect();
    let shares: BTreeMap<Category, f64> = Category::ALL.iter().map(|c| (*c, 0.2)).collect();
    Report::build(
        ReportInput {
            tool: "chaos-monkey test".into(),
            target: "n@localhost".into(),
            seed: 7,
            profile: Profile::Demo,
            planned_duration_s: 10.0,
            rate: 4.0,
            weights: &weights,
            shares: &shares,
            skipped_categories: &[],
            audit: Vec::new(),
            vocabulary: &Vocabulary {
                survival_definition: "every application running at the start still ran".into(),
                victim_group: "application".into(),
                victims: "processes".into(),
                target_lost: "node_down".into(),
                victim_lost: "process_crash".into(),
            },
            recovery_window: Duration::from_secs(5),
            reach: None,
        },
        &record(broken),
    )
}

#[test]
fn the_page_escapes_target_text_and_draws_every_chart() {
    let r = report(true);
    assert!(!r.failure_modes.is_empty());
    let html = chaos_report::run_html(&r);
    assert!(!html.contains(HOSTILE), "raw target text in the page");
    assert!(!html.contains("<img"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&amp;"));
    // One chart for operations and one per resource, each with its data drawn.
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 4);
    assert_eq!(html.matches("class=\"series\"").count(), 3);
    assert!(html.matches("class=\"bar\"").count() >= 10);
    assert!(
        html.contains("class=\"span-failure\""),
        "failure mode not marked"
    );
    assert!(html.contains("class=\"kill\""));
    assert!(html.contains("class=\"m-end\""));
    assert!(html.contains("Probe latency"));
    assert!(
        html.contains("came true after 12 ms"),
        "the prediction is shown"
    );
    for id in [
        "summary",
        "operations",
        "resources",
        "failure-modes",
        "recovery",
        "supervision",
        "left-behind",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no section {id}");
    }
    // Nothing external: no scripts, links, or URLs other than the SVG namespace.
    assert!(!html.contains("<script") && !html.contains("<link"));
    let urls = html.matches("://").count();
    let svg_ns = html.matches("http://www.w3.org/2000/svg").count();
    assert_eq!(urls, svg_ns);
}

#[test]
fn the_timeline_is_in_the_json_report() {
    let r = report(false);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["timeline"]["bucket_ms"], 1000);
    assert!(v["timeline"]["buckets"].as_array().unwrap().len() >= 12);
    let back: Report = serde_json::from_value(v).unwrap();
    assert_eq!(back.timeline, r.timeline);
    // Reports written before the timeline existed still read.
    let mut old = serde_json::to_value(&r).unwrap();
    old.as_object_mut().unwrap().remove("timeline");
    let old: Report = serde_json::from_value(old).unwrap();
    assert_eq!(old.timeline, Timeline::default());
}

/// Write `xml` to `dir` and validate it.
fn validate(xml: &str, dir: &Path) -> Result<(), String> {
    let file = dir.join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    xmllint::validate_junit(&file)
}

#[test]
fn junit_has_a_case_per_kind_and_validates_against_the_schema() {
    let dir = std::env::temp_dir().join(format!("chaos-report-junit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kinds = ["process_crash", "mailbox_overflow", "memory_exhaustion"];
    let good = chaos_report::run_junit(&report(false), &kinds).unwrap();
    validate(&good, &dir).unwrap();
    assert_eq!(good.matches("<testcase").count(), kinds.len() + 2);
    assert!(!good.contains("<failure"));
    let bad = chaos_report::run_junit(&report(true), &kinds).unwrap();
    validate(&bad, &dir).unwrap();
    // process_crash (an unrecovered kill), mailbox_overflow, left behind.
    assert_eq!(bad.matches("<failure").count(), 3, "{bad}");
    assert!(bad.contains("name=\"no mailbox_overflow\""));
    // The evidence is the message.
    assert!(
        bad.contains(
            "message=\"process &lt;img src=x onerror=alert(1)&gt;&amp;&quot;&apos;: queue 20000"
        ),
        "{bad}"
    );
    assert!(bad.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!bad.contains(HOSTILE));
    // The schema check can fail: a test case without a name is rejected.
    let broken = good.replacen("<testcase name=\"no process_crash\"", "<testcase", 1);
    assert!(validate(&broken, &dir).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
