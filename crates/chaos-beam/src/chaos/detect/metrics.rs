//! User metrics (`[[metrics]]`): an Erlang expression evaluated on the node
//! with every health sample (once a second), returning a number. Each
//! value goes into the sample's resources as `metric_milli:<name>`
//! (thousandths, so a ratio survives the engine's whole numbers; a negative
//! value is drawn as 0), so the report charts and trends it like the
//! built-in resources; the report's `extras.metrics` has the real values
//! (start, peak, end), how many samples and errors, and how often it was
//! over its `max`. A value over `max` is a `metric_threshold` problem.
//!
//! Every expression is checked once before the run (it must parse, run and
//! return a number: otherwise the run does not start, naming the metric and
//! its place in the config); during the run an expression that raises or
//! returns something else is counted, never fatal. All metrics are
//! evaluated in one snippet per sample, each in its own fun (its variables
//! are its own).

use super::*;
use crate::dist::term::Term;
use serde::Serialize;

/// One user metric.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Its name (letters, digits, `_`).
    pub name: String,
    /// The Erlang expression (a trailing `.` is allowed).
    pub expr: String,
    /// The unit, for the report.
    pub unit: Option<String>,
    /// Over this, the metric is a `metric_threshold` problem.
    pub max: Option<f64>,
    /// Where it is configured (`file:line`), for errors.
    pub location: String,
}

impl Metric {
    /// The expression without a trailing period.
    fn body(&self) -> &str {
        self.expr.trim().trim_end_matches('.').trim_end()
    }

    /// Its key in a sample's resources.
    pub fn resource(&self) -> String {
        format!("{}:{}", chaos_engine::timeline::METRIC, self.name)
    }
}

/// Evaluates the funs it is given: `{ok, Number}`, `{not_a_number, Text}`
/// or `{error, Text}`.
const EVALUATE: &str = "ChaosMetric = fun(ChaosMetricF) -> \
    try ChaosMetricF() of \
        ChaosMetricV when is_number(ChaosMetricV) -> {ok, ChaosMetricV}; \
        ChaosMetricV -> {not_a_number, iolist_to_binary(io_lib:format(\"~0P\", [ChaosMetricV, 8]))} \
    catch ChaosMetricC:ChaosMetricR -> \
        {error, iolist_to_binary(io_lib:format(\"~0p:~0P\", [ChaosMetricC, ChaosMetricR, 8]))} \
    end end,\n";

/// The snippet that evaluates `metrics`, in order. Each expression starts
/// a line of its own, so a parse error's line is the expression's.
pub(crate) fn snippet(metrics: &[Metric]) -> String {
    let calls: Vec<String> = metrics
        .iter()
        .map(|m| format!("ChaosMetric(fun() ->\n{}\nend)", m.body()))
        .collect();
    format!("{EVALUATE}[{}].", calls.join(",\n"))
}

/// One evaluation's result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reading {
    Number(f64),
    NotANumber(String),
    Error(String),
}

/// Read the snippet's answer: one value per metric.
pub(crate) fn values(t: &Term, n: usize) -> Vec<Reading> {
    let mut out: Vec<Reading> = t
        .as_list()
        .unwrap_or_default()
        .iter()
        .map(|v| match v.as_tuple() {
            Some([tag, x]) if tag.as_atom() == Some("ok") => match to_json(x).as_f64() {
                Some(f) => Reading::Number(f),
                None => Reading::NotANumber(crate::dist::term::show(x)),
            },
            Some([tag, x]) if tag.as_atom() == Some("not_a_number") => {
                Reading::NotANumber(x.as_text().unwrap_or_default())
            }
            Some([_, x]) => Reading::Error(x.as_text().unwrap_or_default()),
            _ => Reading::Error(crate::dist::term::show(v)),
        })
        .collect();
    out.resize(n, Reading::Error("no answer".into()));
    out
}

