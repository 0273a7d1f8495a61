//! Escalation analysis of one application's supervision model: what kills
//! cost it. OTP's rule: a supervisor gives up on the restart that makes more
//! than `intensity` restarts within `period` seconds; it then exits, its
//! parent counts that as one restart of its own, and so on up to the
//! application's top supervisor, whose exit stops the application (and
//! halts the node when the application is permanent or transient).

use super::{Application, ChildSpec, TreeNode};
use serde::{Deserialize, Serialize};

/// At most this many single points of failure are listed per application.
const MAX_LISTED: usize = 50;

/// What kills cost one application.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Escalation {
    /// The fewest kills that stop the application, all within
    /// `window_s`; `None` when kills of its processes cannot stop it (no
    /// child its top supervisor would restart) or a budget on the way
    /// cannot be read (`unknown` says which).
    pub kills_to_stop: Option<u64>,
    /// The window those kills must fall in: the top supervisor's period
    /// (OTP counts whole seconds, so up to a second more).
    pub window_s: Option<u64>,
    /// The supervisor whose budget decides it, with the budget.
    pub limited_by: Option<String>,
    /// The application's stop halts the node (permanent or transient).
    pub halts_node: bool,
    /// Supervisors whose budget could not be read (treated as spent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    /// Processes whose single death stops the application, or is never
    /// undone.
    pub single_points: Vec<SinglePoint>,
}

/// A process whose single death stops its application or is permanent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinglePoint {
    /// Its name (registered name, child id or pid).
    pub who: String,
    /// Pid text, when it runs.
    pub pid: Option<String>,
    /// Why: what its death does.
    pub why: String,
}

/// A child its supervisor restarts when it is killed (an abnormal exit):
/// permanent and transient ones, and unknown ones (conservatively). Delayed
/// restarts of look-alike behaviours (`{permanent,5}`) never use up a budget.
fn restarted(spec: Option<&ChildSpec>) -> bool {
    match spec.map(|s| s.restart.as_str()) {
        Some("permanent" | "transient") | None => true,
        Some(other) => !other.starts_with('{') && other != "temporary",
    }
}

fn running(n: &TreeNode) -> bool {
    n.pid.starts_with('<')
}

/// Kills of children that would each cost `sup` a restart: some exist.
fn has_restarted_children(sup: &TreeNode) -> bool {
    if sup.dynamic {
        let active = sup.counts.as_ref().map(|c| c.active).unwrap_or(0);
        active > 0 && restarted(sup.template.as_ref())
    } else {
        sup.children
            .iter()
            .any(|c| running(c) && restarted(c.spec.as_ref()))
    }
}

/// Analyse one application.
pub fn analyse(app: &Application) -> Escalation {
    let mut e = Escalation {
        halts_node: app.halts_node(),
        ..Escalation::default()
    };
    let stop = if e.halts_node {
        format!(
            "application {} stops and the node halts ({} application)",
            app.name,
            app.start_type.as_deref().unwrap_or("permanent")
        )
    } else {
        format!("application {} stops", app.name)
    };
    if let Some(top) = &app.supervision_tree {
        match &top.budget {
            Some(b) if has_restarted_children(top) => {
                e.kills_to_stop = Some(b.remaining() + 1);
                e.window_s = Some(b.period_s);
                e.limited_by = Some(format!("{} ({})", top.label(), b.text()));
            }
            Some(_) => {}
            None if top.module.as_deref() == Some("supervisor_bridge") => {}
            None => e.unknown.push(top.label()),
        }
        walk(top, true, &stop, &mut e);
    }
    // A process the tree lists is supervised, whatever its ancestry says
    // (processes not started by proc_lib have no '$ancestors').
    let mut in_tree = Vec::new();
    if let Some(top) = &app.supervision_tree {
        pids(top, &mut in_tree);
    }
    for lone in app
        .unsupervised
        .iter()
        .filter(|l| !in_tree.contains(&l.pid.as_str()))
    {
        e.single_points.push(SinglePoint {
            who: crate::elixir::readable(&lone.registered_name).into_owned(),
            pid: Some(lone.pid.clone()),
            why: "registered, and no supervisor restarts it: its death is permanent".into(),
        });
    }
    e.single_points.truncate(MAX_LISTED);
    e
}

