//! Cluster-level detectors, on top of each member's own (see
//! `chaos/detect.rs`). Every sample asks each reachable member for its view
//! of the cluster — `nodes()`, its `global` names, the `pg` groups of every
//! scope, its running applications — and compares the views:
//!
//! | kind | when |
//! |---|---|
//! | `node_left` | a member is gone (unreachable, or stopped by `node_loss`) and does not come back within the recovery window |
//! | `cluster_partition` | no partition is held, yet members do not all see each other |
//! | `global_name_conflict` | a `global` name was registered to different processes on the two sides of a split; reported when the views agree again (after the heal), with what each side had and what `global` kept; or the views still disagree with the cluster whole |
//! | `pg_divergence` | a `pg` group has different members on different nodes while no partition is held |
//! | `application_divergence` | an application that ran on every member at the start runs on some and not on others |
//!
//! While a partition or flapping link is held, membership and `pg`
//! differences are the chaos itself and are not reported; global names are
//! still recorded, since a name claimed on both sides is exactly the
//! conflict the heal will have to resolve.

use super::{mesh_gaps, ClusterTarget, Member};
use crate::dist::term::{show, Pid, Term, TermExt};
use crate::eval::eval_with_timeout;
use crate::failure_kind::FailureKind;
use chaos_engine::Problem;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Every failure-mode kind these detectors can name, besides each member's
/// own ([`crate::chaos::detect::FAILURE_KINDS`]).
pub const CLUSTER_FAILURE_KINDS: [&str; 5] = FailureKind::names(FailureKind::CLUSTER);

/// At most this many global names are compared per member and sample.
const MAX_GLOBAL_NAMES: usize = 1000;

pub(crate) const VIEW: &str = r#"
Scopes = [S || S <- erlang:registered(),
               case erlang:whereis(S) of
                   P when is_pid(P) ->
                       case erlang:process_info(P, dictionary) of
                           {dictionary, D} -> proplists:get_value('$initial_call', D) =:= {pg, init, 1};
                           _ -> false
                       end;
                   _ -> false
               end],
Groups = [{S, G, lists:sort(pg:get_members(S, G))}
          || S <- Scopes,
             G <- case catch pg:which_groups(S) of L when is_list(L) -> L; _ -> [] end],
Names = lists:sublist(lists:sort(global:registered_names()), MaxNames),
Global = [{N, global:whereis_name(N)} || N <- Names],
Apps = [A || {A, _, _} <- application:which_applications(2000)],
{erlang:nodes(), Global, Groups, Apps}.
"#;

/// One member's view of the cluster.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// `nodes()`.
    pub nodes: BTreeSet<String>,
    /// Global name → the process it points at (pid text `<node.id.serial>`, same on every node).
    pub global: BTreeMap<String, String>,
    /// `scope/group` → its members (pid texts).
    pub pg: BTreeMap<String, BTreeSet<String>>,
    /// Running applications.
    pub apps: BTreeSet<String>,
}

/// A pid as the same text whichever node reports it.
pub fn pid_text(p: &Pid) -> String {
    format!("<{}.{}.{}>", p.node.name, p.id, p.serial)
}

