//! The comparison as one self-contained page (the run report's look, from
//! `chaos_report::html`): the two runs side by side, what changed, and each
//! figure's trend across every run of the target as an inline SVG.

use crate::compare::{figures_of, fmt_num, Better, Comparison};
use crate::record::RecordedRun;
use crate::utc;
use chaos_report::html::{figure, section, summary_card, table, Cell, Page, Tone};
use maud::{html, Markup};

const W: f64 = 640.0;
const H: f64 = 140.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// The page comparing `b` with its baseline `a`; `runs` are the target's
/// runs, oldest first, for the trends.
pub fn render(c: &Comparison, a: &RecordedRun, b: &RecordedRun, runs: &[RecordedRun]) -> String {
    let regressed: Vec<_> = c
        .figures
        .iter()
        .filter(|f| f.worse_by().is_some_and(|w| w > 1e-9))
        .collect();
    let tone = if !c.new_failure_modes.is_empty() || !regressed.is_empty() {
        Tone::Warn
    } else {
        Tone::Ok
    };
    let verdict = format!(
        "run {} against run {}: {} figure(s) worse, {} new failure mode(s), {} gone",
        c.b,
        c.a,
        regressed.len(),
        c.new_failure_modes.len(),
        c.gone_failure_modes.len()
    );
    let mut page = Page::new(
        format!("chaos-monkey compare {} {}", c.a, c.b),
        format!(
            "{} — {} run(s) of this target in the history",
            b.target.node,
            runs.len()
        ),
    );
    let run_fact = |r: &RecordedRun| {
        (
            utc(r.started_at_ms),
            Some(format!("{}, seed {}: {}", r.kind, r.seed, r.verdict)),
        )
    };
    let (fa, sa) = run_fact(a);
    let (fb, sb) = run_fact(b);
    let mut notes = Vec::new();
    match c.same_operations {
        Some(true) => notes.push("Both ran the same operations in the same order.".to_string()),
        Some(false) if c.seed_a != c.seed_b => notes.push(format!(
            "Different operation sequences (seeds {} and {}).",
            c.seed_a, c.seed_b
        )),
        Some(false) => notes.push(format!(
            "The operation sequences differ from position {}, with the same seed.",
            c.first_difference.unwrap_or(0)
        )),
        None => {}
    }
    page.push(summary_card(
        &verdict,
        tone,
        &[
            (&format!("baseline (run {})", a.id), fa, sa),
            (&format!("run {}", b.id), fb, sb),
        ],
        &notes,
    ));
    let rows: Vec<Vec<Cell>> = c
        .figures
        .iter()
        .map(|f| {
            let worse = f.worse_by();
            vec![
                Cell::Text(f.name.clone()),
                Cell::Num(f.a.map_or("—".into(), |v| format!("{} {}", fmt_num(v), f.unit))),
                Cell::Num(f.b.map_or("—".into(), |v| format!("{} {}", fmt_num(v), f.unit))),
                match worse {
                    Some(w) if w > 1e-9 => Cell::Pill("worse".into(), Tone::Bad),
                    Some(w) if w < -1e-9 => Cell::Pill("better".into(), Tone::Ok),
                    Some(_) => Cell::Text("same".into()),
                    None => Cell::Text("not in both".into()),
                },
            ]
        })
        .collect();
    page.push(section(
        "figures",
        "What changed",
        Some("recovery_p95 is the slowest application's 95th percentile time to recover from a kill; peaks are the highest sample of each resource."),
        table(&["figure", "baseline", "this run", ""], &[1, 2], &rows),
    ));
    let mode_rows: Vec<Vec<Cell>> = c
        .new_failure_modes
        .iter()
        .map(|m| (m, Cell::Pill("new".into(), Tone::Bad)))
        .chain(
            c.gone_failure_modes
                .iter()
                .map(|m| (m, Cell::Pill("gone".into(), Tone::Ok))),
        )
        .map(|(m, pill)| {
            vec![
                pill,
                Cell::Text(m.kind.clone()),
                Cell::Text(m.subject.clone()),
            ]
        })
        .collect();
    page.push(section(
        "failure-modes",
        "Failure modes new and gone",
        (mode_rows.is_empty()).then_some("The same failure modes in both runs."),
        if mode_rows.is_empty() {
            html! {}
        } else {
            table(&["", "kind", "subject"], &[], &mode_rows)
        },
    ));
    let trends: Vec<Markup> = c
        .figures
        .iter()
        .map(|f| {
            let points: Vec<(i64, f64)> = runs
                .iter()
                .filter_map(|r| {
                    figures_of(r)
                        .into_iter()
                        .find(|x| x.0 == f.name)
                        .and_then(|x| x.3)
                        .map(|v| (r.id, v))
                })
                .collect();
            figure(
                &f.name,
                &format!(
                    "{} across {} run(s); {} is better",
                    f.unit,
                    points.len(),
                    match f.better {
                        Better::Lower => "lower",
                        Better::Higher => "higher",
                    }
                ),
                trend(&f.name, &points, &[c.a, c.b]),
            )
        })
        .collect();
    page.push(section(
        "trends",
        "Trends across the target's runs",
        Some("One point per run (x: run id); the two compared runs are circled."),
        html! { @for t in &trends { (t) } },
    ));
    page.footer(format!("chaos-monkey {}", env!("CARGO_PKG_VERSION")));
    page.render()
}

fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// A line through one point per run; `marked` runs circled.
fn trend(label: &str, points: &[(i64, f64)], marked: &[i64]) -> Markup {
    let lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    // Counts, times and shares are never negative: no axis below 0 for them.
    let floor = if points.iter().all(|p| p.1 >= 0.0) {
        0.0
    } else {
        f64::NEG_INFINITY
    };
    let (lo, hi) = if points.is_empty() {
        (0.0, 1.0)
    } else if hi - lo < 1e-9 {
        (
            lo - 1.0_f64.max(lo.abs() * 0.1),
            hi + 1.0_f64.max(hi.abs() * 0.1),
        )
    } else {
        (lo - (hi - lo) * 0.1, hi + (hi - lo) * 0.1)
    };
    let lo = lo.max(floor);
    let n = points.len().max(2) - 1;
    let x = |i: usize| LEFT + (W - LEFT - RIGHT) * (i as f64 / n as f64);
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - (v - lo) / (hi - lo));
    let path: String = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(i),
                y(p.1)
            )
        })
        .collect();
    html! {
        svg class="chart" viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            g class="axes" {
                @for v in [lo, (lo + hi) / 2.0, hi] {
                    line class="grid" x1=(f1(LEFT)) x2=(f1(W - RIGHT)) y1=(f1(y(v))) y2=(f1(y(v))) {}
                    text x=(f1(LEFT - 6.0)) y=(f1(y(v) + 4.0)) text-anchor="end" { (fmt_num(v)) }
                }
                line class="axis" x1=(f1(LEFT)) x2=(f1(W - RIGHT)) y1=(f1(H - BOTTOM)) y2=(f1(H - BOTTOM)) {}
                @for (i, p) in points.iter().enumerate() {
                    @if points.len() <= 12 || i % (points.len() / 12 + 1) == 0 || i + 1 == points.len() {
                        text x=(f1(x(i))) y=(f1(H - BOTTOM + 16.0)) text-anchor="middle" { "#" (p.0) }
                    }
                }
            }
            @if !path.is_empty() {
                path class="series" stroke="#2563eb" d=(path) {}
            }
            @for (i, p) in points.iter().enumerate() {
                @let r = if marked.contains(&p.0) { "4.5" } else { "2.5" };
                circle class="dot" fill=(if marked.contains(&p.0) { "#dc2626" } else { "#2563eb" }) cx=(f1(x(i))) cy=(f1(y(p.1))) r=(r) {
                    title { "run " (p.0) ": " (fmt_num(p.1)) }
                }
            }
        }
    }
}