/// Evaluate every metric once, before the run: an expression that does
/// not parse, raises or returns something other than a number is refused
/// (`file:line: metric NAME: why`). Nothing is left on the node.
pub async fn check(target: &BeamTarget, metrics: &[Metric]) -> Result<(), String> {
    for m in metrics {
        let one = std::slice::from_ref(m);
        let why =
            match eval_with_timeout(&target.client, &snippet(one), &[], super::super::OP_TIMEOUT)
                .await
            {
                Ok(t) => match values(&t, 1).remove(0) {
                    Reading::Number(_) => continue,
                    Reading::NotANumber(v) => format!("expr returned {v}, not a number"),
                    Reading::Error(e) => format!("expr raised {e} when evaluated on the node"),
                },
                Err(e) if e.is_disconnect() => return Err(e.to_string()),
                Err(e) => format!("expr is not a valid Erlang expression: {e}"),
            };
        return Err(format!("{}: metric {}: {why}", m.location, m.name));
    }
    Ok(())
}

/// What the run saw of one metric (the report's `extras.metrics`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetricStats {
    /// Its name.
    pub name: String,
    /// Its unit.
    pub unit: Option<String>,
    /// The expression.
    pub expr: String,
    /// Its threshold.
    pub max: Option<f64>,
    /// The first value of the run.
    pub start: Option<f64>,
    /// The highest value.
    pub peak: Option<f64>,
    /// The last value.
    pub end: Option<f64>,
    /// Samples that gave a number.
    pub samples: u64,
    /// Samples where the expression raised, returned something else, or
    /// was not answered.
    pub errors: u64,
    /// The last of those errors.
    pub last_error: Option<String>,
    /// Samples over `max`.
    pub over_max: u64,
}

impl MetricStats {
    pub(crate) fn of(m: &Metric) -> Self {
        Self {
            name: m.name.clone(),
            unit: m.unit.clone(),
            expr: m.expr.clone(),
            max: m.max,
            ..Default::default()
        }
    }

    /// Count one sample's value.
    pub(crate) fn add(&mut self, v: &Reading) {
        match v {
            Reading::Number(x) => {
                self.start.get_or_insert(*x);
                self.peak = Some(self.peak.map_or(*x, |p| p.max(*x)));
                self.end = Some(*x);
                self.samples += 1;
                if self.max.is_some_and(|m| *x > m) {
                    self.over_max += 1;
                }
            }
            Reading::NotANumber(t) => {
                self.errors += 1;
                self.last_error = Some(format!("returned {t}, not a number"));
            }
            Reading::Error(e) => {
                self.errors += 1;
                self.last_error = Some(format!("raised {e}"));
            }
        }
    }
}

/// A sample's metric values as resources (thousandths; negatives as 0).
pub(crate) fn milli(v: f64) -> u64 {
    (v * 1000.0).round().clamp(0.0, u64::MAX as f64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, expr: &str) -> Metric {
        Metric {
            name: name.into(),
            expr: expr.into(),
            unit: None,
            max: Some(10.0),
            location: "m.toml:3".into(),
        }
    }

    #[test]
    fn each_expression_starts_its_own_line_in_its_own_fun() {
        let s = snippet(&[metric("a", "X = 1, X + 1."), metric("b", "2")]);
        assert!(
            s.contains("ChaosMetric(fun() ->\nX = 1, X + 1\nend)"),
            "{s}"
        );
        assert!(s.ends_with("ChaosMetric(fun() ->\n2\nend)]."), "{s}");
    }

    #[test]
    fn stats_keep_start_peak_end_errors_and_samples_over_max() {
        let mut st = MetricStats::of(&metric("a", "1"));
        for v in [
            Reading::Number(3.0),
            Reading::Error("error:badarg".into()),
            Reading::Number(12.5),
            Reading::NotANumber("undefined".into()),
            Reading::Number(4.0),
        ] {
            st.add(&v);
        }
        assert_eq!(
            (st.start, st.peak, st.end),
            (Some(3.0), Some(12.5), Some(4.0))
        );
        assert_eq!((st.samples, st.errors, st.over_max), (3, 2, 1));
        assert_eq!(
            st.last_error.as_deref(),
            Some("returned undefined, not a number")
        );
        assert_eq!(milli(0.25), 250);
        assert_eq!(milli(-3.0), 0);
    }
}
