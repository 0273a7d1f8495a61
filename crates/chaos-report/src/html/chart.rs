//! Inline SVG charts over a run's time axis: a line chart with a min–max
//! band (resources) and a stacked bar chart (operations per category), both
//! with the timeline's markers (failure-mode spans, breaker, end of chaos)
//! and kill ticks drawn on them. Hand-built SVG: small, no JavaScript, and
//! every text goes through maud's escaping.

use chaos_engine::timeline::{Marker, MarkerKind};
use maud::{html, Markup};

/// Margins around the plot, in SVG units (the SVG scales to its container).
const LEFT: f64 = 62.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 30.0;

/// Colour of failure-mode spans and kill ticks.
pub const FAILURE_COLOUR: &str = "#c0392b";
/// Colour of resource lines.
pub const LINE_COLOUR: &str = "#1f5f99";

/// One point of a line chart: a bucket's mean with its min and max.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Bucket start, milliseconds from the start.
    pub t_ms: u64,
    /// Bucket width, milliseconds.
    pub width_ms: u64,
    /// Lowest value in the bucket.
    pub min: f64,
    /// Mean value.
    pub mean: f64,
    /// Highest value.
    pub max: f64,
}

/// A stack of bars at one bucket: values per series, in series order.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// Bucket start, milliseconds.
    pub t_ms: u64,
    /// Bucket width, milliseconds.
    pub width_ms: u64,
    /// One value per series.
    pub values: Vec<f64>,
}

/// What every chart shares: the time span, markers and kill ticks.
#[derive(Debug, Clone, Default)]
pub struct Overlay<'a> {
    /// Length of the time axis, milliseconds.
    pub span_ms: u64,
    /// Markers to draw.
    pub markers: &'a [Marker],
    /// Kills: (time, how many) per bucket.
    pub kills: Vec<(u64, u64)>,
}

/// A chart's size in SVG units; text is 11 units high, so pick a width
/// close to the pixels the chart gets on screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// Maps data to SVG coordinates.
struct Frame {
    width: f64,
    height: f64,
    span_ms: f64,
    lo: f64,
    hi: f64,
}

impl Frame {
    fn x(&self, t_ms: f64) -> f64 {
        LEFT + (self.width - LEFT - RIGHT) * (t_ms / self.span_ms).clamp(0.0, 1.0)
    }
    fn y(&self, v: f64) -> f64 {
        let h = self.height - TOP - BOTTOM;
        TOP + h * (1.0 - ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0))
    }
    fn bottom(&self) -> f64 {
        self.height - BOTTOM
    }
}

