//! The timeline's tests.
use super::*;
use crate::operation::Status;
use serde_json::Value;

fn event(t_ms: u64, category: Category, outcome: Status, killed: bool) -> Event {
    Event {
        seq: 0,
        t_ms,
        scheduled_ms: t_ms,
        late_us: 0,
        category,
        op: "op",
        params: Value::Null,
        victim: None,
        outcome,
        detail: String::new(),
        duration_us: 0,
        measurements: Value::Null,
        killed,
        recovery: None,
        budget: None,
    }
}

fn sample(t_ms: u64, processes: u64, healthy: bool) -> Sample {
    Sample {
        t_ms,
        healthy,
        problems: Vec::new(),
        resources: [("processes".to_string(), processes)].into(),
    }
}

#[test]
fn events_land_in_their_buckets_by_category() {
    let mut t = Timeline::new(1000, 10);
    t.add_event(&event(10, Category::Process, Status::Confirmed, true));
    t.add_event(&event(999, Category::Process, Status::Failed, false));
    t.add_event(&event(2500, Category::Memory, Status::Confirmed, false));
    assert_eq!(t.buckets.len(), 3);
    assert_eq!(t.buckets[0].ops["process"], 2);
    assert_eq!(t.buckets[0].failed, 1);
    assert_eq!(t.buckets[0].kills, 1);
    assert!(t.buckets[1].ops.is_empty());
    assert_eq!(t.buckets[2].ops["memory"], 1);
    assert_eq!(t.ops_by_category()[&Category::Process], 2);
}

#[test]
fn skipped_and_failed_operations_are_not_counted_as_done() {
    let mut t = Timeline::new(1000, 10);
    t.add_event(&event(10, Category::State, Status::Confirmed, false));
    t.add_event(&event(20, Category::State, Status::Unconfirmed, false));
    t.add_event(&event(30, Category::State, Status::Skipped, false));
    t.add_event(&event(40, Category::Timing, Status::Skipped, false));
    t.add_event(&event(50, Category::Timing, Status::Failed, false));
    let b = &t.buckets[0];
    assert_eq!(b.ops["state"] + b.ops["timing"], 5);
    assert_eq!(b.done["state"], 2);
    assert!(!b.done.contains_key("timing"));
    assert_eq!((b.skipped, b.failed), (2, 1));
    // Merging buckets (a long run) keeps them apart too.
    let mut m = t.buckets[0].clone();
    m.merge(t.buckets[0].clone());
    assert_eq!((m.done["state"], m.skipped, m.failed), (4, 4, 2));
}

#[test]
fn samples_keep_min_max_and_mean() {
    let mut t = Timeline::new(2000, 10);
    t.add_sample(&sample(0, 100, true));
    t.add_sample(&sample(1000, 300, false));
    let s = t.buckets[0].resources["processes"];
    assert_eq!((s.min, s.max, s.n), (100, 300, 2));
    assert_eq!(s.mean, 200.0);
    assert_eq!((t.buckets[0].samples, t.buckets[0].unhealthy), (2, 1));
    assert_eq!(t.resource_names(), vec!["processes".to_string()]);
}

#[test]
fn a_long_run_stays_bounded_and_loses_no_count() {
    let mut t = Timeline::new(1000, 8);
    // An hour at 10 ops/s and a sample a second.
    let mut ops = 0;
    for ms in (0..3_600_000u64).step_by(100) {
        t.add_event(&event(ms, Category::State, Status::Confirmed, false));
        ops += 1;
        if ms % 1000 == 0 {
            t.add_sample(&sample(ms, ms / 1000, true));
        }
    }
    assert!(t.buckets.len() <= 8, "{} buckets", t.buckets.len());
    assert!(t.span_ms() >= 3_600_000);
    assert_eq!(t.bucket_ms, 1000 << 9);
    let total: u64 = t.buckets.iter().map(Bucket::total_ops).sum();
    assert_eq!(total, ops);
    let samples: u64 = t.buckets.iter().map(|b| b.samples).sum();
    assert_eq!(samples, 3600);
    // The merged statistics are those of the raw samples.
    let first = t.buckets[0].resources["processes"];
    let n = first.n;
    assert_eq!(first.min, 0);
    assert_eq!(first.max, n - 1);
    assert_eq!(first.mean, (n - 1) as f64 / 2.0);
}

#[test]
fn merging_is_the_same_whatever_the_arrival_order() {
    let mut a = Timeline::new(1000, 4);
    let mut b = Timeline::new(1000, 4);
    let ts = [0u64, 15_000, 3_000, 7_500, 1_000, 14_999];
    for t in ts {
        a.add_event(&event(t, Category::Timing, Status::Confirmed, false));
        a.add_sample(&sample(t, t, true));
    }
    for t in ts.iter().rev() {
        b.add_event(&event(*t, Category::Timing, Status::Confirmed, false));
        b.add_sample(&sample(*t, *t, true));
    }
    assert_eq!(a.bucket_ms, b.bucket_ms);
    for (x, y) in a.buckets.iter().zip(&b.buckets) {
        assert_eq!(x.ops, y.ops);
        let (sx, sy) = (x.resources.get("processes"), y.resources.get("processes"));
        assert_eq!(
            sx.map(|s| (s.min, s.max, s.n)),
            sy.map(|s| (s.min, s.max, s.n))
        );
    }
}

#[test]
fn markers_are_bounded_and_the_end_of_chaos_says_why() {
    let mut t = Timeline::default();
    t.end_of_chaos(5000, true, Some("broken for 30 s"), None);
    let kinds: Vec<MarkerKind> = t.markers.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, vec![MarkerKind::Breaker, MarkerKind::ChaosEnd]);
    assert!(t.span_ms() > 5000);
    for i in 0..(MAX_MARKERS as u64 + 5) {
        t.mark(MarkerKind::FailureMode, i, Some(i + 10), format!("m{i}"));
    }
    assert_eq!(t.markers.len(), MAX_MARKERS);
    assert_eq!(t.markers_dropped, 7);
}

#[test]
fn a_finished_timeline_marks_failure_modes_and_a_late_loss() {
    let fm = FailureMode {
        kind: "process_crash".into(),
        subject: "worker".into(),
        first_seen_ms: 2000,
        last_seen_ms: 4000,
        evidence: Value::Null,
        recovered: true,
    };
    let t = Timeline::default().finished(
        std::time::Duration::from_millis(9500),
        Some("nodedown"),
        &[fm],
    );
    assert_eq!(t.markers[0].kind, MarkerKind::TargetLost);
    assert_eq!(t.markers[0].t_ms, 9500);
    assert_eq!(t.markers[1].end_ms, Some(4000));
    assert_eq!(t.markers[1].label, "process_crash: worker");
    assert_eq!(t.span_ms(), 10_000);
}

#[test]
fn it_round_trips_through_json() {
    let mut t = Timeline::default();
    t.add_event(&event(10, Category::Network, Status::Skipped, false));
    t.add_sample(&sample(10, 42, true));
    t.mark(MarkerKind::ChaosEnd, 10, None, "end".into());
    let back: Timeline = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);
}
