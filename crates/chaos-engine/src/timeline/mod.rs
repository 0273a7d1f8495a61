//! The run over time, for charts: operations per category, kills and
//! failures per time bucket, resource counts from the health samples, and
//! markers (failure modes, the breaker, an interruption, the end of the
//! chaos). Built incrementally from events and samples as they arrive, so a
//! long run needs no event list: the number of buckets is bounded, and when
//! a run outgrows them the bucket width doubles and neighbours merge.

use crate::category::Category;
use crate::record::{Event, FailureMode, Sample};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Buckets a timeline keeps at most (a chart's points).
pub const DEFAULT_MAX_BUCKETS: usize = 240;
/// The first bucket width: one health sample per bucket.
pub const DEFAULT_BUCKET_MS: u64 = 1000;
/// Markers kept at most; the rest are only counted.
pub const MAX_MARKERS: usize = 200;
/// Resource names starting with this are a probe's answer time in
/// microseconds (`probe_latency_us:<probe>`), not a count.
pub const PROBE_LATENCY: &str = "probe_latency_us";
/// Resource names starting with this are a user metric (`[[metrics]]`) in
/// thousandths (`metric_milli:<name>`): the engine keeps whole numbers.
pub const METRIC: &str = "metric_milli";

/// The run over time. Bucket `i` covers `[i * bucket_ms, (i + 1) * bucket_ms)`
/// from the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Width of one bucket, milliseconds (doubles as the run grows).
    pub bucket_ms: u64,
    /// Buckets kept at most.
    pub max_buckets: usize,
    /// The buckets, from the start of the run, without gaps.
    pub buckets: Vec<Bucket>,
    /// Moments and spans worth marking on the charts.
    pub markers: Vec<Marker>,
    /// Markers not kept because there were more than [`MAX_MARKERS`].
    #[serde(default)]
    pub markers_dropped: u64,
}

/// What happened in one time bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Operations started in it, by category name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ops: BTreeMap<String, u64>,
    /// Of those, operations done (confirmed or unconfirmed), by category name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub done: BTreeMap<String, u64>,
    /// Of those, operations skipped.
    #[serde(default)]
    pub skipped: u64,
    /// Of those, operations that failed.
    #[serde(default)]
    pub failed: u64,
    /// Victims killed.
    #[serde(default)]
    pub kills: u64,
    /// Health samples taken in it.
    #[serde(default)]
    pub samples: u64,
    /// Of those, samples that found the target not whole or with problems.
    #[serde(default)]
    pub unhealthy: u64,
    /// Resource counts of its samples.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, Stat>,
}

/// Minimum, maximum and mean of a resource's samples in a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Lowest sample.
    pub min: u64,
    /// Highest sample.
    pub max: u64,
    /// Mean of the samples.
    pub mean: f64,
    /// How many samples.
    pub n: u64,
}

/// What a marker marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerKind {
    /// A failure mode, from its first to its last sighting.
    FailureMode,
    /// The circuit breaker stopped the chaos.
    Breaker,
    /// The user stopped the run.
    Interrupted,
    /// The target went away.
    TargetLost,
    /// The chaos ended; clean-up and the recovery window follow.
    ChaosEnd,
}

/// A moment (or a span) on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// What it marks.
    pub kind: MarkerKind,
    /// When, from the start of the run.
    pub t_ms: u64,
    /// Until when, for spans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<u64>,
    /// What to show.
    pub label: String,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new(DEFAULT_BUCKET_MS, DEFAULT_MAX_BUCKETS)
    }
}

impl Stat {
    fn of(v: u64) -> Stat {
        Stat {
            min: v,
            max: v,
            mean: v as f64,
            n: 1,
        }
    }

    fn merge(&mut self, o: &Stat) {
        let n = self.n + o.n;
        self.mean = (self.mean * self.n as f64 + o.mean * o.n as f64) / n as f64;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.n = n;
    }
}

impl Bucket {
    fn merge(&mut self, o: Bucket) {
        for (k, v) in o.ops {
            *self.ops.entry(k).or_default() += v;
        }
        for (k, v) in o.done {
            *self.done.entry(k).or_default() += v;
        }
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.kills += o.kills;
        self.samples += o.samples;
        self.unhealthy += o.unhealthy;
        for (k, s) in o.resources {
            self.resources
                .entry(k)
                .and_modify(|m| m.merge(&s))
                .or_insert(s);
        }
    }

    /// Operations in the bucket, all categories.
    pub fn total_ops(&self) -> u64 {
        self.ops.values().sum()
    }
}

impl Timeline {
    /// An empty timeline starting with `bucket_ms`-wide buckets, at most
    /// `max_buckets` of them (at least 2).
    pub fn new(bucket_ms: u64, max_buckets: usize) -> Self {
        Self {
            bucket_ms: bucket_ms.max(1),
            max_buckets: max_buckets.max(2),
            buckets: Vec::new(),
            markers: Vec::new(),
            markers_dropped: 0,
        }
    }

