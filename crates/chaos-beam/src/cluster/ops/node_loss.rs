//! Process chaos at node scale (behind `--allow-node-kill`): stop a member
//! with `init:stop/0` (an orderly shutdown) or `erlang:halt/1` (at once),
//! then report whether the rest of the cluster carried on: every remaining
//! member answers, has dropped the lost node from `nodes()`, still sees all
//! the other remaining members, and still runs every application it ran at
//! the start. Never stops the last two reachable members. Nothing to undo:
//! the node stays down (the cluster detectors report it as `node_left`).

use super::super::on_node::on_node;
use super::super::{mesh_gaps, mesh_of, ClusterTarget};
use crate::dist::term::{atom, TermExt};
use crate::dist::DistClient;
use crate::eval::eval_with_timeout;
use chaos_engine::{Category, Outcome, Profile, SeededRng, TypedOperation};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::{Duration, Instant};

/// Stop one member of the cluster.
pub struct NodeLoss;

/// How long a stopped node may take to go away.
const DOWN_LIMIT: Duration = Duration::from_secs(20);

/// The stop runs in a process of its own, after our call has returned.
/// The applications running on a member.
pub(crate) const RUNNING_APPS: &str = "[A || {A, _, _} <- application:which_applications(2000)].";

pub(crate) const STOP: &str = r#"
erlang:spawn(fun() ->
    receive after 100 -> ok end,
    case How of stop -> init:stop(); halt -> erlang:halt(0) end
end),
ok.
"#;

/// The parameters of one node loss.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeLossParams {
    /// How the member is stopped: `stop` (`init:stop()`) or `halt` (`erlang:halt(0)`).
    pub how: String,
}

impl TypedOperation<ClusterTarget> for NodeLoss {
    type Params = NodeLossParams;

    fn name(&self) -> &'static str {
        "node_loss"
    }

    fn category(&self) -> Category {
        Category::Process
    }

    fn describe(&self) -> &'static str {
        "stop a member (init:stop or halt) and report whether the rest of the cluster carried on"
    }

    fn gate(&self) -> Option<&'static str> {
        Some("it stops a whole member node; the monkey cannot start it again")
    }

    fn plan(&self, rng: &mut SeededRng, _profile: Profile) -> NodeLossParams {
        let how = if rng.range_inclusive(0, 1) == 0 {
            "stop"
        } else {
            "halt"
        };
        NodeLossParams {
            how: how.to_string(),
        }
    }

    fn run<'a>(&'a self, ctx: &'a ClusterTarget, p: NodeLossParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let how = p.how.as_str();
            if ctx.up().len() < 3 {
                return Outcome::skipped(
                    "node loss needs at least three reachable members (two stay to carry on)",
                );
            }
            let Some(node) = ctx.pick() else {
                return Outcome::skipped("no reachable member with a weight above 0");
            };
            let t0 = Instant::now();
            if let Err(e) = eval_with_timeout(
                &node.target.client,
                STOP,
                &[("How", atom(how))],
                Duration::from_secs(5),
            )
            .await
            {
                return on_node(
                    Outcome::failed(format!("could not stop it: {e}")),
                    &node.name,
                );
            }
            let lost = futures::future::select(
                Box::pin(node.target.client.closed()),
                Box::pin(smol::Timer::after(DOWN_LIMIT)),
            )
            .await;
            let down_ms = t0.elapsed().as_millis() as u64;
            if matches!(lost, futures::future::Either::Right(_)) {
                return on_node(
                    Outcome::unconfirmed(format!(
                        "asked {} to {how}, but it was still up after {} s",
                        node.name,
                        DOWN_LIMIT.as_secs()
                    )),
                    &node.name,
                );
            }
            ctx.note_stopped(&node.name, &format!("stopped by node_loss ({how})"));
            let (carried_on, findings) = rest_of_cluster(ctx, &node.name).await;
            let detail = format!(
                "{} went down {down_ms} ms after {how}; the rest of the cluster {}",
                node.name,
                if carried_on {
                    "carried on".to_string()
                } else {
                    format!("did not carry on: {}", findings.join("; "))
                }
            );
            on_node(
                Outcome::confirmed(detail).with_measurements(json!({
                    "down_ms": down_ms,
                    "how": how,
                    "rest_carried_on": carried_on,
                    "findings": findings,
                })),
                &node.name,
            )
        })
    }
}

/// Whether the remaining members carry on without `lost`, and what is wrong if not.
async fn rest_of_cluster(ctx: &ClusterTarget, lost: &str) -> (bool, Vec<String>) {
    // Each remaining member notices the loss by itself (tick or closed socket): wait for it.
    let rest: Vec<(&str, &DistClient)> = ctx
        .up()
        .iter()
        .map(|m| (m.name.as_str(), &m.target.client))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut findings = Vec::new();
    loop {
        let mesh = mesh_of(&rest).await;
        findings.clear();
        for (name, _) in &rest {
            match mesh.get(*name) {
                None => findings.push(format!("{name} does not answer")),
                Some(seen) if seen.contains(lost) => {
                    findings.push(format!("{name} still lists {lost} in nodes()"))
                }
                Some(_) => {}
            }
        }
        let expected: Vec<String> = rest.iter().map(|(n, _)| n.to_string()).collect();
        findings.extend(mesh_gaps(&mesh, &expected));
        if findings.is_empty() || Instant::now() >= deadline {
            break;
        }
        smol::Timer::after(Duration::from_millis(100)).await;
    }
    for m in ctx.up() {
        let running =
            eval_with_timeout(&m.target.client, RUNNING_APPS, &[], Duration::from_secs(5))
                .await
                .map(|t| {
                    t.as_list()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|a| a.as_atom().map(str::to_string))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
        for app in m.target.baseline_apps() {
            if !running.contains(app) {
                findings.push(format!("{app} no longer runs on {}", m.name));
            }
        }
    }
    (findings.is_empty(), findings)
}
