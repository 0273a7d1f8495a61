//! What changed between two runs: the figures a user watches over time,
//! each with the direction that is better, and the failure modes that are
//! new or gone. [`crate::gate`] judges a [`Comparison`] against bounds.

use crate::record::RecordedRun;
use serde::Serialize;
use std::collections::BTreeSet;

/// Which way a figure should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Lower is better (times, counts, peaks).
    Lower,
    /// Higher is better (survival, throughput).
    Higher,
}

/// One figure of two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// Its name, as `--max-regression` spells it: `survival`,
    /// `recovery_p95`, `recovery_p95[my_app]`, `peak[processes]`, ...
    pub name: String,
    /// Unit, for text.
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// In the first (baseline) run; `None`: not measured there.
    pub a: Option<f64>,
    /// In the second run.
    pub b: Option<f64>,
}

impl Figure {
    /// How much worse the second run is, in the figure's unit (negative: better).
    pub fn worse_by(&self) -> Option<f64> {
        let (a, b) = (self.a?, self.b?);
        Some(match self.better {
            Better::Lower => b - a,
            Better::Higher => a - b,
        })
    }

    /// [`Figure::worse_by`] as a share of the first run's value (`None`
    /// when either is missing; infinite when the first was 0 and it got worse).
    pub fn worse_by_share(&self) -> Option<f64> {
        let d = self.worse_by()?;
        let a = self.a?.abs();
        Some(if a > 0.0 {
            d / a
        } else if d > 0.0 {
            f64::INFINITY
        } else {
            0.0
        })
    }

    /// `120 ms → 480 ms (+300 %, worse)`.
    pub fn describe(&self) -> String {
        let v = |x: Option<f64>| match x {
            Some(x) => format!("{} {}", fmt_num(x), self.unit)
                .trim_end()
                .to_string(),
            None => "—".to_string(),
        };
        let change = match (self.a, self.b) {
            (Some(a), Some(b)) if (b - a).abs() < 1e-9 => " (same)".to_string(),
            (Some(a), Some(b)) => {
                let d = b - a;
                let pct = if a.abs() > 0.0 {
                    let p = d / a.abs() * 100.0;
                    if p.abs() < 10.0 {
                        format!(", {p:+.1} %")
                    } else {
                        format!(", {p:+.0} %")
                    }
                } else {
                    String::new()
                };
                let worse = self.worse_by().is_some_and(|w| w > 0.0);
                format!(
                    " ({}{}{pct}, {})",
                    if d > 0.0 { "+" } else { "" },
                    fmt_num(d),
                    if worse { "worse" } else { "better" }
                )
            }
            _ => String::new(),
        };
        format!("{} → {}{change}", v(self.a), v(self.b))
    }
}

/// A number as text: whole numbers without decimals, others with one or two.
pub fn fmt_num(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A failure mode by what it is, not when it was seen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ModeKey {
    /// Kind.
    pub kind: String,
    /// Subject.
    pub subject: String,
}

/// Two runs side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The baseline's id.
    pub a: i64,
    /// The other run's id.
    pub b: i64,
    /// Both were against the same node.
    pub same_target: bool,
    /// The baseline's seed.
    pub seed_a: u64,
    /// The other run's seed.
    pub seed_b: u64,
    /// The figures, in a stable order: overall first, then per application, then resources.
    pub figures: Vec<Figure>,
    /// Failure modes in `b` and not in `a`.
    pub new_failure_modes: Vec<ModeKey>,
    /// Failure modes in `a` and not in `b`.
    pub gone_failure_modes: Vec<ModeKey>,
    /// Both ran the same operations in the same order (`None`: a run kept no sequence).
    pub same_operations: Option<bool>,
    /// Where the sequences first differ.
    pub first_difference: Option<usize>,
}

