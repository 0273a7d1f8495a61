//! System limits (processes, ports, atoms, ETS tables): over the threshold,
//! or climbing steadily towards the limit so that it is reached before the
//! run ends (a least-squares slope over the last samples).

use super::*;
use std::collections::BTreeMap;

/// Keeps the recent counts, for the slope.
#[derive(Default)]
pub(crate) struct Limits {
    history: Vec<(Instant, BTreeMap<&'static str, u64>)>,
}

impl Check for Limits {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        let s = seen.steady;
        let now = seen.now;
        let counts: BTreeMap<&'static str, u64> = [
            ("processes", s.processes),
            ("ports", s.ports),
            ("atoms", s.atoms),
            ("ets_tables", s.ets_tables),
        ]
        .into();
        self.history.push((now, counts));
        let limits = [
            (
                "processes",
                s.processes,
                s.process_limit,
                FailureKind::ProcessExhaustion,
            ),
            ("ports", s.ports, s.port_limit, FailureKind::PortExhaustion),
            ("atoms", s.atoms, s.atom_limit, FailureKind::AtomExhaustion),
            (
                "ets_tables",
                s.ets_tables,
                s.ets_limit,
                FailureKind::EtsExhaustion,
            ),
        ];
        let threshold = seen.settings.limit_threshold;
        for (what, count, limit, kind) in limits {
            if limit == 0 {
                continue;
            }
            let share = count as f64 / limit as f64;
            if share >= threshold {
                out.push(problem(
                    kind,
                    what,
                    format!(
                        "{what}: {count} of {limit} ({:.1}%, threshold {:.0}%)",
                        share * 100.0,
                        threshold * 100.0
                    ),
                    true,
                ));
            } else if let Some(rate) = self.growth(what) {
                let horizon = seen.settings.horizon.as_secs_f64();
                let elapsed = now.duration_since(seen.started).as_secs_f64();
                let left = (horizon - elapsed).max(0.0);
                // A steady climb, at least 10 % of the limit, that reaches it before the run ends.
                if rate > 0.0
                    && count as f64 + rate * left >= limit as f64
                    && rate * elapsed >= 0.1 * limit as f64
                {
                    out.push(problem(
                        kind,
                        what,
                        format!("{what}: {count} of {limit}, growing {rate:.0}/s: reaches the limit within {left:.0} s"),
                        false,
                    ));
                }
            }
        }
    }
}

impl Limits {
    /// Per-second growth of a count over the last samples (least squares), when it grew steadily.
    fn growth(&self, what: &str) -> Option<f64> {
        let first = self.history.first()?.0;
        let mut pts: Vec<(f64, f64)> = self
            .history
            .iter()
            .rev()
            .take(10)
            .filter_map(|(t, c)| {
                c.get(what)
                    .map(|v| (t.duration_since(first).as_secs_f64(), *v as f64))
            })
            .collect();
        if pts.len() < 5 {
            return None;
        }
        // Every step up or flat: a steady climb, not a burst.
        pts.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        if pts.windows(2).any(|w| w[1].1 < w[0].1) {
            return None;
        }
        let n = pts.len() as f64;
        let (sx, sy) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let (mx, my) = (sx / n, sy / n);
        let (num, den) = pts.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
            (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
        });
        (den > 0.0).then(|| num / den)
    }
}
