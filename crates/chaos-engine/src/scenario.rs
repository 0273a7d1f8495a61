//! Structured scenarios: one named fault with a stated expectation, run once
//! against a target with a steady-state check before and a recovery wait
//! after, and judged by comparing what was observed with that expectation.
//!
//! A [`Scenario`] implementation does the fault and measures its own
//! figures (detection and recovery time, what it observed) into an
//! [`Observation`]; the target's harness adds what every scenario shares
//! (data loss from probe writes, cascading failures from the steady state
//! before and after) and makes a [`ScenarioResult`]. The results of a run
//! make a [`SuiteReport`] with its [`SuiteSummary`]. Nothing here knows the
//! target.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// One scenario against a target whose context type is `C` and whose
/// settings (thresholds, sizes) are `S` — apart, so what a scenario
/// expects can be said without a target (`scenarios --list`).
pub trait Scenario<C: ?Sized, S: ?Sized = C>: Send + Sync {
    /// Stable name (`process_crash`, ...), used with `--only` and in reports.
    fn name(&self) -> &'static str;
    /// The fault, in one line.
    fn fault(&self) -> &'static str;
    /// What is expected, with the configured thresholds filled in.
    fn expected(&self, settings: &S) -> String;
    /// Do the fault, undo it, and say what was seen.
    fn run<'a>(&'a self, ctx: &'a C) -> BoxFuture<'a, Observation>;
}

/// How the observation compares with the expectation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "reason")]
pub enum Verdict {
    /// What was observed meets the expectation.
    Met,
    /// It does not; the observation says how.
    NotMet,
    /// Not run, for this reason.
    Skipped(String),
}

/// What one scenario measured.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Observed against expected.
    pub verdict: Verdict,
    /// From the fault's injection to the first sighting of its effect.
    pub detection: Option<Duration>,
    /// From the fault's end to the steady state restored.
    pub recovery: Option<Duration>,
    /// What was seen, in one or two sentences with the figures.
    pub observed: String,
    /// Measured values behind the sentence.
    pub measurements: Value,
    /// Parts of the target the fault hit on purpose (not counted as
    /// cascading failures), e.g. the key of a part it killed.
    pub hit: Vec<String>,
    /// The fault kills victims by design, so losing data is expected
    /// unless the configuration says otherwise.
    pub kills: bool,
}

impl Observation {
    /// An observation with `verdict`, saying `observed`.
    pub fn new(verdict: Verdict, observed: impl Into<String>) -> Self {
        Self {
            verdict,
            detection: None,
            recovery: None,
            observed: observed.into(),
            measurements: Value::Null,
            hit: Vec::new(),
            kills: false,
        }
    }

    /// Met when `ok`, else not met.
    pub fn judged(ok: bool, observed: impl Into<String>) -> Self {
        Self::new(if ok { Verdict::Met } else { Verdict::NotMet }, observed)
    }

    /// Not run, for `reason`.
    pub fn skipped(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(Verdict::Skipped(reason.clone()), reason)
    }

    /// With a detection time.
    pub fn detected(mut self, d: Option<Duration>) -> Self {
        self.detection = d;
        self
    }

    /// With a recovery time.
    pub fn recovered(mut self, d: Option<Duration>) -> Self {
        self.recovery = d;
        self
    }

    /// With measurements.
    pub fn with_measurements(mut self, m: Value) -> Self {
        self.measurements = m;
        self
    }

    /// The fault kills processes (data loss is expected unless configured otherwise).
    pub fn killing(mut self) -> Self {
        self.kills = true;
        self
    }

    /// The fault hit these parts on purpose (not cascading failures).
    pub fn hitting(mut self, hit: Vec<String>) -> Self {
        self.hit = hit;
        self
    }
}

/// One scenario's result, as reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Its name.
    pub scenario: String,
    /// The fault.
    pub fault: String,
    /// Observed met the expectation, with no data lost beyond the allowed
    /// and no cascading failure. False for a skipped scenario.
    pub passed: bool,
    /// Why it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// From injection to the first sighting of the effect (null: not seen).
    pub detection_time_ms: Option<f64>,
    /// From the fault's end to the steady state restored (null: not restored in time).
    pub recovery_time_ms: Option<f64>,
    /// Acknowledged probe writes missing or changed after the fault (null: not measured).
    pub data_loss: Option<u64>,
    /// Other parts of the target affected (not the fault's own target).
    pub cascading_failures: Vec<String>,
    /// What was expected.
    pub expected: String,
    /// What was observed.
    pub observed: String,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Wall time of the whole scenario (steady check, fault, recovery wait).
    pub duration_ms: f64,
    /// Measured values.
    pub measurements: Value,
}