/// A step from the 1-2-5 series (times a power of ten) giving about `n` ticks.
fn nice_step(range: f64, n: f64) -> f64 {
    let raw = (range / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// A y range with room around `lo..=hi` and round ticks, at least
/// `min_step` apart (1 for counts): (lo, hi, ticks).
pub fn y_ticks(lo: f64, hi: f64, min_step: f64) -> (f64, f64, Vec<f64>) {
    let (mut lo, mut hi) = (lo.min(hi), lo.max(hi));
    if hi - lo < f64::EPSILON.max(hi.abs() * 1e-9) {
        // A flat line sits in the middle of the chart.
        let pad = (hi.abs() * 0.05).max(1.0);
        lo -= pad;
        hi += pad;
    }
    let step = nice_step(hi - lo, 5.0).max(min_step);
    let lo = (lo / step).floor() * step;
    let hi = (hi / step).ceil() * step;
    let ticks = (0..)
        .map(|i| lo + step * i as f64)
        .take_while(|v| *v <= hi + step * 1e-6)
        .collect();
    (lo, hi, ticks)
}

/// Time ticks at round seconds or minutes across `span_ms`.
pub fn t_ticks(span_ms: u64) -> Vec<u64> {
    const STEPS_S: [u64; 16] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200,
    ];
    let span_s = span_ms as f64 / 1000.0;
    let step = STEPS_S
        .iter()
        .copied()
        .find(|s| span_s / *s as f64 <= 8.0)
        .unwrap_or(86400);
    (0..)
        .map(|i| i * step * 1000)
        .take_while(|t| *t <= span_ms)
        .collect()
}

/// `m:ss` (or `h:mm:ss`) for a time axis.
pub fn clock(t_ms: u64) -> String {
    let s = t_ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// Axes, grid, tick labels.
fn axes(fr: &Frame, ticks: &[f64], fmt: &dyn Fn(f64) -> String) -> Markup {
    html! {
        g class="axes" {
            @for v in ticks {
                line class="grid" x1=(f1(LEFT)) x2=(f1(fr.width - RIGHT)) y1=(f1(fr.y(*v))) y2=(f1(fr.y(*v))) {}
                text x=(f1(LEFT - 6.0)) y=(f1(fr.y(*v) + 4.0)) text-anchor="end" { (fmt(*v)) }
            }
            @for t in t_ticks(fr.span_ms as u64) {
                line class="tick" x1=(f1(fr.x(t as f64))) x2=(f1(fr.x(t as f64))) y1=(f1(fr.bottom())) y2=(f1(fr.bottom() + 4.0)) {}
                // The last label ends at the edge rather than running past it.
                @let anchor = if fr.x(t as f64) > fr.width - RIGHT - 24.0 { "end" } else { "middle" };
                text x=(f1(fr.x(t as f64))) y=(f1(fr.bottom() + 16.0)) text-anchor=(anchor) { (clock(t)) }
            }
            line class="axis" x1=(f1(LEFT)) x2=(f1(fr.width - RIGHT)) y1=(f1(fr.bottom())) y2=(f1(fr.bottom())) {}
        }
    }
}

/// Failure-mode spans behind the data.
fn spans(fr: &Frame, markers: &[Marker]) -> Markup {
    html! {
        @for m in markers.iter().filter(|m| m.kind == MarkerKind::FailureMode) {
            @let (x0, x1) = (fr.x(m.t_ms as f64), fr.x(m.end_ms.unwrap_or(m.t_ms) as f64));
            rect class="span-failure" x=(f1(x0)) y=(f1(TOP)) width=(f1((x1 - x0).max(2.0))) height=(f1(fr.bottom() - TOP)) {
                title { (m.label) " (" (clock(m.t_ms)) "–" (clock(m.end_ms.unwrap_or(m.t_ms))) ")" }
            }
        }
    }
}

/// The CSS class of a moment marker's line.
pub fn marker_class(kind: MarkerKind) -> &'static str {
    match kind {
        MarkerKind::FailureMode => "m-failure",
        MarkerKind::Breaker => "m-breaker",
        MarkerKind::Interrupted => "m-interrupted",
        MarkerKind::TargetLost => "m-lost",
        MarkerKind::ChaosEnd => "m-end",
    }
}

/// Moment markers and kill ticks over the data.
fn moments(fr: &Frame, o: &Overlay<'_>) -> Markup {
    html! {
        @for m in o.markers.iter().filter(|m| m.kind != MarkerKind::FailureMode) {
            @let x = f1(fr.x(m.t_ms as f64));
            line class=(marker_class(m.kind)) x1=(x) x2=(x) y1=(f1(TOP)) y2=(f1(fr.bottom())) {
                title { (m.label) " at " (clock(m.t_ms)) }
            }
        }
        @for (t, n) in &o.kills {
            @let x = f1(fr.x(*t as f64));
            line class="kill" x1=(x) x2=(x) y1=(f1(fr.bottom() - 7.0)) y2=(f1(fr.bottom())) {
                title { (n) " kill(s) at " (clock(*t)) }
            }
        }
    }
}

/// A line chart of `points` (mean line, min–max band); y ticks at least
/// `min_step` apart and written with `fmt`.
pub fn line_chart(
    label: &str,
    points: &[Point],
    fmt: &dyn Fn(f64) -> String,
    min_step: f64,
    overlay: &Overlay<'_>,
    size: Size,
) -> Markup {
    let lo = points.iter().map(|p| p.min).fold(f64::INFINITY, f64::min);
    let hi = points
        .iter()
        .map(|p| p.max)
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi, ticks) = if points.is_empty() {
        y_ticks(0.0, 1.0, min_step)
    } else {
        y_ticks(lo, hi, min_step)
    };
    let fr = Frame {
        width: size.width,
        height: size.height,
        span_ms: overlay.span_ms.max(1) as f64,
        lo,
        hi,
    };
    let mid = |p: &Point| fr.x(p.t_ms as f64 + p.width_ms as f64 / 2.0);
    // Runs of consecutive buckets: a gap (no sample) breaks the line.
    let mut runs: Vec<Vec<&Point>> = Vec::new();
    for p in points {
        match runs.last_mut() {
            Some(r) if r.last().is_some_and(|q| q.t_ms + q.width_ms == p.t_ms) => r.push(p),
            _ => runs.push(vec![p]),
        }
    }
    let mut line = String::new();
    let mut band = String::new();
    for r in &runs {
        for (i, p) in r.iter().enumerate() {
            line.push_str(&format!(
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                mid(p),
                fr.y(p.mean)
            ));
        }
        if r.iter().any(|p| p.max > p.min) {
            for (i, p) in r.iter().enumerate() {
                band.push_str(&format!(
                    "{}{:.1},{:.1} ",
                    if i == 0 { "M" } else { "L" },
                    mid(p),
                    fr.y(p.max)
                ));
            }
            for p in r.iter().rev() {
                band.push_str(&format!("L{:.1},{:.1} ", mid(p), fr.y(p.min)));
            }
            band.push('Z');
        }
    }
    html! {
        svg class="chart" viewBox={ "0 0 " (size.width) " " (size.height) } role="img" aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            (spans(&fr, overlay.markers))
            (axes(&fr, &ticks, fmt))
            @if !band.is_empty() {
                path class="band" d=(band.trim_end()) {}
            }
            @if !line.is_empty() {
                path class="series" stroke=(LINE_COLOUR) d=(line.trim_end()) {}
            }
            @for r in runs.iter().filter(|r| r.len() == 1) {
                circle class="dot" fill=(LINE_COLOUR) cx=(f1(mid(r[0]))) cy=(f1(fr.y(r[0].mean))) r="2.5" {}
            }
            (moments(&fr, overlay))
        }
    }
}

