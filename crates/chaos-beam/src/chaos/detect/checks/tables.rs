//! Named tables of the applications that vanished.

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
    }
}