/// What the harness measured around a scenario, the same for every one.
#[derive(Debug, Clone, Default)]
pub struct Around {
    /// Acknowledged probe writes lost (`None`: not measured).
    pub data_loss: Option<u64>,
    /// The most that may be lost (`None`: not checked).
    pub data_loss_allowed: Option<u64>,
    /// Other parts of the target affected.
    pub cascading_failures: Vec<String>,
    /// Wall time of the whole scenario.
    pub duration: Duration,
}

impl ScenarioResult {
    /// Judge an observation together with what the harness measured around it.
    pub fn judge(
        scenario: &str,
        fault: &str,
        expected: String,
        obs: Observation,
        around: Around,
    ) -> Self {
        let Around {
            data_loss,
            data_loss_allowed,
            cascading_failures,
            duration,
        } = around;
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        let mut failures = Vec::new();
        let skipped = match &obs.verdict {
            Verdict::Skipped(r) => Some(r.clone()),
            Verdict::NotMet => {
                failures.push(format!("expected {expected}; observed {}", obs.observed));
                None
            }
            Verdict::Met => None,
        };
        if skipped.is_none() {
            if let (Some(lost), Some(allowed)) = (data_loss, data_loss_allowed) {
                if lost > allowed {
                    failures.push(format!(
                        "{lost} acknowledged probe writes lost (at most {allowed} allowed)"
                    ));
                }
            }
            if !cascading_failures.is_empty() {
                failures.push(format!(
                    "cascading failures: {}",
                    cascading_failures.join("; ")
                ));
            }
        }
        Self {
            scenario: scenario.to_string(),
            fault: fault.to_string(),
            passed: skipped.is_none() && failures.is_empty(),
            skipped,
            detection_time_ms: obs.detection.map(ms),
            recovery_time_ms: obs.recovery.map(ms),
            data_loss,
            cascading_failures,
            expected,
            observed: obs.observed,
            failures,
            duration_ms: ms(duration),
            measurements: obs.measurements,
        }
    }
}

/// Counts and averages over a suite.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SuiteSummary {
    /// Scenarios in the report.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Ran and failed.
    pub failed: usize,
    /// Not run.
    pub skipped: usize,
    /// Mean detection time over the scenarios that measured one.
    pub average_detection_ms: Option<f64>,
    /// Mean recovery time over the scenarios that measured one.
    pub average_recovery_ms: Option<f64>,
    /// What the suite as a whole says.
    #[serde(default)]
    pub verdict: SuiteVerdict,
    /// Why it is inconclusive (the skip reasons, counted), when it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inconclusive_because: Vec<String>,
}

/// A suite's verdict. A suite that mostly did not run tells nothing: when
/// more than half its scenarios were skipped and none failed, it is
/// inconclusive, not passed.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SuiteVerdict {
    /// Every scenario that ran passed, and most of them ran.
    #[default]
    Passed,
    /// At least one scenario that ran failed.
    Failed,
    /// None failed, but more than half were skipped.
    Inconclusive,
}

impl SuiteVerdict {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SuiteVerdict::Passed => "passed",
            SuiteVerdict::Failed => "failed",
            SuiteVerdict::Inconclusive => "inconclusive",
        }
    }
}

impl SuiteSummary {
    /// Summarise `results`.
    pub fn of(results: &[ScenarioResult]) -> Self {
        let mean = |xs: Vec<f64>| {
            (!xs.is_empty()).then(|| {
                let m = xs.iter().sum::<f64>() / xs.len() as f64;
                (m * 1e3).round() / 1e3
            })
        };
        let ran = || results.iter().filter(|r| r.skipped.is_none());
        let failed = ran().filter(|r| !r.passed).count();
        let skipped = results.iter().filter(|r| r.skipped.is_some()).count();
        let verdict = if failed > 0 {
            SuiteVerdict::Failed
        } else if skipped * 2 > results.len() {
            SuiteVerdict::Inconclusive
        } else {
            SuiteVerdict::Passed
        };
        let inconclusive_because = if verdict == SuiteVerdict::Inconclusive {
            skip_reasons(results)
        } else {
            Vec::new()
        };
        Self {
            total: results.len(),
            passed: results.iter().filter(|r| r.passed).count(),
            failed,
            skipped,
            average_detection_ms: mean(ran().filter_map(|r| r.detection_time_ms).collect()),
            average_recovery_ms: mean(ran().filter_map(|r| r.recovery_time_ms).collect()),
            verdict,
            inconclusive_because,
        }
    }
}

/// "N skipped: reason (a, b)" per distinct reason, most frequent first.
fn skip_reasons(results: &[ScenarioResult]) -> Vec<String> {
    let mut by_reason: Vec<(String, Vec<&str>)> = Vec::new();
    for r in results {
        if let Some(why) = &r.skipped {
            match by_reason.iter_mut().find(|(w, _)| w == why) {
                Some((_, names)) => names.push(&r.scenario),
                None => by_reason.push((why.clone(), vec![&r.scenario])),
            }
        }
    }
    by_reason.sort_by_key(|(_, names)| std::cmp::Reverse(names.len()));
    by_reason
        .into_iter()
        .map(|(why, names)| format!("{} skipped: {why} ({})", names.len(), names.join(", ")))
        .collect()
}

