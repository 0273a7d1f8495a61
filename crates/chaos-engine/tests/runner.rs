//! The engine on its own, with a small in-process target: the schedule is
//! reproducible, operations fire on time, every effect is undone, and the
//! report adds up. (The real targets are tested against real systems in
//! their own crates.)

use chaos_engine::{
    run, Category, Effect, Event, Operation, Outcome, Problem, Profile, Report, ReportInput,
    RunConfig, Sample, Schedule, SeededRng, Status, StopSignal, Target, Update, Vocabulary,
};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A counter standing in for a system: "holds" raise it, undos lower it.
#[derive(Default)]
struct Counter {
    held: Arc<AtomicI64>,
    log: Mutex<Vec<String>>,
    broken_after_ms: Option<u64>,
    started: Mutex<Option<Instant>>,
}

impl Target for Counter {
    fn sample(&self) -> BoxFuture<'_, Result<Sample, String>> {
        Box::pin(async move {
            let t0 = *self
                .started
                .lock()
                .unwrap()
                .get_or_insert_with(Instant::now);
            let broken = self
                .broken_after_ms
                .is_some_and(|ms| t0.elapsed() >= Duration::from_millis(ms));
            let mut resources = BTreeMap::new();
            resources.insert(
                "held".to_string(),
                self.held.load(Ordering::SeqCst).max(0) as u64,
            );
            Ok(Sample {
                t_ms: 0,
                healthy: !broken,
                problems: if broken {
                    vec![Problem {
                        kind: "counter_broken".into(),
                        subject: "counter".into(),
                        detail: "gone".into(),
                        immediate: true,
                    }]
                } else {
                    vec![]
                },
                resources,
            })
        })
    }

    fn gone(&self) -> BoxFuture<'_, String> {
        Box::pin(futures::future::pending())
    }
}

struct Hold;
struct Poke;

struct Release(Arc<AtomicI64>, Duration);

impl Effect for Release {
    fn describe(&self) -> String {
        "one unit held".into()
    }
    fn hold(&self) -> Duration {
        self.1
    }
    fn undo(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.0.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

impl Operation<Counter> for Hold {
    fn name(&self) -> &'static str {
        "hold"
    }
    fn category(&self) -> Category {
        Category::Memory
    }
    fn describe(&self) -> &'static str {
        "hold a unit for a while"
    }
    fn plan(&self, rng: &mut SeededRng, _p: Profile) -> Value {
        json!({ "hold_ms": rng.range_inclusive(1, 400) })
    }
    fn run<'a>(&'a self, ctx: &'a Counter, params: &'a Value) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            ctx.held.fetch_add(1, Ordering::SeqCst);
            let ms = params["hold_ms"].as_u64().unwrap();
            Outcome::confirmed("held").with_effect(Box::new(Release(
                ctx.held.clone(),
                Duration::from_millis(ms),
            )))
        })
    }
}

/// A hold far longer than any run here: only an undo ends it.
struct LongHold;

impl Operation<Counter> for LongHold {
    fn name(&self) -> &'static str {
        "long_hold"
    }
    fn category(&self) -> Category {
        Category::Memory
    }
    fn describe(&self) -> &'static str {
        "hold a unit for a minute"
    }
    fn plan(&self, _rng: &mut SeededRng, _p: Profile) -> Value {
        json!({ "hold_ms": 60_000 })
    }
    fn run<'a>(&'a self, ctx: &'a Counter, params: &'a Value) -> BoxFuture<'a, Outcome> {
        Hold.run(ctx, params)
    }
}

impl Operation<Counter> for Poke {
    fn name(&self) -> &'static str {
        "poke"
    }
    fn category(&self) -> Category {
        Category::Process
    }
    fn describe(&self) -> &'static str {
        "poke"
    }
    fn plan(&self, rng: &mut SeededRng, _p: Profile) -> Value {
        json!({ "n": rng.range_inclusive(0, 9) })
    }
    fn run<'a>(&'a self, ctx: &'a Counter, params: &'a Value) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            ctx.log.lock().unwrap().push(params.to_string());
            if params["n"].as_u64() == Some(0) {
                Outcome::failed("n was zero")
            } else {
                Outcome::confirmed("poked")
            }
        })
    }
}

