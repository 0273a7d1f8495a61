//! The run history: every `run`, `demo` and `scenarios` kept in one
//! embedded SQLite file, so a user can see what changed since the last run
//! and CI can fail on a regression. No Erlang here: a run is recorded from
//! the engine's report model ([`RecordedRun::from_report`]) plus what the
//! command knows (the target's identity, its settings, the operations in
//! schedule order).
//!
//! * [`store`] — the file: schema versions and migrations, WAL, writes that
//!   wait for each other, errors that name the file;
//! * [`record`] — what is kept of a run, bounded whatever its length;
//! * [`compare`] — two runs side by side: figures, failure modes new and gone;
//! * [`gate`] — `--max-regression` bounds and their verdict;
//! * [`html`] — the comparison page with each figure's trend.
//!
//! # Cost
//!
//! Recording is one transaction of a few dozen rows (a 1 h run: its
//! timeline as ~240 numbers per column, and one byte per operation); see
//! BENCHMARKS.md, "History", for the time it adds and the file's size.

pub mod compare;
pub mod gate;
pub mod html;
pub mod record;
pub mod store;

pub use compare::{compare, Comparison, Figure};
pub use gate::{evaluate, parse_bounds, Bound, Check};
pub use record::{OpSequence, RecordedRun, RunEnd, TargetIdentity};
pub use store::{HistoryError, HistoryStore};

use std::path::PathBuf;

/// Where the history lives by default: `$XDG_DATA_HOME/chaos-monkey/history.db`,
/// else `~/.local/share/chaos-monkey/history.db` (`None`: neither is known).
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })?;
    Some(base.join("chaos-monkey").join("history.db"))
}

/// Now, Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2026-12-03 07:10:08Z` from Unix milliseconds.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(super::utc(1_796_281_808_000), "2026-12-03 07:10:08Z");
    }
}