fn pids<'a>(n: &'a TreeNode, out: &mut Vec<&'a str>) {
    out.push(&n.pid);
    for c in &n.children {
        pids(c, out);
    }
}

/// Visit a supervisor; `fatal` when its own exit stops the application.
fn walk(sup: &TreeNode, fatal: bool, stop: &str, e: &mut Escalation) {
    let one_death_exhausts = match &sup.budget {
        Some(b) => b.remaining() == 0,
        // A bridge has no budget: it exits when its one process does.
        None if sup.module.as_deref() == Some("supervisor_bridge") => true,
        None => {
            if !e.unknown.contains(&sup.label()) {
                e.unknown.push(sup.label());
            }
            true
        }
    };
    let budget = sup
        .budget
        .as_ref()
        .map(|b| b.text())
        .unwrap_or_else(|| "budget unreadable".into());
    let auto_shutdown = sup
        .budget
        .as_ref()
        .and_then(|b| b.auto_shutdown.as_deref())
        .is_some_and(|a| a != "never");
    if sup.dynamic {
        if fatal && one_death_exhausts && has_restarted_children(sup) {
            e.single_points.push(SinglePoint {
                who: format!("any child of {}", sup.label()),
                pid: None,
                why: format!("one death makes {} ({budget}) give up: {stop}", sup.label()),
            });
        }
        return;
    }
    for child in sup.children.iter().filter(|c| running(c)) {
        let spec = child.spec.as_ref();
        let significant = spec.is_some_and(|s| s.significant) && auto_shutdown;
        if significant && fatal {
            e.single_points.push(SinglePoint {
                who: child.label(),
                pid: Some(child.pid.clone()),
                why: format!(
                    "significant child: its exit shuts {} down (auto_shutdown): {stop}",
                    sup.label()
                ),
            });
        } else if restarted(spec) && fatal && one_death_exhausts {
            e.single_points.push(SinglePoint {
                who: child.label(),
                pid: Some(child.pid.clone()),
                why: format!("one death makes {} ({budget}) give up: {stop}", sup.label()),
            });
        } else if spec.is_some_and(|s| s.restart == "temporary") {
            e.single_points.push(SinglePoint {
                who: child.label(),
                pid: Some(child.pid.clone()),
                why: format!("a temporary child of {}: nobody restarts it", sup.label()),
            });
        }
        if child.is_supervisor() {
            // Its exit costs this supervisor one restart; when that is this
            // supervisor's last and this one's exit is fatal, so is the child's.
            let child_fatal =
                fatal && one_death_exhausts && spec.is_none_or(|s| s.restart == "permanent");
            walk(child, child_fatal, stop, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::{LoneProcess, RestartBudget, SupervisorCounts};

    fn spec(restart: &str) -> Option<ChildSpec> {
        Some(ChildSpec {
            restart: restart.into(),
            shutdown: "5000".into(),
            significant: false,
        })
    }

    fn worker(name: &str, restart: &str) -> TreeNode {
        TreeNode {
            id: name.into(),
            pid: format!("<0.{}.0>", name.len()),
            registered_name: Some(name.into()),
            kind: "worker".into(),
            module: None,
            modules: None,
            counts: None,
            budget: None,
            dynamic: false,
            spec: spec(restart),
            template: None,
            children: vec![],
            truncated: false,
            responsive: true,
        }
    }

    fn sup(name: &str, intensity: u64, used: u64, children: Vec<TreeNode>) -> TreeNode {
        TreeNode {
            kind: "supervisor".into(),
            budget: Some(RestartBudget {
                strategy: "one_for_one".into(),
                intensity,
                period_s: 10,
                restarts_in_window: used,
                auto_shutdown: Some("never".into()),
            }),
            counts: Some(SupervisorCounts {
                specs: children.len() as u64,
                active: children.len() as u64,
                supervisors: 0,
                workers: children.len() as u64,
            }),
            children,
            ..worker(name, "permanent")
        }
    }

    fn app(start_type: &str, tree: TreeNode) -> Application {
        Application {
            name: "shop".into(),
            version: "1".into(),
            description: String::new(),
            start_type: Some(start_type.into()),
            runtime: false,
            supervision_tree: Some(tree),
            unsupervised: vec![],
            escalation: None,
        }
    }

    fn names(e: &Escalation) -> Vec<&str> {
        e.single_points.iter().map(|s| s.who.as_str()).collect()
    }

    #[test]
    fn a_tight_top_supervisor_needs_intensity_plus_one_kills() {
        let a = app(
            "temporary",
            sup(
                "top",
                3,
                0,
                vec![worker("a", "permanent"), worker("b", "permanent")],
            ),
        );
        let e = analyse(&a);
        assert_eq!(e.kills_to_stop, Some(4));
        assert_eq!(e.window_s, Some(10));
        assert_eq!(
            e.limited_by.as_deref(),
            Some("top (one_for_one, 3 in 10 s)")
        );
        assert!(!e.halts_node);
        assert!(e.single_points.is_empty(), "{e:?}");
    }

    #[test]
    fn restarts_already_counted_lower_the_cost() {
        let a = app(
            "temporary",
            sup("top", 3, 2, vec![worker("a", "permanent")]),
        );
        assert_eq!(analyse(&a).kills_to_stop, Some(2));
    }

    #[test]
    fn intensity_zero_makes_every_restarted_child_a_single_point() {
        let inner = sup("inner", 5, 0, vec![worker("deep", "permanent")]);
        let a = app(
            "permanent",
            sup(
                "top",
                0,
                0,
                vec![worker("a", "permanent"), worker("t", "temporary"), inner],
            ),
        );
        let e = analyse(&a);
        assert_eq!(e.kills_to_stop, Some(1));
        assert!(e.halts_node);
        // a and inner stop it; t is lost for good; deep is covered by inner's budget.
        assert_eq!(names(&e), vec!["a", "t", "inner"]);
        assert!(e.single_points[0].why.contains("node halts"), "{e:?}");
        assert!(e.single_points[1].why.contains("nobody restarts"), "{e:?}");
    }

    #[test]
    fn a_chain_of_spent_budgets_reaches_down() {
        let inner = sup("inner", 0, 0, vec![worker("deep", "permanent")]);
        let a = app("temporary", sup("top", 1, 1, vec![inner]));
        assert_eq!(names(&analyse(&a)), vec!["inner", "deep"]);
    }

    #[test]
    fn unsupervised_names_and_unreadable_budgets_are_reported() {
        let mut top = sup("top", 3, 0, vec![worker("a", "permanent")]);
        top.budget = None;
        let mut a = app("temporary", top);
        a.unsupervised.push(LoneProcess {
            pid: "<0.99.0>".into(),
            registered_name: "lone".into(),
        });
        let e = analyse(&a);
        assert_eq!(e.kills_to_stop, None);
        assert_eq!(e.unknown, vec!["top"]);
        assert_eq!(names(&e), vec!["a", "lone"]);
    }

    #[test]
    fn only_temporary_children_cannot_be_stopped_by_kills() {
        let mut top = sup("top", 0, 0, vec![]);
        top.dynamic = true;
        top.template = spec("temporary");
        let e = analyse(&app("temporary", top));
        assert_eq!(e.kills_to_stop, None);
        assert!(e.unknown.is_empty());
        assert!(e.single_points.is_empty());
    }
}