/// A suite run's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteReport {
    /// Tool and version.
    pub tool: String,
    /// The target.
    pub target: String,
    /// Wall time of the whole suite.
    pub duration_s: f64,
    /// Stopped early by the user (the scenarios not run are skipped).
    pub interrupted: bool,
    /// Counts and averages.
    pub summary: SuiteSummary,
    /// One per scenario, in the order run.
    pub results: Vec<ScenarioResult>,
    /// Target-specific context (the service address used, the settings).
    #[serde(default)]
    pub context: Value,
}

impl SuiteReport {
    /// A report over `results`.
    pub fn new(
        tool: impl Into<String>,
        target: impl Into<String>,
        duration: Duration,
        interrupted: bool,
        results: Vec<ScenarioResult>,
        context: Value,
    ) -> Self {
        Self {
            tool: tool.into(),
            target: target.into(),
            duration_s: (duration.as_secs_f64() * 1e3).round() / 1e3,
            interrupted,
            summary: SuiteSummary::of(&results),
            results,
            context,
        }
    }

    /// Every scenario that ran passed.
    pub fn all_passed(&self) -> bool {
        self.summary.failed == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(obs: Observation, lost: Option<u64>, cascade: Vec<String>) -> ScenarioResult {
        ScenarioResult::judge(
            "s",
            "f",
            "e".into(),
            obs,
            Around {
                data_loss: lost,
                data_loss_allowed: Some(0),
                cascading_failures: cascade,
                duration: Duration::from_millis(5),
            },
        )
    }

    #[test]
    fn met_passes_only_without_loss_or_cascade() {
        let met = || {
            Observation::judged(true, "ok")
                .detected(Some(Duration::from_millis(3)))
                .recovered(Some(Duration::from_millis(7)))
        };
        let r = judge(met(), Some(0), vec![]);
        assert!(r.passed, "{r:?}");
        assert_eq!(r.detection_time_ms, Some(3.0));
        assert!(!judge(met(), Some(2), vec![]).passed);
        assert!(!judge(met(), Some(0), vec!["app x stopped".into()]).passed);
        assert!(!judge(Observation::judged(false, "bad"), Some(0), vec![]).passed);
    }

    #[test]
    fn summary_counts_and_averages_what_ran() {
        let results = vec![
            judge(
                Observation::judged(true, "a")
                    .detected(Some(Duration::from_millis(10)))
                    .recovered(Some(Duration::from_millis(100))),
                None,
                vec![],
            ),
            judge(
                Observation::judged(false, "b").detected(Some(Duration::from_millis(30))),
                None,
                vec![],
            ),
            judge(Observation::skipped("no dir"), None, vec![]),
        ];
        let s = SuiteSummary::of(&results);
        assert_eq!((s.total, s.passed, s.failed, s.skipped), (3, 1, 1, 1));
        assert_eq!(s.average_detection_ms, Some(20.0));
        assert_eq!(s.average_recovery_ms, Some(100.0));
        assert!(results[2].skipped.is_some() && !results[2].passed);
    }

    #[test]
    fn a_suite_that_mostly_skipped_is_inconclusive() {
        let skip = |why: &str| judge(Observation::skipped(why), None, vec![]);
        let pass = || judge(Observation::judged(true, "ok"), Some(0), vec![]);
        let fail = || judge(Observation::judged(false, "bad"), Some(0), vec![]);
        // 1 passed, 2 skipped: more than half skipped.
        let s = SuiteSummary::of(&[pass(), skip("no service"), skip("no service")]);
        assert_eq!(s.verdict, SuiteVerdict::Inconclusive);
        assert_eq!(s.inconclusive_because, vec!["2 skipped: no service (s, s)"]);
        // Exactly half skipped still counts what ran.
        let s = SuiteSummary::of(&[pass(), skip("no --disk-dir")]);
        assert_eq!(s.verdict, SuiteVerdict::Passed);
        assert!(s.inconclusive_because.is_empty());
        // A failure is a finding, however much was skipped.
        let s = SuiteSummary::of(&[fail(), skip("a"), skip("b")]);
        assert_eq!(s.verdict, SuiteVerdict::Failed);
        // Nothing ran at all.
        assert_eq!(
            SuiteSummary::of(&[skip("a")]).verdict,
            SuiteVerdict::Inconclusive
        );
        let reasons = SuiteSummary::of(&[skip("a"), skip("b"), skip("b")]).inconclusive_because;
        assert_eq!(reasons, vec!["2 skipped: b (s, s)", "1 skipped: a (s)"]);
    }
}
