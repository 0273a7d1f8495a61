//! Cause chains: the node's own supervisor reports and application exits,
//! collected while a run lasts (`snippets/causes.erl`: a helper and a
//! temporary primary logger filter, removed at the end and when the lease
//! lapses), turned into the chain that explains an application's stop —
//! "child X of S killed by the monkey at 10.6 s → restart of X failed 5×
//! (start_error: {noproc,…}) → S gave up (reached_max_restart_intensity) →
//! application A exited (shutdown) at 13.1 s" — and into the count of
//! restarts the monkey did not cause.

use super::*;
use serde::Deserialize;
use std::collections::BTreeMap;

const START: &str = include_str!("../snippets/causes.erl");

const FINISH: &str = r#"
Ref = erlang:make_ref(),
Collector ! {finish, self(), Ref},
receive {Ref, Causes, Removed} -> {Causes, Removed}
after 3000 ->
    erlang:exit(Collector, kill),
    {[], catch logger:remove_primary_filter(chaos_monkey_causes)}
end.
"#;

/// At most this many reports are kept.
const MAX_CAUSES: i64 = 2_000;

/// One report the node logged.
#[derive(Debug, Clone, Deserialize)]
pub struct Cause {
    /// Since the collector started (just before the run's clock).
    pub t_ms: u64,
    /// `child_terminated`, `start_error`, `shutdown`, `shutdown_error`,
    /// `application_exit`, …
    pub kind: String,
    /// The supervisor that reported it.
    pub supervisor: Option<String>,
    /// The child's id.
    pub child: Option<String>,
    /// The child's pid.
    pub child_pid: Option<String>,
    /// The node's own reason, as text.
    pub reason: String,
    /// The application of the supervisor, or the one that exited.
    pub application: Option<String>,
}

impl Cause {
    /// The child it is about was one the monkey killed.
    fn by_monkey(&self, killed: &HashSet<String>) -> bool {
        self.child_pid.as_ref().is_some_and(|p| killed.contains(p))
    }
}

/// The collector on the node.
#[derive(Default)]
pub(super) struct Causes {
    collector: Mutex<Option<Term>>,
    collected: Mutex<Vec<Cause>>,
    /// Victims the monkey killed (pid text): their restarts are ours.
    killed: Mutex<HashSet<String>>,
}

impl BeamTarget {
    /// Start collecting the node's supervisor reports (before the clock).
    pub async fn start_causes(&self, run_for: Duration) -> Result<(), String> {
        let deadline = (run_for + Duration::from_secs(120)).as_millis() as i64;
        let t = self
            .exec(
                START,
                &[("DeadlineMs", int(deadline)), ("Max", int(MAX_CAUSES))],
            )
            .await
            .map_err(|e| e.to_string())?;
        if t.as_pid().is_none() {
            return Err(format!(
                "the report collector did not start: {}",
                crate::dist::term::show(&t)
            ));
        }
        self.note_helper(&t);
        *self.causes.collector.lock().unwrap() = Some(t);
        Ok(())
    }