fn vocabulary() -> Vocabulary {
    Vocabulary {
        survival_definition: "the counter answered and was not broken".into(),
        victim_group: "counter".into(),
        victims: "units".into(),
        target_lost: "counter_gone".into(),
        victim_lost: "unit_lost".into(),
    }
}

fn weights() -> BTreeMap<Category, u32> {
    Category::ALL.iter().map(|c| (*c, 10)).collect()
}

fn schedule(seed: u64, rate: f64, secs: f64) -> Schedule<Counter> {
    let ops: Vec<(Arc<dyn Operation<Counter>>, u32)> =
        vec![(Arc::new(Hold), 1), (Arc::new(Poke), 1)];
    Schedule::new(
        seed,
        rate,
        Duration::from_secs_f64(secs),
        Profile::Demo,
        &weights(),
        ops,
        &BTreeMap::new(),
    )
    .unwrap()
}

#[test]
fn the_schedule_depends_on_the_seed_only() {
    let a: Vec<_> = schedule(5, 100.0, 2.0).collect();
    let b: Vec<_> = schedule(5, 100.0, 2.0).collect();
    let c: Vec<_> = schedule(6, 100.0, 2.0).collect();
    assert_eq!(a.len(), 200);
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Categories without operations are left out and reported.
    let s = schedule(5, 100.0, 2.0);
    let skipped: Vec<Category> = s.skipped().iter().map(|k| k.category).collect();
    assert_eq!(
        skipped,
        vec![Category::Network, Category::State, Category::Timing]
    );
    assert!((s.shares()[&Category::Memory] - 0.5).abs() < 1e-9);
}

#[test]
fn runs_on_time_undoes_every_effect_and_reports() {
    let target = Arc::new(Counter::default());
    let cfg = RunConfig {
        duration: Duration::from_secs(2),
        sample_every: Duration::from_millis(200),
        ..RunConfig::default()
    };
    let mut seen: Vec<Event> = Vec::new();
    let mut observer = |u: Update<'_>| {
        if let Update::Event(e) = u {
            seen.push(e.clone());
        }
    };
    let started = Instant::now();
    let record = smol::block_on(run(
        target.clone(),
        schedule(9, 50.0, 2.0),
        &cfg,
        StopSignal::new(),
        &mut observer,
    ));
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(record.tally.total.ops, 100);
    assert_eq!(seen.len(), 100);
    assert_eq!(
        target.held.load(Ordering::SeqCst),
        0,
        "every hold was released"
    );
    assert_eq!(record.pending_effects, 0);
    // Operations fire close to their planned time.
    let late: Vec<u64> = seen
        .iter()
        .map(|e| e.t_ms.saturating_sub(e.scheduled_ms))
        .collect();
    assert!(late.iter().all(|l| *l < 200), "{late:?}");
    let shares: BTreeMap<Category, f64> =
        [(Category::Memory, 0.5), (Category::Process, 0.5)].into();
    let report = Report::build(
        ReportInput {
            tool: "test".into(),
            target: "counter".into(),
            seed: 9,
            profile: Profile::Demo,
            planned_duration_s: 2.0,
            rate: 50.0,
            weights: &weights(),
            shares: &shares,
            skipped_categories: &[],
            audit: vec![],
            vocabulary: &vocabulary(),
            recovery_window: Duration::from_secs(5),
            reach: None,
        },
        &record,
    );
    assert_eq!(report.total_ops, 100);
    assert_eq!(report.confirmed + report.errors, 100);
    let explained: u64 = report.error_reasons.iter().map(|r| r.count).sum();
    assert_eq!(explained, report.errors);
    assert!(report.survived && report.failure_modes.is_empty());
    assert_eq!(report.survival_rate, 1.0);
    assert!(report.left_behind.is_clean());
    assert_eq!(
        report.by_category["memory"].ops + report.by_category["process"].ops,
        100
    );
    assert_eq!(
        seen.iter().filter(|e| e.outcome == Status::Failed).count() as u64,
        report.errors
    );
}

