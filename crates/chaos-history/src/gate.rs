//! The CI gate: `--max-regression recovery_p95=20%,survival=0` says how much
//! worse than its baseline each named figure may get. `N%` is a share of the
//! baseline's value; a bare `N` is in the figure's own unit (milliseconds,
//! percentage points of survival, operations per second, a count). A figure
//! not measured in both runs cannot regress and is reported as not checked.

use crate::compare::{fmt_num, Comparison};
use serde::Serialize;

/// How much worse a figure may get.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// A share of the baseline's value (0.2 for `20%`).
    Share(f64),
    /// In the figure's unit.
    Absolute(f64),
}

/// One figure and its limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bound {
    /// The figure's name (see [`crate::compare::Figure::name`]).
    pub figure: String,
    /// Its limit.
    pub limit: Limit,
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.limit {
            Limit::Share(s) => write!(f, "{}={}%", self.figure, fmt_num(s * 100.0)),
            Limit::Absolute(a) => write!(f, "{}={}", self.figure, fmt_num(a)),
        }
    }
}

/// The figures a bound may name without an application or resource.
pub const GATED_FIGURES: &[&str] = &[
    "survival",
    "failure_modes",
    "skipped",
    "ops_per_sec",
    "recovery_p50",
    "recovery_p95",
];

/// Parse `recovery_p95=20%,survival=0`.
pub fn parse_bounds(s: &str) -> Result<Vec<Bound>, String> {
    let mut out: Vec<Bound> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').ok_or_else(|| {
            format!("'{part}': write FIGURE=LIMIT, like recovery_p95=20% or survival=0")
        })?;
        let name = name.trim();
        let base = name.split('[').next().unwrap_or(name);
        let known = GATED_FIGURES.contains(&name)
            || (name.ends_with(']')
                && name.len() > base.len() + 2
                && ["recovery_p50", "recovery_p95", "peak"].contains(&base));
        if !known {
            return Err(format!(
                "'{name}' is not a figure the gate knows: {}, recovery_p50[APP], recovery_p95[APP], peak[RESOURCE]",
                GATED_FIGURES.join(", ")
            ));
        }
        let value = value.trim();
        let (number, share) = match value.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (value, false),
        };
        let v: f64 = number
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                format!("'{part}': the limit must be a number ≥ 0, optionally with %")
            })?;
        if out.iter().any(|b| b.figure == name) {
            return Err(format!("'{name}' is bounded twice"));
        }
        out.push(Bound {
            figure: name.to_string(),
            limit: if share {
                Limit::Share(v / 100.0)
            } else {
                Limit::Absolute(v)
            },
        });
    }
    if out.is_empty() {
        return Err("no bound given; write for example recovery_p95=20%,survival=0".into());
    }
    Ok(out)
}

/// What the gate found for one bound.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// The bound.
    pub bound: String,
    /// The figure's name.
    pub figure: String,
    /// Baseline value.
    pub baseline: Option<f64>,
    /// This run's value.
    pub value: Option<f64>,
    /// `false`: not measured in both runs, nothing to judge.
    pub checked: bool,
    /// Within its bound (or not checked).
    pub passed: bool,
    /// One line for people.
    pub message: String,
}

