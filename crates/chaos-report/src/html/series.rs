//! A run report's numbers for the page: labels (counts, bytes, seconds),
//! category colours, and the timeline as chart series (operations per
//! category, resources, markers).

use super::chart::{Overlay, Point, Stack};
use chaos_engine::timeline::{Timeline, METRIC, PROBE_LATENCY};
use chaos_engine::Category;

/// Colours of the categories, in [`Category::ALL`] order.
pub fn category_colour(c: Category) -> &'static str {
    match c {
        Category::Process => "#d1495b",
        Category::Memory => "#edae49",
        Category::Network => "#00798c",
        Category::State => "#30638e",
        Category::Timing => "#8e6c8a",
    }
}

/// A number with thousands separators.
pub fn count(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Bytes in KiB / MiB / GiB.
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = v;
    let mut u = 0;
    while v.abs() >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v.abs() >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        let one = format!("{v:.1}");
        format!("{} {}", one.strip_suffix(".0").unwrap_or(&one), UNITS[u])
    }
}

/// Memory is drawn in MiB, so the axis ticks are round in MiB.
const MIB: f64 = 1024.0 * 1024.0;

pub(super) fn mib(v: f64) -> String {
    bytes(v * MIB)
}

pub(super) fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// How a resource is titled and its values written.
pub(super) struct ResourceKind {
    pub(super) title: String,
    pub(super) detail: String,
    pub(super) fmt: fn(f64) -> String,
    /// Ticks at least this far apart (1 for counts).
    pub(super) min_step: f64,
    /// Values are divided by this before drawing (µs → ms).
    pub(super) scale: f64,
    pub(super) order: u8,
}

pub(super) fn resource_kind(name: &str) -> ResourceKind {
    let plain = |title: &str, order| ResourceKind {
        title: title.to_string(),
        detail: String::new(),
        fmt: |v| count(v.round().max(0.0) as u64),
        min_step: 1.0,
        scale: 1.0,
        order,
    };
    match name {
        "processes" => plain("Processes", 0),
        "memory_bytes" => ResourceKind {
            fmt: mib,
            min_step: 0.0,
            scale: MIB,
            ..plain("Memory (total)", 1)
        },
        "binary_bytes" => ResourceKind {
            fmt: mib,
            min_step: 0.0,
            scale: MIB,
            ..plain("Memory (binaries)", 2)
        },
        "ets_tables" => plain("ETS tables", 3),
        "ports" => plain("Ports", 4),
        "atoms" => plain("Atoms", 5),
        n if n.starts_with(PROBE_LATENCY) => ResourceKind {
            title: "Probe latency".into(),
            detail: n
                .strip_prefix(PROBE_LATENCY)
                .unwrap_or("")
                .trim_start_matches(':')
                .to_string(),
            fmt: |v| format!("{v:.1} ms"),
            min_step: 0.0,
            scale: 1000.0,
            order: 6,
        },
        n if n.starts_with(METRIC) => ResourceKind {
            title: format!(
                "Metric {}",
                n.strip_prefix(METRIC).unwrap_or("").trim_start_matches(':')
            ),
            detail: String::new(),
            fmt: |v| {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    count(v.max(0.0) as u64)
                } else {
                    format!("{v:.3}")
                }
            },
            min_step: 0.0,
            scale: 1000.0,
            order: 7,
        },
        other => plain(other, 8),
    }
}

pub(super) fn overlay(t: &Timeline) -> Overlay<'_> {
    Overlay {
        span_ms: t.span_ms(),
        markers: &t.markers,
        kills: t
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| b.kills > 0)
            .map(|(i, b)| (i as u64 * t.bucket_ms + t.bucket_ms / 2, b.kills))
            .collect(),
    }
}

/// The line of points of one resource.
pub fn resource_points(t: &Timeline, name: &str, scale: f64) -> Vec<Point> {
    t.buckets
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            b.resources.get(name).map(|s| Point {
                t_ms: i as u64 * t.bucket_ms,
                width_ms: t.bucket_ms,
                min: s.min as f64 / scale,
                mean: s.mean / scale,
                max: s.max as f64 / scale,
            })
        })
        .collect()
}

/// Operations per second in each bucket: those done (confirmed or
/// unconfirmed) per category, then the skipped and the failed ones apart, so
/// a run whose chaos stopped happening does not draw full bars.
pub fn ops_stacks(t: &Timeline) -> Vec<Stack> {
    let per_s = 1000.0 / t.bucket_ms as f64;
    t.buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            // Reports from before `done` was kept count every operation as done.
            let old = b.done.is_empty() && b.skipped == 0 && b.failed == 0;
            let done = if old { &b.ops } else { &b.done };
            let mut values: Vec<f64> = Category::ALL
                .iter()
                .map(|c| done.get(c.name()).copied().unwrap_or(0) as f64 * per_s)
                .collect();
            values.push(b.skipped as f64 * per_s);
            values.push(b.failed as f64 * per_s);
            Stack {
                t_ms: i as u64 * t.bucket_ms,
                width_ms: t.bucket_ms,
                values,
            }
        })
        .collect()
}

/// The series of [`ops_stacks`] after the categories: what was not done.
pub const NOT_DONE: [(&str, &str); 2] = [("skipped", "#c9c9c9"), ("failed", "#d62728")];
