//! A second, minimal target that is not the BEAM: a pool of workers in two
//! shifts, where the day shift restarts a killed worker and the night shift
//! does not. It runs through the same engine and produces a full report —
//! kills, recovery figures, a lost worker, an audit finding — and nothing in
//! that report (or the events) is an Erlang word: the engine takes every
//! target-specific word from the target.

use chaos_engine::{
    run, AuditFinding, Category, Event, Operation, Outcome, Problem, Profile, Recovery, Report,
    ReportInput, RunConfig, Sample, Schedule, SeededRng, StopSignal, Target, Update, Victim,
    Vocabulary,
};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKERS: usize = 6;
/// How long the day shift takes to replace a killed worker.
const RESTART: Duration = Duration::from_millis(20);
/// How long a kill waits for the replacement.
const WATCH: Duration = Duration::from_millis(120);

/// Worker `i` works the day shift when even, the night shift when odd.
fn shift(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "day"
    } else {
        "night"
    }
}

#[derive(Default)]
struct Pool {
    /// When each worker was killed, if it is down.
    down_since: Mutex<[Option<Instant>; WORKERS]>,
}

impl Pool {
    fn up(&self, i: usize) -> bool {
        match self.down_since.lock().unwrap()[i] {
            None => true,
            Some(t) => shift(i) == "day" && t.elapsed() >= RESTART,
        }
    }
}

impl Target for Pool {
    fn sample(&self) -> BoxFuture<'_, Result<Sample, String>> {
        Box::pin(async move {
            let down: Vec<usize> = (0..WORKERS).filter(|i| !self.up(*i)).collect();
            let problems = down
                .iter()
                .map(|i| Problem {
                    kind: "worker_missing".into(),
                    subject: format!("worker {i}"),
                    detail: format!("worker {i} of the {} shift is not working", shift(*i)),
                    immediate: false,
                })
                .collect();
            let mut resources = BTreeMap::new();
            resources.insert("workers_up".to_string(), (WORKERS - down.len()) as u64);
            Ok(Sample {
                t_ms: 0,
                healthy: down.is_empty(),
                problems,
                resources,
            })
        })
    }

    fn gone(&self) -> BoxFuture<'_, String> {
        Box::pin(futures::future::pending())
    }
}

/// Kill one worker and watch for its replacement.
struct KillWorker;

impl Operation<Pool> for KillWorker {
    fn name(&self) -> &'static str {
        "kill_worker"
    }
    fn category(&self) -> Category {
        Category::Process
    }
    fn describe(&self) -> &'static str {
        "stop one worker and watch for its replacement"
    }
    fn plan(&self, rng: &mut SeededRng, _p: Profile) -> Value {
        json!({ "worker": rng.range_inclusive(0, WORKERS as u64 - 1) })
    }
    fn run<'a>(&'a self, pool: &'a Pool, params: &'a Value) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let i = params["worker"].as_u64().unwrap() as usize;
            if !pool.up(i) {
                return Outcome::skipped("the worker is already down");
            }
            let killed = Instant::now();
            pool.down_since.lock().unwrap()[i] = Some(killed);
            let victim = Victim {
                id: format!("w{i}"),
                label: Some(format!("worker {i}")),
                group: Some(shift(i).to_string()),
                node: None,
                attrs: [("bench".to_string(), format!("{}", i / 2))].into(),
            };
            let back = loop {
                if pool.up(i) {
                    break Some(killed.elapsed());
                }
                if killed.elapsed() >= WATCH {
                    break None;
                }
                smol::Timer::after(Duration::from_millis(2)).await;
            };
            let recovery = Recovery {
                detect_us: Some(0),
                restart_ms: back.map(|d| d.as_millis() as u64),
                recovered: Some(back.is_some()),
            };
            Outcome::confirmed(format!("stopped worker {i}"))
                .with_victim(Some(victim))
                .with_measurements(json!({ "back_ms": recovery.restart_ms }))
                .killing()
                .with_recovery(recovery)
        })
    }
}

fn vocabulary() -> Vocabulary {
    Vocabulary {
        survival_definition: "share of samples in which every worker was working".into(),
        victim_group: "shift".into(),
        victims: "workers".into(),
        target_lost: "pool_unreachable".into(),
        victim_lost: "worker_lost".into(),
    }
}