fn parse_view(t: &Term) -> Option<View> {
    let [nodes, global, groups, apps] = t.as_tuple()? else {
        return None;
    };
    let atoms = |t: &Term| -> BTreeSet<String> {
        t.as_list()
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.as_atom().map(str::to_string))
            .collect()
    };
    let global = global
        .as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| match e.as_tuple()? {
            [name, pid] => Some((show(name), pid.as_pid().map(pid_text)?)),
            _ => None,
        })
        .collect();
    let pg = groups
        .as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| match e.as_tuple()? {
            [scope, group, members] => Some((
                format!("{}/{}", show(scope), show(group)),
                members
                    .as_list()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|p| p.as_pid().map(pid_text))
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    Some(View {
        nodes: atoms(nodes),
        global,
        pg,
        apps: atoms(apps),
    })
}

/// The views of every reachable member (those that answer).
pub async fn views(cluster: &ClusterTarget) -> BTreeMap<String, View> {
    let asks = cluster.up().into_iter().map(|m| async move {
        let t = eval_with_timeout(
            &m.target.client,
            VIEW,
            &[("MaxNames", crate::dist::term::int(MAX_GLOBAL_NAMES as i64))],
            Duration::from_secs(5),
        )
        .await
        .ok()?;
        Some((m.name.clone(), parse_view(&t)?))
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The cluster detectors' state across samples.
#[derive(Debug, Default)]
pub struct ClusterDetector {
    members: Vec<String>,
    /// Applications that ran on every member at the start.
    everywhere: BTreeSet<String>,
    /// Global names seen pointing at different processes: name → node → pid.
    conflicts: BTreeMap<String, BTreeMap<String, String>>,
    /// Conflicts already reported as resolved.
    reported: BTreeSet<String>,
}

fn problem(kind: FailureKind, subject: &str, detail: String, immediate: bool) -> Problem {
    kind.problem(subject, detail, immediate)
}

impl ClusterDetector {
    /// The baseline: the members and what ran on all of them.
    pub fn new(members: &[String], views: &BTreeMap<String, View>) -> Result<Self, String> {
        let mut all = views.values();
        let first = all
            .next()
            .ok_or("no member of the cluster answered for the baseline")?;
        let everywhere = all.fold(first.apps.clone(), |acc, v| {
            acc.intersection(&v.apps).cloned().collect()
        });
        Ok(Self {
            members: members.to_vec(),
            everywhere,
            ..Self::default()
        })
    }

    /// Problems in one set of views. `held`: a partition or link effect is in place.
    pub fn problems(
        &mut self,
        views: &BTreeMap<String, View>,
        members: &[Member],
        stopped: &BTreeMap<String, String>,
        held: bool,
    ) -> Vec<Problem> {
        let mut out = Vec::new();
        for name in &self.members {
            if views.contains_key(name) {
                continue;
            }
            let why = match (stopped.get(name), members.iter().find(|m| &m.name == name)) {
                (Some(how), _) => how.clone(),
                (None, Some(m)) => m
                    .target
                    .client
                    .closed_reason()
                    .map(|r| format!("connection lost: {r}"))
                    .unwrap_or_else(|| "it did not answer".to_string()),
                (None, None) => "unknown".to_string(),
            };
            out.push(problem(
                FailureKind::NodeLeft,
                name,
                format!("{name} left the cluster ({why})"),
                false,
            ));
        }
        let up: Vec<String> = views.keys().cloned().collect();
        if !held {
            let mesh = views
                .iter()
                .map(|(n, v)| (n.clone(), v.nodes.clone()))
                .collect();
            let gaps = mesh_gaps(&mesh, &up);
            if !gaps.is_empty() {
                out.push(problem(
                    FailureKind::ClusterPartition,
                    "mesh",
                    format!(
                        "no partition is held, yet the members do not all see each other: {}",
                        gaps.join("; ")
                    ),
                    false,
                ));
            }
        }
        out.extend(self.global_conflicts(views, held));
        if !held {
            out.extend(pg_divergence(views));
        }
        for app in &self.everywhere {
            let (on, off): (Vec<&String>, Vec<&String>) =
                views.keys().partition(|n| views[*n].apps.contains(app));
            if !on.is_empty() && !off.is_empty() {
                out.push(problem(
                    FailureKind::ApplicationDivergence,
                    app,
                    format!(
                        "{app} ran on every member at the start; now it runs on {} and not on {}",
                        list(&on),
                        list(&off)
                    ),
                    false,
                ));
            }
        }
        out
    }

    fn global_conflicts(&mut self, views: &BTreeMap<String, View>, held: bool) -> Vec<Problem> {
        let mut out = Vec::new();
        let names: BTreeSet<&String> = views.values().flat_map(|v| v.global.keys()).collect();
        for name in &names {
            let holders: BTreeMap<String, String> = views
                .iter()
                .filter_map(|(n, v)| v.global.get(*name).map(|p| (n.clone(), p.clone())))
                .collect();
            let distinct: BTreeSet<&String> = holders.values().collect();
            if distinct.len() > 1 {
                let seen = self.conflicts.entry((*name).clone()).or_default();
                seen.extend(holders.clone());
                self.reported.remove(*name);
                if !held {
                    out.push(problem(
                        FailureKind::GlobalNameConflict,
                        name,
                        format!(
                            "the cluster is whole, yet nodes disagree on global name {name}: {}",
                            holders_text(&holders)
                        ),
                        false,
                    ));
                }
            }
        }
        // Conflicts whose views agree again: global resolved them at the heal.
        for (name, had) in &self.conflicts {
            if self.reported.contains(name) {
                continue;
            }
            let now: BTreeSet<Option<&String>> =
                views.values().map(|v| v.global.get(name)).collect();
            if now.len() != 1 {
                continue;
            }
            let kept = match now.into_iter().next().flatten() {
                Some(pid) => format!("every node points at {pid}"),
                None => "the name is now unregistered everywhere".to_string(),
            };
            out.push(problem(
                FailureKind::GlobalNameConflict,
                name,
                format!(
                    "global name {name} was registered on both sides of a split ({}); after the heal {kept}: the other registration was dropped (global's resolve function ran)",
                    holders_text(had)
                ),
                true,
            ));
        }
        for p in &out {
            if p.immediate {
                self.reported.insert(p.subject.clone());
            }
        }
        out
    }
}

fn pg_divergence(views: &BTreeMap<String, View>) -> Vec<Problem> {
    let keys: BTreeSet<&String> = views.values().flat_map(|v| v.pg.keys()).collect();
    let empty = BTreeSet::new();
    keys.into_iter()
        .filter_map(|key| {
            let sets: BTreeMap<&String, &BTreeSet<String>> = views
                .iter()
                .map(|(n, v)| (n, v.pg.get(key).unwrap_or(&empty)))
                .collect();
            let distinct: BTreeSet<&BTreeSet<String>> = sets.values().copied().collect();
            (distinct.len() > 1).then(|| {
                let detail = sets
                    .iter()
                    .map(|(n, s)| format!("{n} has {} member(s)", s.len()))
                    .collect::<Vec<_>>()
                    .join(", ");
                problem(
                    FailureKind::PgDivergence,
                    key,
                    format!("pg group {key} differs between nodes: {detail}"),
                    false,
                )
            })
        })
        .collect()
}

fn holders_text(holders: &BTreeMap<String, String>) -> String {
    holders
        .iter()
        .map(|(n, p)| format!("{p} on {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(nodes: &[&String]) -> String {
    nodes
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
