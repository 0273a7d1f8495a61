//! Counts far above the baseline: processes and ETS tables that stay (the
//! monkey's own helpers and their tables not counted).

use super::*;

pub(crate) struct Leaks;

impl Check for Leaks {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        let (s, b) = (seen.steady, seen.baseline);
        for (what, count, own, base, kind) in [
            (
                "processes",
                s.processes,
                s.own_processes,
                b.processes,
                FailureKind::ProcessLeak,
            ),
            (
                "ets_tables",
                s.ets_tables,
                s.own_tables,
                b.ets_tables,
                FailureKind::EtsLeak,
            ),
        ] {
            // The monkey's own helpers and their tables are the chaos, not
            // the system's growth.
            let system = count.saturating_sub(own);
            if system > base + seen.settings.leak_threshold {
                let not_counted = if own > 0 {
                    format!(" (not counting the monkey's own {own})")
                } else {
                    String::new()
                };
                out.push(problem(
                    kind,
                    what,
                    format!(
                        "{what}: {system}{not_counted}, {} more than the {base} at the start",
                        system - base
                    ),
                    false,
                ));
            }
        }
    }
}