/// A stacked bar chart: one bar per bucket, one colour per series.
pub fn stacked_bars(
    label: &str,
    series: &[(&str, &str)],
    stacks: &[Stack],
    fmt: &dyn Fn(f64) -> String,
    overlay: &Overlay<'_>,
    size: Size,
) -> Markup {
    let top = stacks
        .iter()
        .map(|s| s.values.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let (lo, hi, ticks) = y_ticks(0.0, top.max(1.0), 0.0);
    let fr = Frame {
        width: size.width,
        height: size.height,
        span_ms: overlay.span_ms.max(1) as f64,
        lo,
        hi,
    };
    let mut bars = Vec::new();
    for s in stacks {
        let x0 = fr.x(s.t_ms as f64);
        let w = (fr.x((s.t_ms + s.width_ms) as f64) - x0 - 0.6).max(0.6);
        let mut base = 0.0;
        for (v, (name, colour)) in s.values.iter().zip(series) {
            if *v > 0.0 {
                let (y0, y1) = (fr.y(base), fr.y(base + v));
                let tip = format!("{name}: {} at {}", fmt(*v), clock(s.t_ms));
                bars.push((x0, y1, w, y0 - y1, *colour, tip));
                base += v;
            }
        }
    }
    html! {
        svg class="chart" viewBox={ "0 0 " (size.width) " " (size.height) } role="img" aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            (spans(&fr, overlay.markers))
            (axes(&fr, &ticks, fmt))
            @for (x, y, w, h, colour, tip) in &bars {
                rect class="bar" x=(f1(*x)) y=(f1(*y)) width=(f1(*w)) height=(f1(*h)) fill=(colour) {
                    title { (tip) }
                }
            }
            (moments(&fr, overlay))
        }
    }
}

