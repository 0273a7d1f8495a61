//! The cutting helper both the partition and the link operations use
//! (`snippets/cluster_cut.erl`), started on each node that cuts, and the
//! effect that heals: it releases every helper, then waits until the mesh
//! is whole again (and fails, naming the gaps, if it is not within 10 s).

use super::super::{await_mesh, ClusterTarget, Member, TopologyGuard};
use crate::chaos::helper::DEADLINE_MARGIN;
use crate::chaos::{HelperEffect, Reply};
use crate::dist::term::{atom, int, list, Term};
use crate::dist::DistClient;
use chaos_engine::Effect;
use futures::future::BoxFuture;
use std::time::{Duration, Instant};

pub(crate) const SNIPPET: &str = include_str!("../../snippets/cluster_cut.erl");

/// The wrong cookies the two sides of a cut hold for each other (two, so
/// the sides never agree); the audit looks for them after a run.
pub const CUT_COOKIES: [&str; 2] = ["chaos_monkey_cut_a", "chaos_monkey_cut_b"];

/// How long the heal may take before it counts as failed.
const HEAL_LIMIT: Duration = Duration::from_secs(10);

/// How a cut behaves while in place.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Stay cut until released.
    Hold,
    /// Cut for `down`, heal for `up`, again and again until released.
    Flap {
        /// Time cut per cycle.
        down: Duration,
        /// Time healed per cycle.
        up: Duration,
    },
}

/// Start a cutting helper on `node` against `peers`; side 0 or 1 picks its cookie.
pub async fn start(
    node: &Member,
    peers: &[String],
    members: &[String],
    side: usize,
    mode: Mode,
    hold: Duration,
) -> Result<HelperEffect, String> {
    let names = |ns: &[String]| list(ns.iter().map(|n| atom(n)).collect());
    let (mode_atom, down, up) = match mode {
        Mode::Hold => ("hold", Duration::ZERO, Duration::ZERO),
        Mode::Flap { down, up } => ("flap", down, up),
    };
    let bindings: [(&str, Term); 7] = [
        ("Peers", names(peers)),
        ("Members", names(members)),
        ("CutCookie", atom(CUT_COOKIES[side % 2])),
        ("Mode", atom(mode_atom)),
        ("DownMs", int(down.as_millis() as i64)),
        ("UpMs", int(up.as_millis() as i64)),
        (
            "DeadlineMs",
            int((hold + DEADLINE_MARGIN).as_millis() as i64),
        ),
    ];
    match node.target.reply(SNIPPET, &bindings).await {
        reply @ Reply::Confirmed(..) => {
            let helper = reply.helper().expect("a cut always has its helper");
            Ok(node.target.held_by(
                helper,
                hold,
                format!("{} cut from {}", node.name, peers.join(", ")),
            ))
        }
        Reply::Failed(why)
        | Reply::Skipped(why)
        | Reply::Guarded(why)
        | Reply::Unconfirmed(why, _) => Err(format!("{}: {why}", node.name)),
        Reply::Gone => Err(format!("{}: the helper died", node.name)),
    }
}

/// Cut every `(node, peers, side)` at once; on any failure, heal the ones started.
pub async fn start_all(
    cuts: &[(&Member, Vec<String>, usize)],
    members: &[String],
    mode: Mode,
    hold: Duration,
) -> Result<Vec<HelperEffect>, String> {
    let started = futures::future::join_all(
        cuts.iter()
            .map(|(node, peers, side)| start(node, peers, members, *side, mode, hold)),
    )
    .await;
    let (ok, failed): (Vec<_>, Vec<_>) = started.into_iter().partition(Result::is_ok);
    let ok: Vec<HelperEffect> = ok.into_iter().map(Result::unwrap).collect();
    if failed.is_empty() {
        return Ok(ok);
    }
    futures::future::join_all(ok.iter().map(|h| h.undo())).await;
    Err(failed
        .into_iter()
        .filter_map(Result::err)
        .collect::<Vec<_>>()
        .join("; "))
}

/// The cut as one effect: release every helper, then check the mesh.
pub struct CutEffect {
    helpers: Vec<HelperEffect>,
    hold: Duration,
    what: String,
    /// Every member that was up, to check the mesh after the heal.
    mesh: Vec<(String, DistClient)>,
    /// Released once healed (not only when the effect is dropped).
    topology: std::sync::Mutex<Option<TopologyGuard>>,
}

impl CutEffect {
    /// The effect of `helpers`, holding the cluster's topology until healed.
    pub fn new(
        ctx: &ClusterTarget,
        helpers: Vec<HelperEffect>,
        hold: Duration,
        what: String,
        topology: TopologyGuard,
    ) -> Self {
        Self {
            helpers,
            hold,
            what,
            mesh: ctx
                .up()
                .iter()
                .map(|m| (m.name.clone(), m.target.client.clone()))
                .collect(),
            topology: std::sync::Mutex::new(Some(topology)),
        }
    }
}

impl Effect for CutEffect {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn hold(&self) -> Duration {
        self.hold
    }

    fn undo(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let start = Instant::now();
            let undone = futures::future::join_all(self.helpers.iter().map(|h| h.undo())).await;
            let mut errors: Vec<String> = undone.into_iter().filter_map(Result::err).collect();
            let members: Vec<(&str, &DistClient)> = self
                .mesh
                .iter()
                .filter(|(_, c)| c.closed_reason().is_none())
                .map(|(n, c)| (n.as_str(), c))
                .collect();
            let (gaps, _) = await_mesh(&members, HEAL_LIMIT).await;
            if !gaps.is_empty() {
                errors.push(format!(
                    "the mesh is not whole after the heal: {}",
                    gaps.join("; ")
                ));
            }
            tracing::debug!(what = %self.what, heal_ms = start.elapsed().as_millis() as u64, "healed");
            self.topology.lock().unwrap().take();
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors.join("; "))
            }
        })
    }
}

/// Sides `a` and `b` as text: `{a1, a2} | {b1}`.
pub fn sides_text(a: &[String], b: &[String]) -> String {
    format!("{{{}}} | {{{}}}", a.join(", "), b.join(", "))
}
