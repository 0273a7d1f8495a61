//! Counts far above the baseline: processes and ETS tables that stay.

use super::*;

pub(crate) struct Leaks;

impl Check for Leaks {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        let (s, b) = (seen.steady, seen.baseline);
        for (what, now_count, base, kind) in [
            (
                "processes",
                s.processes,
                b.processes,
                FailureKind::ProcessLeak,
            ),
            (
                "ets_tables",
                s.ets_tables,
                b.ets_tables,
                FailureKind::EtsLeak,
            ),
        ] {
            if now_count > base + seen.settings.leak_threshold {
                out.push(problem(
                    kind,
                    what,
                    format!(
                        "{what}: {now_count}, {} more than the {base} at the start",
                        now_count - base
                    ),
                    false,
                ));
            }
        }
    }
}
