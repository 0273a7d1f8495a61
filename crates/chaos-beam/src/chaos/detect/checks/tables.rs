//! Named tables of the applications that vanished, and rows that break
//! their table's shape as learnt at the baseline (arity, and the type of
//! each position where every sampled row agreed). A row carrying the
//! monkey's own `ets_modify` marker is the monkey's corruption, not the
//! system's: it is counted for the report (`extras.ets_shapes`), never a
//! problem.

use super::*;
use crate::chaos::detect::ShapeBreak;

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
        // One problem per table, naming every breaking row found (at most
        // 10 a sample): the failure mode's evidence is its last sighting.
        let mut by_table: std::collections::BTreeMap<&str, Vec<&ShapeBreak>> = Default::default();
        for b in seen.steady.shape_breaks.iter().filter(|b| !b.injected) {
            by_table.entry(b.table.as_str()).or_default().push(b);
        }
        for (table, rows) in by_table {
            let sampled = seen
                .baseline
                .shapes
                .shapes
                .iter()
                .find(|s| s.table == table)
                .map_or(0, |s| s.rows);
            let found: Vec<String> = rows
                .iter()
                .map(|b| format!("the row with key {} has the shape {}", b.key, b.found))
                .collect();
            out.push(problem(
                FailureKind::EtsCorruption,
                format!("table {table}"),
                format!(
                    "table {table}: {}, expected {} (every one of the {sampled} rows sampled at the start)",
                    found.join("; "),
                    rows[0].expected
                ),
                false,
            ));
        }
    }
}
