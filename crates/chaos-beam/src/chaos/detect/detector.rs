//! The detector: the baseline, and every check of [`super::checks`] run
//! over each steady-state sample.

use super::checks::{self, Seen};
use super::*;

impl Detector {
    /// Detectors over a baseline.
    pub fn new(settings: DetectSettings, baseline: Baseline) -> Self {
        let metric_stats = settings
            .metrics
            .iter()
            .map(super::metrics::MetricStats::of)
            .collect();
        Self {
            metric_stats,
            settings,
            baseline,
            checks: checks::all(),
            started: None,
            injected_rows_seen: 0,
        }
    }

    /// The baseline's named tables (checked every sample).
    pub(super) fn tables(&self) -> Vec<String> {
        self.baseline.tables.clone()
    }

    /// The baseline's table shapes (checked every sample).
    pub(super) fn shapes(&self) -> Vec<TableShape> {
        self.baseline.shapes.shapes.clone()
    }

    /// The baseline's name owners (checked for life every sample).
    pub(super) fn owners(&self) -> Vec<String> {
        self.baseline
            .names
            .values()
            .map(|(pid, _)| pid.clone())
            .collect()
    }

    /// Problems in one steady-state sample: every check in turn.
    pub(super) fn check(&mut self, s: &Steady) -> Vec<Problem> {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        let seen = Seen {
            steady: s,
            baseline: &self.baseline,
            settings: &self.settings,
            now,
            started,
        };
        self.injected_rows_seen += s.shape_breaks.iter().filter(|b| b.injected).count() as u64;
        let mut out = Vec::new();
        for check in &mut self.checks {
            check.check(&seen, &mut out);
        }
        out
    }
}