/// Judge `c` (baseline `a`, this run `b`) against `bounds`.
pub fn evaluate(c: &Comparison, bounds: &[Bound]) -> Vec<Check> {
    bounds
        .iter()
        .map(|b| {
            let f = c.figure(&b.figure);
            let (baseline, value) = (f.and_then(|f| f.a), f.and_then(|f| f.b));
            let Some(f) = f.filter(|f| f.a.is_some() && f.b.is_some()) else {
                return Check {
                    bound: b.to_string(),
                    figure: b.figure.clone(),
                    baseline,
                    value,
                    checked: false,
                    passed: true,
                    message: format!(
                        "{}: not measured in both runs (baseline {}, this run {}); not checked",
                        b.figure,
                        baseline.map_or("—".into(), fmt_num),
                        value.map_or("—".into(), fmt_num)
                    ),
                };
            };
            let worse = f.worse_by().unwrap_or(0.0);
            let allowed = match b.limit {
                Limit::Share(s) => s * f.a.unwrap_or(0.0).abs(),
                Limit::Absolute(a) => a,
            };
            let passed = worse <= allowed + 1e-9;
            Check {
                bound: b.to_string(),
                figure: b.figure.clone(),
                baseline,
                value,
                checked: true,
                passed,
                message: format!(
                    "{}: {}; {} (bound {b})",
                    b.figure,
                    f.describe(),
                    if passed {
                        "within its bound".to_string()
                    } else {
                        let with_unit =
                            |v: f64| format!("{} {}", fmt_num(v), f.unit).trim_end().to_string();
                        format!(
                            "regressed by {}, more than the {} allowed",
                            with_unit(worse),
                            with_unit(allowed)
                        )
                    }
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Better, Figure};

    fn comparison(figures: Vec<Figure>) -> Comparison {
        Comparison {
            a: 1,
            b: 2,
            same_target: true,
            seed_a: 1,
            seed_b: 1,
            figures,
            new_failure_modes: vec![],
            gone_failure_modes: vec![],
            same_operations: None,
            first_difference: None,
        }
    }

    fn fig(name: &str, better: Better, a: Option<f64>, b: Option<f64>) -> Figure {
        Figure {
            name: name.into(),
            unit: "ms",
            better,
            a,
            b,
        }
    }

    #[test]
    fn bounds_parse_and_bad_ones_say_why() {
        let b = parse_bounds("recovery_p95=20%, survival=0,peak[processes]=500").unwrap();
        assert_eq!(b[0].limit, Limit::Share(0.2));
        assert_eq!(b[1].limit, Limit::Absolute(0.0));
        assert_eq!(b[2].figure, "peak[processes]");
        assert_eq!(b[0].to_string(), "recovery_p95=20%");
        assert!(parse_bounds("speed=1")
            .unwrap_err()
            .contains("not a figure"));
        assert!(parse_bounds("survival")
            .unwrap_err()
            .contains("FIGURE=LIMIT"));
        assert!(parse_bounds("survival=-1").unwrap_err().contains("≥ 0"));
        assert!(parse_bounds("survival=x%").is_err());
        assert!(parse_bounds("survival=1,survival=2")
            .unwrap_err()
            .contains("twice"));
        assert!(parse_bounds("peak[]=1").is_err());
        assert!(parse_bounds("").is_err());
    }

    #[test]
    fn a_figure_past_its_bound_fails_and_one_within_passes() {
        let c = comparison(vec![
            fig("recovery_p95", Better::Lower, Some(100.0), Some(130.0)),
            fig("survival", Better::Higher, Some(100.0), Some(100.0)),
            fig("ops_per_sec", Better::Higher, Some(10.0), Some(9.0)),
        ]);
        let checks = evaluate(
            &c,
            &parse_bounds("recovery_p95=20%,survival=0,ops_per_sec=15%").unwrap(),
        );
        assert!(!checks[0].passed && checks[0].checked, "{:?}", checks[0]);
        assert!(
            checks[0].message.contains("more than the 20 ms allowed"),
            "{}",
            checks[0].message
        );
        assert!(checks[1].passed);
        assert!(checks[2].passed, "10 % slower is within 15 %");
        let checks = evaluate(
            &c,
            &parse_bounds("recovery_p95=30%,ops_per_sec=5%").unwrap(),
        );
        assert!(checks[0].passed, "30 ms worse is exactly 30 %");
        assert!(!checks[1].passed);
    }

    #[test]
    fn better_is_never_a_regression_and_missing_is_not_checked() {
        let c = comparison(vec![
            fig("recovery_p95", Better::Lower, Some(100.0), Some(10.0)),
            fig("recovery_p50", Better::Lower, None, Some(10.0)),
        ]);
        let checks = evaluate(
            &c,
            &parse_bounds("recovery_p95=0,recovery_p50=0,survival=0").unwrap(),
        );
        assert!(checks[0].passed && checks[0].checked);
        assert!(checks[1].passed && !checks[1].checked);
        assert!(checks[2].passed && !checks[2].checked);
        assert!(checks[2].message.contains("not measured"));
    }
}
