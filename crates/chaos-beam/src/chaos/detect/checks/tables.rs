//! Named tables of the applications that vanished, and rows that break
//! their table's shape as learnt at the baseline (arity, and the type of
//! each position where every sampled row agreed). A row carrying the
//! monkey's own `ets_modify` marker is the monkey's corruption, not the
//! system's: it is counted for the report (`extras.ets_shapes`), never a
//! problem.

use super::*;

pub(crate) struct Tables;

impl Check for Tables {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        for t in &seen.steady.vanished_tables {
            out.push(problem(
                FailureKind::EtsCorruption,
                format!("table {t}"),
                format!("the application table {t} vanished"),
                false,
            ));
        }
        for b in seen.steady.shape_breaks.iter().filter(|b| !b.injected) {
            let rows = seen
                .baseline
                .shapes
                .shapes
                .iter()
                .find(|s| s.table == b.table)
                .map_or(0, |s| s.rows);
            out.push(problem(
                FailureKind::EtsCorruption,
                format!("table {}", b.table),
                format!(
                    "table {}: the row with key {} has the shape {}, expected {} (every one of the {rows} rows sampled at the start)",
                    b.table, b.key, b.found, b.expected
                ),
                false,
            ));
        }
    }
}