/// Words that belong to the BEAM target and must never come from the engine.
const ERLANG_WORDS: &[&str] = &[
    "pid",
    "erlang",
    "beam",
    "otp",
    "application",
    "supervisor",
    "registered_name",
    "initial_call",
    "mailbox",
    "ets",
    "atom",
    "gen_server",
    "process_crash",
    "node_down",
    "timing_anomaly",
    "supervisor_collapse",
];

fn erlang_words_in(text: &str) -> Vec<&'static str> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect();
    ERLANG_WORDS
        .iter()
        .copied()
        .filter(|w| words.contains(w))
        .collect()
}

#[test]
fn a_second_target_gets_a_full_report_in_its_own_words() {
    let pool = Arc::new(Pool::default());
    let ops: Vec<(Arc<dyn Operation<Pool>>, u32)> = vec![(Arc::new(KillWorker), 1)];
    let weights: BTreeMap<Category, u32> = [(Category::Process, 1)].into();
    let schedule = Schedule::new(
        4,
        20.0,
        Duration::from_secs(1),
        Profile::Demo,
        &weights,
        ops,
        &BTreeMap::new(),
    )
    .unwrap();
    let shares = schedule.shares().clone();
    let cfg = RunConfig {
        duration: Duration::from_secs(1),
        sample_every: Duration::from_millis(100),
        recovery_window: Duration::from_millis(300),
        ..RunConfig::default()
    };
    let mut events: Vec<Event> = Vec::new();
    let record = smol::block_on(run(
        pool.clone(),
        schedule,
        &cfg,
        StopSignal::new(),
        &mut |u: Update<'_>| {
            if let Update::Event(e) = u {
                events.push(e.clone());
            }
        },
    ));
    let words = vocabulary();
    let report = Report::build(
        ReportInput {
            tool: "test".into(),
            target: "a pool of six workers".into(),
            seed: 4,
            profile: Profile::Demo,
            planned_duration_s: 1.0,
            rate: 20.0,
            weights: &weights,
            shares: &shares,
            skipped_categories: &[],
            audit: vec![
                AuditFinding::left("a night-shift badge is still issued"),
                AuditFinding::failure("shift_gap", "the night shift is short of workers"),
            ],
            vocabulary: &words,
            recovery_window: Duration::from_millis(300),
            reach: None,
        },
        &record,
    );

    // The report is full: kills, recovery by the target's group, lost workers.
    assert!(report.kills > 0, "{report:?}");
    let by: Vec<&str> = report.recovery.iter().map(|r| r.by.as_str()).collect();
    assert!(by.contains(&"shift") && by.contains(&"operation"), "{by:?}");
    let day = report
        .recovery
        .iter()
        .find(|r| r.by == "shift" && r.key == "day");
    if let Some(day) = day {
        assert_eq!(day.recovered, day.kills, "the day shift always comes back");
        assert!(day.p50_ms >= RESTART.as_millis() as u64, "{day:?}");
    }
    let kinds: Vec<&str> = report
        .failure_modes
        .iter()
        .map(|m| m.kind.as_str())
        .collect();
    let night_kills = events
        .iter()
        .filter(|e| e.killed && e.victim.as_ref().unwrap().group.as_deref() == Some("night"))
        .count();
    if night_kills > 0 {
        assert!(kinds.contains(&"worker_lost"), "{kinds:?}");
        assert!(kinds.contains(&"worker_missing"), "{kinds:?}");
        assert!(!report.survived);
    }
    assert!(kinds.contains(&"shift_gap"), "{kinds:?}");
    assert_eq!(report.survival_definition, words.survival_definition);
    assert_eq!(report.left_behind.audit.len(), 2);
    assert!(
        night_kills > 0 && day.is_some(),
        "seed 4 kills on both shifts"
    );

    // Nothing in it is an Erlang word.
    let text = serde_json::to_string(&report).unwrap();
    assert_eq!(erlang_words_in(&text), Vec::<&str>::new(), "{text}");
    for e in &events {
        let line = serde_json::to_string(e).unwrap();
        assert_eq!(erlang_words_in(&line), Vec::<&str>::new(), "{line}");
    }
    // The word check itself can fail.
    assert_eq!(
        erlang_words_in(r#"{"kind":"process_crash","pid":"<0.1.0>"}"#),
        vec!["pid", "process_crash"]
    );
}