/// The figures of one run, by name (what a trend plots).
pub fn figures_of(r: &RecordedRun) -> Vec<(String, &'static str, Better, Option<f64>)> {
    let mut v = vec![
        (
            "survival".to_string(),
            "%",
            Better::Higher,
            Some(r.survival_rate * 100.0),
        ),
        (
            "failure_modes".to_string(),
            "",
            Better::Lower,
            Some(r.failure_modes.len() as f64),
        ),
        (
            "skipped".to_string(),
            "%",
            Better::Lower,
            (r.total_ops > 0).then(|| r.skipped_share() * 100.0),
        ),
        (
            "ops_per_sec".to_string(),
            "/s",
            Better::Higher,
            Some(r.ops_per_sec),
        ),
    ];
    // The slowest application's percentile: the overall figure the gate reads.
    let apps: Vec<_> = r
        .recovery_by_application()
        .filter(|x| x.kills > 0)
        .collect();
    let worst = |f: fn(&crate::record::RecoveryFigures) -> u64| {
        apps.iter()
            .map(|x| f(x) as f64)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    v.push((
        "recovery_p50".into(),
        "ms",
        Better::Lower,
        worst(|x| x.p50_ms),
    ));
    v.push((
        "recovery_p95".into(),
        "ms",
        Better::Lower,
        worst(|x| x.p95_ms),
    ));
    for x in &apps {
        v.push((
            format!("recovery_p50[{}]", x.key),
            "ms",
            Better::Lower,
            Some(x.p50_ms as f64),
        ));
        v.push((
            format!("recovery_p95[{}]", x.key),
            "ms",
            Better::Lower,
            Some(x.p95_ms as f64),
        ));
    }
    for (name, t) in &r.resources {
        v.push((
            format!("peak[{name}]"),
            "",
            Better::Lower,
            Some(t.peak as f64),
        ));
    }
    v
}

/// Compare run `b` with its baseline `a`.
pub fn compare(a: &RecordedRun, b: &RecordedRun) -> Comparison {
    let fa = figures_of(a);
    let fb = figures_of(b);
    let mut figures: Vec<Figure> = Vec::new();
    for (name, unit, better, va) in &fa {
        let vb = fb.iter().find(|f| f.0 == *name).and_then(|f| f.3);
        figures.push(Figure {
            name: name.clone(),
            unit,
            better: *better,
            a: *va,
            b: vb,
        });
    }
    for (name, unit, better, vb) in &fb {
        if !figures.iter().any(|f| f.name == *name) {
            figures.push(Figure {
                name: name.clone(),
                unit,
                better: *better,
                a: None,
                b: *vb,
            });
        }
    }
    // Overall figures first, then per application, then resources (stable within each).
    figures.sort_by_key(|f| {
        if f.name.starts_with("peak[") {
            2
        } else if f.name.contains('[') {
            1
        } else {
            0
        }
    });
    let keys = |r: &RecordedRun| -> BTreeSet<ModeKey> {
        r.failure_modes
            .iter()
            .map(|f| ModeKey {
                kind: f.kind.clone(),
                subject: f.subject.clone(),
            })
            .collect()
    };
    let (ka, kb) = (keys(a), keys(b));
    let have_sequences = !a.op_sequence.is_empty() && !b.op_sequence.is_empty();
    let first_difference = if have_sequences {
        a.op_sequence.first_difference(&b.op_sequence)
    } else {
        None
    };
    Comparison {
        a: a.id,
        b: b.id,
        same_target: a.target.node == b.target.node,
        seed_a: a.seed,
        seed_b: b.seed,
        figures,
        new_failure_modes: kb.difference(&ka).cloned().collect(),
        gone_failure_modes: ka.difference(&kb).cloned().collect(),
        same_operations: have_sequences.then_some(first_difference.is_none()),
        first_difference,
    }
}

impl Comparison {
    /// The figure called `name`.
    pub fn figure(&self, name: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.name == name)
    }

    /// As text, one figure per line.
    pub fn to_text(&self) -> String {
        let mut s = format!("run {} → run {}", self.a, self.b);
        if !self.same_target {
            s.push_str(" (different targets)");
        }
        s.push('\n');
        let width = self.figures.iter().map(|f| f.name.len()).max().unwrap_or(0);
        for f in &self.figures {
            s.push_str(&format!("  {:width$}  {}\n", f.name, f.describe()));
        }
        let modes = |title: &str, v: &[ModeKey], s: &mut String| {
            if v.is_empty() {
                s.push_str(&format!("  {title}: none\n"));
            } else {
                s.push_str(&format!("  {title}:\n"));
                for m in v {
                    s.push_str(&format!("    {} {}\n", m.kind, m.subject));
                }
            }
        };
        modes("new failure modes", &self.new_failure_modes, &mut s);
        modes("failure modes gone", &self.gone_failure_modes, &mut s);
        match (self.same_operations, self.first_difference) {
            (Some(true), _) => s.push_str("  operations: the same sequence\n"),
            (Some(false), _) if self.seed_a != self.seed_b => s.push_str(&format!(
                "  operations: different sequences (seeds {} and {})\n",
                self.seed_a, self.seed_b
            )),
            (Some(false), Some(i)) => s.push_str(&format!(
                "  operations: the sequences differ from position {i}, with the same seed\n"
            )),
            _ => {}
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FailureSighting, OpSequence, RecoveryFigures, RunEnd, TargetIdentity};

    fn run(id: i64, p95s: &[(&str, u64)], modes: &[&str], ops: &[&str]) -> RecordedRun {
        RecordedRun {
            id,
            kind: "run".into(),
            started_at_ms: 0,
            target: TargetIdentity {
                node: "n@h".into(),
                ..Default::default()
            },
            seed: 1,
            settings: serde_json::Value::Null,
            end: RunEnd::Finished,
            verdict: String::new(),
            survived: true,
            survival_rate: 1.0,
            planned_duration_s: 1.0,
            duration_s: 1.0,
            ops_per_sec: 10.0,
            total_ops: 10,
            confirmed: 10,
            unconfirmed: 0,
            skipped: 0,
            failed: 0,
            kills: 1,
            outcomes: vec![],
            failure_modes: modes
                .iter()
                .map(|m| FailureSighting {
                    kind: "process_crash".into(),
                    subject: m.to_string(),
                    first_seen_ms: 0,
                    last_seen_ms: 0,
                    recovered: true,
                })
                .collect(),
            recovery: p95s
                .iter()
                .map(|(k, p)| RecoveryFigures {
                    by: if k.starts_with("op:") {
                        "operation"
                    } else {
                        "application"
                    }
                    .into(),
                    key: k.trim_start_matches("op:").into(),
                    kills: 3,
                    recovered: 3,
                    p50_ms: p / 2,
                    p95_ms: *p,
                    max_ms: *p,
                })
                .collect(),
            resources: Default::default(),
            timeline: Default::default(),
            op_sequence: OpSequence::from_events(
                ops.iter()
                    .enumerate()
                    .map(|(i, o)| (i as u64, o.to_string()))
                    .collect(),
            ),
        }
    }

    #[test]
    fn figures_modes_and_sequences() {
        let a = run(
            1,
            &[("app", 10), ("other", 30), ("op:kill_worker", 900)],
            &["x", "y"],
            &["k", "s"],
        );
        let b = run(2, &[("app", 400), ("other", 30)], &["y", "z"], &["k", "s"]);
        let c = compare(&a, &b);
        // The slowest application's p95, never an operation row.
        let p95 = c.figure("recovery_p95").unwrap();
        assert_eq!((p95.a, p95.b), (Some(30.0), Some(400.0)));
        assert_eq!(p95.worse_by(), Some(370.0));
        assert_eq!(c.figure("recovery_p95[app]").unwrap().b, Some(400.0));
        assert!(c.figure("recovery_p95[kill_worker]").is_none());
        assert_eq!(c.new_failure_modes.len(), 1);
        assert_eq!(c.new_failure_modes[0].subject, "z");
        assert_eq!(c.gone_failure_modes[0].subject, "x");
        assert_eq!(c.same_operations, Some(true));
        let text = c.to_text();
        assert!(
            text.contains("30 ms → 400 ms (+370, +1233 %, worse)"),
            "{text}"
        );
        assert!(text.contains("the same sequence"), "{text}");
        let d = compare(&a, &run(3, &[], &[], &["k", "x"]));
        assert_eq!(
            (d.same_operations, d.first_difference),
            (Some(false), Some(1))
        );
        assert_eq!(d.figure("recovery_p95").unwrap().b, None);
    }
}
