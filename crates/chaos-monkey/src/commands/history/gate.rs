//! The gate's verdict (the exit code) and its JUnit suite, from the
//! `gate` section [`super::finish_run`] put in the report's extras.

use chaos_engine::Report;

/// Why the gate failed (exit 1), when it did.
pub fn gate_failure(report: &Report) -> Option<String> {
    let g = report.extras.get("gate")?;
    if g["passed"].as_bool() != Some(false) {
        return None;
    }
    if let Some(e) = g["error"].as_str() {
        return Some(format!("the regression gate failed: {e}"));
    }
    let failed: Vec<String> = g["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["passed"].as_bool() == Some(false))
        .map(|c| c["message"].as_str().unwrap_or_default().to_string())
        .collect();
    Some(format!(
        "the regression gate failed against run {}: {}",
        g["baseline"],
        failed.join("; ")
    ))
}

/// The gate as a JUnit suite: one test case per bound (skipped when the
/// figure was not measured in both runs), or one failed case when the gate
/// could not read its baseline.
pub fn gate_suite(report: &Report) -> Option<quick_junit::TestSuite> {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    const CLASS: &str = "chaos-monkey.gate";
    let g = report.extras.get("gate")?;
    let mut suite = TestSuite::new(format!(
        "chaos-monkey gate {} against run {}",
        report.target, g["baseline"]
    ));
    let failed = |message: &str| {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
        st.set_message(message.to_string()).set_type("regression");
        st
    };
    if let Some(why) = g["not_checked"].as_str() {
        let mut st = TestCaseStatus::skipped();
        st.set_message(why.to_string());
        let mut case = TestCase::new("baseline readable", st);
        case.set_classname(CLASS);
        suite.add_test_case(case);
        return Some(suite);
    }
    if let Some(e) = g["error"].as_str() {
        let mut case = TestCase::new("baseline readable", failed(e));
        case.set_classname(CLASS);
        suite.add_test_case(case);
        return Some(suite);
    }
    for c in g["checks"].as_array().into_iter().flatten() {
        let message = c["message"].as_str().unwrap_or_default();
        let status = if c["checked"].as_bool() == Some(false) {
            let mut st = TestCaseStatus::skipped();
            st.set_message(message.to_string());
            st
        } else if c["passed"].as_bool() == Some(true) {
            TestCaseStatus::success()
        } else {
            failed(message)
        };
        let mut case = TestCase::new(
            format!("no regression in {}", c["figure"].as_str().unwrap_or("?")),
            status,
        );
        case.set_classname(CLASS);
        suite.add_test_case(case);
    }
    Some(suite)
}