    /// The bucket holding `t_ms`, widening the buckets first when needed.
    fn bucket_at(&mut self, t_ms: u64) -> &mut Bucket {
        while t_ms / self.bucket_ms >= self.max_buckets as u64 {
            self.widen();
        }
        let i = (t_ms / self.bucket_ms) as usize;
        if self.buckets.len() <= i {
            self.buckets.resize_with(i + 1, Bucket::default);
        }
        &mut self.buckets[i]
    }

    /// Double the bucket width, merging neighbours.
    fn widen(&mut self) {
        let old = std::mem::take(&mut self.buckets);
        let mut it = old.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.merge(b);
            }
            self.buckets.push(a);
        }
        self.bucket_ms *= 2;
    }

    /// Count an executed operation.
    pub fn add_event(&mut self, e: &Event) {
        let b = self.bucket_at(e.t_ms);
        *b.ops.entry(e.category.name().to_string()).or_default() += 1;
        match e.outcome {
            crate::operation::Status::Failed => b.failed += 1,
            crate::operation::Status::Skipped => b.skipped += 1,
            _ => *b.done.entry(e.category.name().to_string()).or_default() += 1,
        }
        if e.killed {
            b.kills += 1;
        }
    }

    /// Add a health sample's resource counts.
    pub fn add_sample(&mut self, s: &Sample) {
        let b = self.bucket_at(s.t_ms);
        b.samples += 1;
        if !s.healthy || !s.problems.is_empty() {
            b.unhealthy += 1;
        }
        for (k, v) in &s.resources {
            b.resources
                .entry(k.clone())
                .and_modify(|m| m.merge(&Stat::of(*v)))
                .or_insert_with(|| Stat::of(*v));
        }
    }

    /// Add a marker (counted only, once [`MAX_MARKERS`] are kept).
    pub fn mark(&mut self, kind: MarkerKind, t_ms: u64, end_ms: Option<u64>, label: String) {
        if self.markers.len() >= MAX_MARKERS {
            self.markers_dropped += 1;
            return;
        }
        // Keep the buckets reaching the marker, so charts span it.
        self.bucket_at(end_ms.unwrap_or(t_ms).max(t_ms));
        self.markers.push(Marker {
            kind,
            t_ms,
            end_ms,
            label,
        });
    }

    /// Mark how the chaos phase ended (at `t_ms`): stopped by the breaker,
    /// interrupted, the target lost, or simply over.
    pub fn end_of_chaos(
        &mut self,
        t_ms: u64,
        interrupted: bool,
        breaker: Option<&str>,
        target_lost: Option<&str>,
    ) {
        if let Some(why) = target_lost {
            self.mark(MarkerKind::TargetLost, t_ms, None, why.to_string());
        } else if let Some(why) = breaker {
            self.mark(MarkerKind::Breaker, t_ms, None, why.to_string());
        } else if interrupted {
            self.mark(MarkerKind::Interrupted, t_ms, None, "interrupted".into());
        }
        self.mark(
            MarkerKind::ChaosEnd,
            t_ms,
            None,
            "chaos ends; clean-up".into(),
        );
    }

    /// The timeline of a finished run for its report: with the failure modes
    /// as spans and the target's loss when it came after the chaos.
    pub fn finished(
        &self,
        elapsed: std::time::Duration,
        target_lost: Option<&str>,
        failure_modes: &[FailureMode],
    ) -> Timeline {
        let mut t = self.clone();
        let end = elapsed.as_millis() as u64;
        if let Some(why) = target_lost {
            if !t.markers.iter().any(|m| m.kind == MarkerKind::TargetLost) {
                t.mark(MarkerKind::TargetLost, end, None, why.to_string());
            }
        }
        for f in failure_modes {
            t.mark(
                MarkerKind::FailureMode,
                f.first_seen_ms,
                Some(f.last_seen_ms.max(f.first_seen_ms)),
                format!("{}: {}", f.kind, f.subject),
            );
        }
        // The charts span the whole run, recovery window included.
        if end > 0 {
            t.bucket_at(end - 1);
        }
        t
    }

    /// The time span covered, milliseconds.
    pub fn span_ms(&self) -> u64 {
        self.buckets.len() as u64 * self.bucket_ms
    }

    /// Resource names seen in any bucket, sorted.
    pub fn resource_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .buckets
            .iter()
            .flat_map(|b| b.resources.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Operations per category over the whole timeline.
    pub fn ops_by_category(&self) -> BTreeMap<Category, u64> {
        let mut out = BTreeMap::new();
        for b in &self.buckets {
            for c in Category::ALL {
                if let Some(n) = b.ops.get(c.name()) {
                    *out.entry(c).or_default() += n;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
