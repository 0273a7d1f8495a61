//! JUnit XML of a run, so any CI system shows the verdict: one test case
//! per failure-mode kind the detectors know (failed when that kind was
//! found, with its evidence), one for "nothing left behind" and one for
//! survival (failed too when the run was inconclusive). Written with `quick-junit`.

use chaos_engine::Report;
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// The class name of the test cases of a run.
pub const RUN_CLASS: &str = "chaos-monkey.run";

/// A failed test case with `message` and a longer `description`.
fn failed(name: &str, message: String, description: String) -> TestCase {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status
        .set_message(message)
        .set_type("chaos")
        .set_description(description);
    let mut case = TestCase::new(name, status);
    case.set_classname(RUN_CLASS);
    case
}

fn passed(name: &str) -> TestCase {
    let mut case = TestCase::new(name, TestCaseStatus::success());
    case.set_classname(RUN_CLASS);
    case
}

/// Evidence in one line: its `detail` (or `reason`) when it has one, else the JSON.
fn evidence_line(evidence: &serde_json::Value) -> String {
    ["detail", "reason"]
        .iter()
        .find_map(|k| evidence.get(*k).and_then(|v| v.as_str()))
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| evidence.to_string())
}

/// The report's `extras` key under which a target lists the failure kinds
/// its detectors could not look for (kind → why); JUnit marks them skipped.
pub const DETECTORS_NOT_RUN: &str = "detectors_not_run";

/// The test suite of a run: `kinds` are the failure-mode kinds the
/// detectors know (kinds found but not listed get a case too).
pub fn run_suite(r: &Report, kinds: &[&str]) -> TestSuite {
    let mut suite = TestSuite::new(format!("chaos-monkey run {}", r.target));
    suite.set_time(Duration::from_secs_f64(r.duration_s.max(0.0)));
    suite.add_properties([
        Property::new("seed", r.seed.to_string()),
        Property::new("profile", r.profile.to_string()),
        Property::new("operations", r.total_ops.to_string()),
        Property::new("verdict", r.verdict.clone()),
    ]);
    let mut all: Vec<&str> = kinds.to_vec();
    for f in &r.failure_modes {
        if !all.contains(&f.kind.as_str()) {
            all.push(&f.kind);
        }
    }
    let not_run = r.extras.get(DETECTORS_NOT_RUN);
    for kind in all {
        let found: Vec<_> = r.failure_modes.iter().filter(|f| f.kind == kind).collect();
        let name = format!("no {kind}");
        // A detector that could not run found nothing because it did not look.
        if let (true, Some(why)) = (
            found.is_empty(),
            not_run.and_then(|m| m.get(kind)).and_then(|v| v.as_str()),
        ) {
            let mut status = TestCaseStatus::skipped();
            status.set_message(format!("not looked for: {why}"));
            let mut case = TestCase::new(name, status);
            case.set_classname(RUN_CLASS);
            suite.add_test_case(case);
            continue;
        }
        if found.is_empty() {
            suite.add_test_case(passed(&name));
            continue;
        }
        let message = found
            .iter()
            .map(|f| format!("{}: {}", f.subject, evidence_line(&f.evidence)))
            .collect::<Vec<_>>()
            .join("; ");
        let description = found
            .iter()
            .map(|f| {
                format!(
                    "{} (first seen {:.1} s, last seen {:.1} s, {}):\n{}",
                    f.subject,
                    f.first_seen_ms as f64 / 1000.0,
                    f.last_seen_ms as f64 / 1000.0,
                    if f.recovered {
                        "recovered"
                    } else {
                        "still there at the end"
                    },
                    serde_json::to_string_pretty(&f.evidence).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        suite.add_test_case(failed(&name, message, description));
    }
    let l = &r.left_behind;
    suite.add_test_case(if l.is_clean() {
        passed("nothing left behind")
    } else {
        let mut what: Vec<String> = l
            .undo_failures
            .iter()
            .map(|u| format!("could not undo: {u}"))
            .chain(l.audit.iter().map(|a| format!("audit: {a}")))
            .collect();
        if l.pending_effects > 0 {
            what.push(format!("{} effect(s) still in place", l.pending_effects));
        }
        if l.pending_ops > 0 {
            what.push(format!("{} operation(s) still running", l.pending_ops));
        }
        failed(
            "nothing left behind",
            format!("{} thing(s) left behind", what.len()),
            what.join("\n"),
        )
    });
    // An inconclusive run is not a pass: the chaos mostly did not happen.
    suite.add_test_case(
        if r.survived && r.target_lost.is_none() && !r.inconclusive.is_empty() {
            failed("survived", r.verdict.clone(), r.inconclusive.join("\n"))
        } else if r.survived && r.target_lost.is_none() {
            passed("survived")
        } else {
            failed(
                "survived",
                r.verdict.clone(),
                format!(
                    "survival rate {:.1} % ({})",
                    r.survival_rate * 100.0,
                    r.survival_definition
                ),
            )
        },
    );
    suite
}

/// A JUnit XML document of `suites`, in the shape the Jenkins xUnit schema
/// (`junit-10.xsd`) accepts.
pub fn document(
    name: &str,
    time: Duration,
    suites: impl IntoIterator<Item = TestSuite>,
) -> Result<String, quick_junit::SerializeError> {
    let mut report = quick_junit::Report::new(name);
    report.set_time(time);
    report.add_test_suites(suites);
    Ok(without_root_skipped(&report.to_string()?))
}

/// quick-junit writes a `skipped` count on `<testsuites>`, which the schema
/// does not allow there (it does on each `<testsuite>`): drop it from the
/// root tag. Attribute values are escaped, so `" skipped=\""` can only be
/// the attribute itself.
fn without_root_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_string();
    };
    let end = start + xml[start..].find('>').unwrap_or(0);
    let tag = &xml[start..end];
    let Some(at) = tag.find(" skipped=\"") else {
        return xml.to_string();
    };
    let value_end =
        at + " skipped=\"".len() + tag[at + " skipped=\"".len()..].find('"').unwrap_or(0) + 1;
    format!("{}{}{}", &xml[..start + at], &tag[value_end..], &xml[end..])
}

/// The JUnit XML document of a run.
pub fn run_junit(r: &Report, kinds: &[&str]) -> Result<String, quick_junit::SerializeError> {
    document(
        "chaos-monkey",
        Duration::from_secs_f64(r.duration_s.max(0.0)),
        [run_suite(r, kinds)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_root_loses_its_skipped_count() {
        let mut suite = TestSuite::new("a skipped=\"1\" b");
        suite.add_test_case(passed("x"));
        let xml = document("n", Duration::from_millis(1500), [suite]).unwrap();
        let root = xml.lines().find(|l| l.contains("<testsuites")).unwrap();
        assert!(!root.contains("skipped"), "{root}");
        assert!(
            root.contains("tests=\"1\"") && root.contains("time=\"1.500\""),
            "{root}"
        );
        let suite = xml.lines().find(|l| l.contains("<testsuite ")).unwrap();
        assert!(suite.contains(" skipped=\"0\""), "{suite}");
        assert!(suite.contains("a skipped=&quot;1&quot; b"), "{suite}");
    }
}
