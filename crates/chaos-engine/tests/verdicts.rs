//! Honest verdicts: a run whose chaos mostly did not happen is
//! inconclusive (and says why), and a target lost before the planned end
//! never gets a 100 % survival rate.

use chaos_engine::{
    run, Category, NoParams, Outcome, Profile, Reach, Report, ReportInput, RunConfig, Sample,
    Schedule, SeededRng, StopSignal, Target, TypedOperation, Vocabulary,
};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A target that is always whole, or that is lost after `lost_after`.
struct Steady {
    started: Instant,
    lost_after: Option<Duration>,
}

impl Target for Steady {
    fn sample(&self) -> BoxFuture<'_, Result<Sample, String>> {
        Box::pin(async move {
            Ok(Sample {
                healthy: true,
                ..Sample::default()
            })
        })
    }

    fn gone(&self) -> BoxFuture<'_, String> {
        Box::pin(async move {
            match self.lost_after {
                Some(d) => {
                    smol::Timer::at(self.started + d).await;
                    "unplugged".to_string()
                }
                None => futures::future::pending().await,
            }
        })
    }
}

/// An operation that always ends the same way.
struct Always(&'static str, Category, fn() -> Outcome);

impl TypedOperation<Steady> for Always {
    type Params = NoParams;
    fn name(&self) -> &'static str {
        self.0
    }
    fn category(&self) -> Category {
        self.1
    }
    fn describe(&self) -> &'static str {
        "always the same"
    }
    fn plan(&self, _rng: &mut SeededRng, _p: Profile) -> NoParams {
        NoParams {}
    }
    fn run<'a>(&'a self, _ctx: &'a Steady, _p: NoParams) -> BoxFuture<'a, Outcome> {
        let out = (self.2)();
        Box::pin(async move { out })
    }
}

fn confirmed() -> Outcome {
    Outcome::confirmed("done")
}
fn skipped() -> Outcome {
    Outcome::skipped("no eligible victim")
}
fn failed() -> Outcome {
    Outcome::failed("refused")
}

/// Run `ops` (equal weights per category) for `secs` and build the report.
fn report(
    ops: Vec<Always>,
    secs: f64,
    lost_after: Option<Duration>,
    reach: Option<Reach>,
) -> Report {
    let target = Arc::new(Steady {
        started: Instant::now(),
        lost_after,
    });
    let weights: BTreeMap<Category, u32> = ops.iter().map(|o| (o.1, 1)).collect();
    let ops: Vec<(Arc<dyn chaos_engine::Operation<Steady>>, u32)> = ops
        .into_iter()
        .map(|o| (Arc::new(o) as Arc<dyn chaos_engine::Operation<Steady>>, 1))
        .collect();
    let duration = Duration::from_secs_f64(secs);
    let schedule = Schedule::new(
        3,
        40.0,
        duration,
        Profile::Demo,
        &weights,
        ops,
        &BTreeMap::new(),
    )
    .unwrap();
    let shares = schedule.shares().clone();
    let cfg = RunConfig {
        duration,
        sample_every: Duration::from_millis(100),
        recovery_window: Duration::from_millis(100),
        ..RunConfig::default()
    };
    let record = smol::block_on(run(target, schedule, &cfg, StopSignal::new(), &mut |_| {}));
    Report::build(
        ReportInput {
            tool: "t".into(),
            target: "steady".into(),
            seed: 3,
            profile: Profile::Demo,
            planned_duration_s: secs,
            rate: 40.0,
            weights: &weights,
            shares: &shares,
            skipped_categories: &[],
            audit: vec![],
            vocabulary: &Vocabulary {
                survival_definition: "always whole".into(),
                victim_group: "group".into(),
                victims: "units".into(),
                target_lost: "lost".into(),
                victim_lost: "unit_lost".into(),
            },
            recovery_window: Duration::from_millis(100),
            reach,
        },
        &record,
    )
}

#[test]
fn a_run_whose_chaos_happened_is_conclusive() {
    let r = report(
        vec![
            Always("a", Category::Process, confirmed),
            Always("b", Category::Memory, confirmed),
        ],
        0.5,
        None,
        None,
    );
    assert!(r.inconclusive.is_empty(), "{:?}", r.inconclusive);
    assert_eq!(r.verdict, "survived; no failure mode found");
}

#[test]
fn mostly_skipped_is_inconclusive() {
    let r = report(
        vec![
            Always("a", Category::Process, skipped),
            Always("b", Category::Process, skipped),
            Always("c", Category::Process, confirmed),
        ],
        0.5,
        None,
        None,
    );
    assert!(r.survived && r.failure_modes.is_empty());
    assert_eq!(r.inconclusive.len(), 1, "{:?}", r.inconclusive);
    assert!(
        r.inconclusive[0].contains("operations were skipped"),
        "{:?}",
        r.inconclusive
    );
    assert!(
        r.inconclusive[0].contains("no eligible victim"),
        "the top reason: {:?}",
        r.inconclusive
    );
    assert!(r.verdict.starts_with("inconclusive: "), "{}", r.verdict);
}

#[test]
fn a_category_with_nothing_confirmed_is_inconclusive() {
    let r = report(
        vec![
            Always("a", Category::Process, confirmed),
            Always("b", Category::State, failed),
        ],
        0.5,
        None,
        None,
    );
    assert_eq!(
        r.inconclusive,
        vec!["no operation was confirmed in state".to_string()]
    );
}

#[test]
fn no_eligible_victim_is_inconclusive_and_says_who_was_left_out() {
    let reach = Reach {
        eligible: 0,
        eligible_by_group: BTreeMap::new(),
        excluded: [
            ("of the runtime's applications".to_string(), 210),
            ("high priority".to_string(), 80),
        ]
        .into(),
    };
    let r = report(
        vec![Always("a", Category::Process, confirmed)],
        0.3,
        None,
        Some(reach),
    );
    assert_eq!(
        r.inconclusive,
        vec!["no victim was eligible (290 excluded: 210 of the runtime's applications, 80 high priority)".to_string()]
    );
}

#[test]
fn a_target_lost_early_never_survives_at_100_percent() {
    let r = report(
        vec![Always("a", Category::Process, confirmed)],
        2.0,
        Some(Duration::from_millis(500)),
        None,
    );
    assert!(r.target_lost.is_some());
    assert!(!r.survived);
    // Every sample it answered was whole, but it was gone for most of the plan.
    assert!(r.survival_rate < 0.5, "{}", r.survival_rate);
    assert!(
        r.verdict.starts_with("the target went down"),
        "{}",
        r.verdict
    );
    // The evidence names what the target was doing when it went.
    let lost = r.failure_modes.iter().find(|f| f.kind == "lost").unwrap();
    let last = lost.evidence["last_operations"].as_array().unwrap();
    assert!(!last.is_empty() && last.len() <= 12, "{last:?}");
    assert!(last.iter().all(|o| o["op"] == "a"), "{last:?}");
}