/// A legend: coloured swatches with names.
pub fn legend(items: &[(&str, &str)]) -> Markup {
    html! {
        ul class="legend" {
            @for (name, colour) in items {
                li { span class="swatch" style={ "background:" (colour) } {} (name) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y_ticks_are_round_and_cover_the_data() {
        let (lo, hi, t) = y_ticks(103.0, 987.0, 1.0);
        assert!(lo <= 103.0 && hi >= 987.0);
        assert_eq!(t, vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        // A flat series still gets a range.
        let (lo, hi, t) = y_ticks(50.0, 50.0, 1.0);
        assert!(lo < 50.0 && hi > 50.0 && t.len() >= 2);
        // Counts never get half ticks; other values may.
        assert_eq!(y_ticks(7.0, 9.0, 1.0).2, vec![7.0, 8.0, 9.0]);
        assert_eq!(y_ticks(7.0, 9.0, 0.0).2.len(), 5);
    }

    #[test]
    fn time_ticks_are_round_and_few() {
        assert_eq!(
            t_ticks(12_000),
            vec![0, 2000, 4000, 6000, 8000, 10000, 12000]
        );
        let hour = t_ticks(3_600_000);
        assert!(hour.len() <= 9, "{hour:?}");
        assert_eq!(hour[1], 600_000);
        assert_eq!(clock(754_000), "12:34");
        assert_eq!(clock(3_723_000), "1:02:03");
    }

    fn overlay(markers: &[Marker]) -> Overlay<'_> {
        Overlay {
            span_ms: 10_000,
            markers,
            kills: vec![(2000, 3)],
        }
    }

    #[test]
    fn a_line_chart_draws_its_line_band_markers_and_kills() {
        let pts: Vec<Point> = (0..10)
            .map(|i| Point {
                t_ms: i * 1000,
                width_ms: 1000,
                min: i as f64,
                mean: i as f64 + 0.5,
                max: i as f64 + 1.0,
            })
            .collect();
        let markers = [
            Marker {
                kind: MarkerKind::FailureMode,
                t_ms: 3000,
                end_ms: Some(5000),
                label: "process_crash: <worker> & co".into(),
            },
            Marker {
                kind: MarkerKind::ChaosEnd,
                t_ms: 8000,
                end_ms: None,
                label: "end".into(),
            },
        ];
        let svg = line_chart(
            "processes",
            &pts,
            &|v| format!("{v}"),
            0.0,
            &overlay(&markers),
            Size {
                width: 720.0,
                height: 180.0,
            },
        )
        .into_string();
        let line = svg.split("class=\"series\"").nth(1).unwrap();
        assert_eq!(line.matches('L').count(), 9, "{line}");
        assert!(svg.contains("class=\"band\""));
        assert!(svg.contains("class=\"span-failure\""));
        assert!(svg.contains("class=\"m-end\""));
        assert!(svg.contains("3 kill(s) at 0:02"));
        // Text from the target is escaped.
        assert!(svg.contains("process_crash: &lt;worker&gt; &amp; co"));
        assert!(!svg.contains("<worker>"));
    }

    #[test]
    fn a_gap_in_the_samples_breaks_the_line() {
        let p = |t: u64| Point {
            t_ms: t,
            width_ms: 1000,
            min: 1.0,
            mean: 1.0,
            max: 1.0,
        };
        let svg = line_chart(
            "x",
            &[p(0), p(1000), p(5000)],
            &|v| format!("{v}"),
            0.0,
            &overlay(&[]),
            Size {
                width: 720.0,
                height: 100.0,
            },
        )
        .into_string();
        let d = svg.split("class=\"series\"").nth(1).unwrap();
        assert_eq!(d.matches('M').count(), 2);
        // A lone point is drawn as a dot; flat data has no band.
        assert!(svg.contains("<circle"));
        assert!(!svg.contains("class=\"band\""));
    }

    #[test]
    fn stacked_bars_stack_in_series_order() {
        let stacks = [Stack {
            t_ms: 0,
            width_ms: 1000,
            values: vec![2.0, 0.0, 3.0],
        }];
        let series = [("a", "#111111"), ("b", "#222222"), ("c", "#333333")];
        let svg = stacked_bars(
            "ops",
            &series,
            &stacks,
            &|v| format!("{v}"),
            &overlay(&[]),
            Size {
                width: 720.0,
                height: 150.0,
            },
        )
        .into_string();
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        let a = svg.find("#111111").unwrap();
        let c = svg.find("#333333").unwrap();
        assert!(a < c);
        assert!(!svg.contains("#222222"));
    }
}