    /// The collector (the budget gate asks it which supervisors' restarts
    /// failed lately), or `none` before it starts.
    pub(super) fn causes_collector(&self) -> Term {
        self.causes
            .collector
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| atom("none"))
    }

    /// Stop collecting (the filter is removed) and keep what was collected.
    pub async fn finish_causes(&self) -> Result<(), String> {
        let Some(collector) = self.causes.collector.lock().unwrap().take() else {
            return Ok(());
        };
        let t = self
            .exec(FINISH, &[("Collector", collector)])
            .await
            .map_err(|e| e.to_string())?;
        let [list, removed] = t.as_tuple().unwrap_or_default() else {
            return Err("unexpected answer from the report collector".into());
        };
        if removed.as_atom() != Some("ok") {
            return Err(format!(
                "the logger filter could not be removed: {}",
                crate::dist::term::show(removed)
            ));
        }
        let mut causes: Vec<Cause> = serde_json::from_value(to_json(list)).unwrap_or_default();
        // Written the Elixir way, like everything the report shows (once,
        // here: the chains and counts below use these texts as they are).
        let readable = |t: &mut String| *t = crate::elixir::readable(t).into_owned();
        for c in &mut causes {
            readable(&mut c.reason);
            c.supervisor.as_mut().map(readable);
            c.child.as_mut().map(readable);
        }
        *self.causes.collected.lock().unwrap() = causes;
        Ok(())
    }

    /// Mark an outcome as a kill ([`super::reply::killed`]) and remember
    /// the victim: its supervisor's restart of it is the monkey's doing.
    pub fn killed(&self, out: Outcome) -> Outcome {
        if let Some(v) = &out.victim {
            let mut k = self.causes.killed.lock().unwrap();
            if k.len() < MAX_TOUCHED {
                k.insert(v.id.clone());
            }
        }
        super::reply::killed(out)
    }

    /// What the node reported while the run lasted.
    pub fn causes(&self) -> Vec<Cause> {
        self.causes.collected.lock().unwrap().clone()
    }

    /// The chain of reports that ended with `app` stopping, as one line.
    pub fn cause_chain(&self, app: &str) -> Option<String> {
        let killed = self.causes.killed.lock().unwrap();
        chain(&self.causes.collected.lock().unwrap(), app, &killed)
    }

    /// Supervisors the node reported giving up (reached their restart
    /// intensity) that are not the top of an application whose stop is
    /// already a failure mode (`stopped_apps`): a subtree lost or restarted
    /// from scratch — for example a dynamic child supervisor, which no
    /// steady-state check follows. One failure mode each, with its chain.
    pub fn collapses(&self, stopped_apps: &[String]) -> Vec<chaos_engine::FailureMode> {
        let causes = self.causes.collected.lock().unwrap();
        let killed = self.causes.killed.lock().unwrap();
        collapses(&causes, &killed, stopped_apps)
    }

    /// Children that terminated and were restarted without the monkey
    /// killing them, per supervisor.
    pub fn restarts_not_ours(&self) -> BTreeMap<String, u64> {
        let killed = self.causes.killed.lock().unwrap();
        let mut out = BTreeMap::new();
        for c in self.causes.collected.lock().unwrap().iter() {
            if c.kind == "child_terminated" && !c.by_monkey(&killed) {
                if let Some(s) = &c.supervisor {
                    *out.entry(s.clone()).or_insert(0) += 1;
                }
            }
        }
        out
    }
}

/// Supervisors the node reported giving up, not covered by an application
/// stop already reported ([`BeamTarget::collapses`]).
pub fn collapses(
    causes: &[Cause],
    killed: &HashSet<String>,
    stopped_apps: &[String],
) -> Vec<chaos_engine::FailureMode> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for c in causes.iter() {
        let Some(sup) = c.supervisor.as_ref() else {
            continue;
        };
        if c.kind != "shutdown" || !c.reason.contains("reached_max_restart_intensity") {
            continue;
        }
        let app = c.application.clone().unwrap_or_default();
        let app_stopped = causes.iter().any(|d| {
            d.kind == "application_exit" && d.application.as_deref() == Some(app.as_str())
        });
        if (app_stopped && stopped_apps.contains(&app)) || !seen.insert(sup.clone()) {
            continue;
        }
        let who = sup.clone();
        let before: Vec<Cause> = causes
            .iter()
            .filter(|d| {
                d.supervisor.as_ref() == Some(sup) && d.t_ms <= c.t_ms && d.t_ms + 30_000 >= c.t_ms
            })
            .cloned()
            .collect();
        let steps: Vec<String> = before
            .iter()
            .map(|d| {
                let by = if d.by_monkey(killed) {
                    " (killed by the monkey)"
                } else {
                    ""
                };
                format!(
                    "{} {}{by}: {}",
                    d.kind,
                    d.child.as_deref().unwrap_or("-"),
                    d.reason
                )
            })
            .collect();
        out.push(chaos_engine::FailureMode {
            kind: crate::failure_kind::FailureKind::SupervisorCollapse.name().to_string(),
            subject: who.clone(),
            first_seen_ms: c.t_ms,
            last_seen_ms: c.t_ms,
            evidence: serde_json::json!({
                "detail": format!("the node reported that supervisor {who} (application {app}) reached its restart intensity and shut down"),
                "cause": steps.join(" → "),
            }),
            recovered: false,
        });
    }
    out
}

