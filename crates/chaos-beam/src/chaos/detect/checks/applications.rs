//! Applications that ran at the start and stopped (their top supervisor gave up).

use super::*;

pub(crate) struct Applications;

impl Check for Applications {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        let running = &seen.steady.applications;
        for app in seen.baseline.apps.iter().filter(|a| !running.contains(a)) {
            out.push(problem(
                FailureKind::SupervisorCollapse,
                app.clone(),
                format!("application {app} was running at the start and is not running now (its top supervisor gave up)"),
                true,
            ));
        }
    }
}