#[test]
fn a_stop_ends_the_run_early_and_still_undoes_effects() {
    let target = Arc::new(Counter::default());
    let cfg = RunConfig {
        duration: Duration::from_secs(30),
        ..RunConfig::default()
    };
    let stop = StopSignal::new();
    let stopper = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        stopper.stop();
    });
    // Holds of a minute: none can end by itself before the stop, so a
    // counter back at 0 is the stop's undo.
    let ops: Vec<(Arc<dyn Operation<Counter>>, u32)> =
        vec![(Arc::new(LongHold), 1), (Arc::new(Poke), 1)];
    let schedule = Schedule::new(
        3,
        20.0,
        Duration::from_secs(30),
        Profile::Demo,
        &weights(),
        ops,
        &BTreeMap::new(),
    )
    .unwrap();
    let mut holds = 0;
    let started = Instant::now();
    let record = smol::block_on(run(target.clone(), schedule, &cfg, stop, &mut |u| {
        if let Update::Event(e) = u {
            holds += usize::from(e.op == "long_hold" && e.outcome == Status::Confirmed);
        }
    }));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(record.interrupted);
    assert!(holds > 0, "nothing was held when the run stopped");
    assert_eq!(target.held.load(Ordering::SeqCst), 0);
}

#[test]
fn problems_become_failure_modes() {
    let target = Arc::new(Counter {
        broken_after_ms: Some(300),
        ..Counter::default()
    });
    let cfg = RunConfig {
        duration: Duration::from_secs(1),
        sample_every: Duration::from_millis(100),
        ..RunConfig::default()
    };
    let record = smol::block_on(run(
        target,
        schedule(1, 10.0, 1.0),
        &cfg,
        StopSignal::new(),
        &mut |_| {},
    ));
    let shares = BTreeMap::new();
    let report = Report::build(
        ReportInput {
            tool: "t".into(),
            target: "c".into(),
            seed: 1,
            profile: Profile::Demo,
            planned_duration_s: 1.0,
            rate: 10.0,
            weights: &weights(),
            shares: &shares,
            skipped_categories: &[],
            audit: vec![],
            vocabulary: &vocabulary(),
            recovery_window: Duration::from_secs(5),
            reach: None,
        },
        &record,
    );
    assert_eq!(report.failure_modes.len(), 1);
    let m = &report.failure_modes[0];
    assert_eq!(m.kind, "counter_broken");
    assert!(!m.recovered);
    assert!(m.first_seen_ms >= 300);
    assert!(!report.survived);
    assert!(report.survival_rate < 1.0 && report.survival_rate > 0.0);
}

#[test]
fn shares_follow_the_weights_closely() {
    let ops: Vec<(Arc<dyn Operation<Counter>>, u32)> =
        vec![(Arc::new(Hold), 1), (Arc::new(Poke), 1)];
    let w: BTreeMap<Category, u32> = [(Category::Memory, 30), (Category::Process, 20)].into();
    for seed in 0..50 {
        let s: Schedule<Counter> = Schedule::new(
            seed,
            10.0,
            Duration::from_secs(60),
            Profile::Demo,
            &w,
            ops.clone(),
            &BTreeMap::new(),
        )
        .unwrap();
        let planned: Vec<_> = s.collect();
        let memory = planned
            .iter()
            .filter(|p| p.category == Category::Memory)
            .count() as f64
            / planned.len() as f64;
        assert!(
            (memory - 0.6).abs() < 0.01,
            "seed {seed}: memory share {memory}"
        );
    }
}

/// A fault judged by what happened while it was on: its verdict, given at
/// undo, says whether anything "touched" it (drawn in its params here).
struct Judged;