/// The reports of `app` up to its (first) exit, as one line.
pub fn chain(causes: &[Cause], app: &str, killed: &HashSet<String>) -> Option<String> {
    let of_app = |c: &&Cause| c.application.as_deref() == Some(app);
    let exit_at = causes
        .iter()
        .filter(of_app)
        .position(|c| c.kind == "application_exit")?;
    let events: Vec<&Cause> = causes.iter().filter(of_app).take(exit_at + 1).collect();
    let exit_t = events.last()?.t_ms;
    // The last 30 s before the stop tell the story.
    let events: Vec<&Cause> = events
        .into_iter()
        .filter(|c| c.t_ms + 30_000 >= exit_t)
        .collect();
    // Names are written the Elixir way already (`finish_causes`).
    let name = |c: &Cause| c.child.clone().unwrap_or_else(|| "?".into());
    let sup = |c: &Cause| c.supervisor.clone().unwrap_or_else(|| "?".into());
    let at = |t: u64| format!("{:.1} s", t as f64 / 1000.0);
    let mut steps: Vec<String> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let c = events[i];
        match c.kind.as_str() {
            "start_error" | "restart_error" => {
                let same = events[i..]
                    .iter()
                    .take_while(|d| d.kind == c.kind && d.child == c.child)
                    .count();
                steps.push(format!(
                    "restart of {} by {} failed {same}× ({}: {})",
                    name(c),
                    sup(c),
                    c.kind,
                    c.reason
                ));
                i += same;
                continue;
            }
            "child_terminated" => {
                let by = if c.by_monkey(killed) {
                    "killed by the monkey"
                } else {
                    "terminated"
                };
                steps.push(format!(
                    "{} of {} {by} ({}) at {}",
                    name(c),
                    sup(c),
                    c.reason,
                    at(c.t_ms)
                ));
            }
            "shutdown" => steps.push(format!(
                "{} gave up ({}) at {}",
                sup(c),
                c.reason,
                at(c.t_ms)
            )),
            "application_exit" => steps.push(format!(
                "application {app} exited ({}) at {}",
                c.reason,
                at(c.t_ms)
            )),
            other => steps.push(format!("{} reported {other} ({})", sup(c), c.reason)),
        }
        i += 1;
    }
    Some(steps.join(" → "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(t_ms: u64, kind: &str, child: &str, pid: &str, reason: &str) -> Cause {
        Cause {
            t_ms,
            kind: kind.into(),
            supervisor: Some("s".into()),
            child: Some(child.into()),
            child_pid: Some(pid.into()),
            reason: reason.into(),
            application: Some("a".into()),
        }
    }

    #[test]
    fn a_chain_names_the_kill_the_failed_restarts_and_the_stop() {
        let causes = vec![
            cause(100, "child_terminated", "other", "<0.1.0>", "killed"),
            cause(10_600, "child_terminated", "needy", "<0.2.0>", "killed"),
            cause(10_601, "start_error", "needy", "", "{noproc,x}"),
            cause(10_602, "start_error", "needy", "", "{noproc,x}"),
            cause(
                10_603,
                "shutdown",
                "needy",
                "",
                "reached_max_restart_intensity",
            ),
            cause(13_100, "application_exit", "", "", "shutdown"),
        ];
        let killed = HashSet::from(["<0.2.0>".to_string()]);
        let text = chain(&causes, "a", &killed).unwrap();
        assert_eq!(
            text,
            "other of s terminated (killed) at 0.1 s → needy of s killed by the monkey (killed) at 10.6 s → restart of needy by s failed 2× (start_error: {noproc,x}) → s gave up (reached_max_restart_intensity) at 10.6 s → application a exited (shutdown) at 13.1 s"
        );
        assert_eq!(chain(&causes, "b", &killed), None);
    }

    #[test]
    fn a_supervisor_that_gave_up_is_a_collapse_unless_its_application_stop_is_one() {
        let mut inner = cause(5, "shutdown", "", "", "reached_max_restart_intensity");
        inner.supervisor = Some("inner_sup".into());
        let causes = vec![
            cause(1, "child_terminated", "w", "<0.2.0>", "killed"),
            inner,
            cause(
                10_603,
                "shutdown",
                "needy",
                "",
                "reached_max_restart_intensity",
            ),
            cause(13_100, "application_exit", "", "", "shutdown"),
        ];
        let killed = HashSet::from(["<0.2.0>".to_string()]);
        // The application's stop is already a failure mode: both supervisors
        // belong to it, so neither is reported again.
        assert!(collapses(&causes, &killed, &["a".to_string()]).is_empty());
        // Not yet reported: one failure mode per supervisor, with its chain.
        let modes = collapses(&causes, &killed, &[]);
        assert_eq!(modes.len(), 2);
        assert_eq!(modes[0].subject, "inner_sup");
        assert_eq!(modes[1].subject, "s");
        let cause_text = modes[1].evidence["cause"].as_str().unwrap();
        assert!(
            cause_text.contains("child_terminated w (killed by the monkey): killed"),
            "{cause_text}"
        );
    }
}
