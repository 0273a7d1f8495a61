//! How results are printed: JSON for machines, aligned text for people.

mod inspect;
mod report;

pub use inspect::inspection_text;
pub use report::report_text;

use chaos_engine::{Category, Event, Report};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// Pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialisable")
    );
}

/// Bytes in KiB/MiB/GiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn pct(count: u64, limit: u64) -> String {
    if limit == 0 {
        return "-".into();
    }
    format!("{:.2}%", count as f64 * 100.0 / limit as f64)
}

/// The progress bar of a run (stderr, terminals only).
pub fn progress_bar(total: u64, duration: Duration) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} ops, {eta} left  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("run of {}", humantime::format_duration(duration)));
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// The bar's message: rate, errors, health.
pub fn bar_message(ops: u64, errors: u64, healthy: bool, elapsed: Duration) -> String {
    let rate = if elapsed.as_secs_f64() > 0.0 {
        ops as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    format!(
        "{rate:.1}/s, {errors} errors, health {}",
        if healthy { "ok" } else { "DEGRADED" }
    )
}

/// One planned operation of a dry run: `[at_ms] CATEGORY op params`.
pub fn planned_line(p: &chaos_engine::PlannedOp) -> String {
    format!(
        "[{:>7}] {:<8} {:<22} {}",
        p.at.as_millis(),
        p.category.name().to_uppercase(),
        p.op,
        p.params
    )
}

/// One operation in the seed's style: `[elapsed_ms] CATEGORY: what was done -> outcome`.
pub fn event_line(e: &Event) -> String {
    let victim = e
        .victim
        .as_ref()
        .map(|v| {
            let who = chaos_beam::elixir::readable(
                v.label
                    .as_deref()
                    .or(v.attr("initial_call"))
                    .unwrap_or_default(),
            );
            let on = v
                .node
                .as_ref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            if v.id.is_empty() {
                on
            } else {
                format!(" {} ({who}){on}", v.id)
            }
        })
        .unwrap_or_default();
    format!(
        "[{}] {}: {}{victim} -> {}: {}",
        e.t_ms,
        e.category.name().to_uppercase(),
        e.op,
        e.outcome.name(),
        e.detail
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_bytes() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(2048), "2.0 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