struct JudgedEffect {
    touched: bool,
    undone: Arc<AtomicI64>,
}

impl Effect for JudgedEffect {
    fn describe(&self) -> String {
        "a judged fault".into()
    }
    fn hold(&self) -> Duration {
        Duration::from_millis(150)
    }
    fn undo(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.undone.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
    fn judged_when_undone(&self) -> bool {
        true
    }
    fn verdict(&self) -> Option<chaos_engine::Verdict> {
        // Judged after the undo: the undo has run by now.
        assert!(self.undone.load(Ordering::SeqCst) > 0);
        Some(chaos_engine::Verdict {
            status: if self.touched {
                Status::Confirmed
            } else {
                Status::Unconfirmed
            },
            detail: if self.touched {
                "touched traffic".into()
            } else {
                "no traffic while it was on".into()
            },
            measurements: json!({ "touched": self.touched }),
        })
    }
}

impl Operation<Counter> for Judged {
    fn name(&self) -> &'static str {
        "judged"
    }
    fn category(&self) -> Category {
        Category::Network
    }
    fn describe(&self) -> &'static str {
        "a fault judged at its end"
    }
    fn plan(&self, rng: &mut SeededRng, _p: Profile) -> Value {
        json!({ "touch": rng.range_inclusive(0, 1) == 1 })
    }
    fn run<'a>(&'a self, _ctx: &'a Counter, params: &'a Value) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            Outcome::confirmed("on")
                .with_measurements(json!({ "on_for_ms": 150 }))
                .with_effect(Box::new(JudgedEffect {
                    touched: params["touch"].as_bool().unwrap(),
                    undone: Arc::new(AtomicI64::new(0)),
                }))
        })
    }
}

#[test]
fn an_effect_judged_at_its_end_regrades_its_operation() {
    let target = Arc::new(Counter::default());
    let cfg = RunConfig {
        duration: Duration::from_millis(800),
        sample_every: Duration::from_millis(200),
        ..RunConfig::default()
    };
    let ops: Vec<(Arc<dyn Operation<Counter>>, u32)> = vec![(Arc::new(Judged), 1)];
    let weights: BTreeMap<Category, u32> = [(Category::Network, 1)].into();
    let schedule = Schedule::new(
        3,
        40.0,
        Duration::from_millis(800),
        Profile::Demo,
        &weights,
        ops,
        &BTreeMap::new(),
    )
    .unwrap();
    let started = Instant::now();
    let mut seen: Vec<(Event, Duration)> = Vec::new();
    let mut observer = |u: Update<'_>| {
        if let Update::Event(e) = u {
            seen.push((e.clone(), started.elapsed()));
        }
    };
    let record = smol::block_on(run(
        target,
        schedule,
        &cfg,
        StopSignal::new(),
        &mut observer,
    ));
    assert_eq!(seen.len() as u64, record.tally.total.ops);
    assert!(seen.len() >= 20, "{} operations", seen.len());
    let mut both = (0, 0);
    for (e, at) in &seen {
        let touched = e.params["touch"].as_bool().unwrap();
        let (status, detail) = if touched {
            both.0 += 1;
            (Status::Confirmed, "touched traffic")
        } else {
            both.1 += 1;
            (Status::Unconfirmed, "no traffic while it was on")
        };
        assert_eq!(e.outcome, status, "{e:?}");
        assert_eq!(e.detail, detail);
        // The effect's figures join the operation's own.
        assert_eq!(e.measurements["touched"], touched);
        assert_eq!(e.measurements["on_for_ms"], 150);
        // The event waited for the effect's end (or the run's).
        let ended = Duration::from_millis(e.t_ms + 150).min(cfg.duration);
        assert!(*at >= ended, "seen at {at:?}, before its end {ended:?}");
    }
    assert!(both.0 > 0 && both.1 > 0, "{both:?}");
    assert_eq!(
        record.tally.total.ops,
        record.tally.total.confirmed + record.tally.total.unconfirmed
    );
}
