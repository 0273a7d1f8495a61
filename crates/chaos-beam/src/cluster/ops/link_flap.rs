//! Network chaos on one link: cut a pair of nodes apart, let them back
//! together, and again, for a while (flapping). One-way: only one end holds
//! the cut, the other keeps trying and is refused (a distribution link is a
//! single TCP connection, so traffic cannot flow in one direction only).
//! `global` may cut a third node from one end of the flapping link (see the
//! module docs of `cluster`); the heal reconnects everyone.

use super::super::on_node::on_node;
use super::super::{mesh_of, ClusterTarget};
use super::cut::{self, CutEffect, Mode};
use chaos_engine::{Category, Outcome, Profile, SeededRng, TypedOperation};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// Flap the link between two nodes.
pub struct LinkFlap;

/// The parameters of one flapping link.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFlapParams {
    /// How long the link keeps flapping.
    pub hold_ms: u64,
    /// How long each cut lasts.
    pub down_ms: u64,
    /// How long the link is let back between cuts.
    pub up_ms: u64,
    /// Whether only one end holds the cut.
    pub one_way: bool,
    /// Picks the pair of members (modulo the possible pairs).
    pub pair_pick: u64,
}

impl TypedOperation<ClusterTarget> for LinkFlap {
    type Params = LinkFlapParams;

    fn name(&self) -> &'static str {
        "link_flap"
    }

    fn category(&self) -> Category {
        Category::Network
    }

    fn describe(&self) -> &'static str {
        "cut the link between two nodes again and again (one end or both holding the cut), then heal"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> LinkFlapParams {
        let (hold, down, up) = match profile {
            Profile::Demo => ((2_000, 6_000), (200, 1_000), (200, 1_000)),
            Profile::Aggressive => ((4_000, 20_000), (100, 3_000), (50, 1_000)),
        };
        LinkFlapParams {
            hold_ms: rng.range_inclusive(hold.0, hold.1),
            down_ms: rng.range_inclusive(down.0, down.1),
            up_ms: rng.range_inclusive(up.0, up.1),
            one_way: rng.range_inclusive(0, 1) == 1,
            pair_pick: rng.next_u64() % 1_000_000,
        }
    }

    fn run<'a>(&'a self, ctx: &'a ClusterTarget, p: LinkFlapParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let hold = Duration::from_millis(p.hold_ms);
            let mode = Mode::Flap {
                down: Duration::from_millis(p.down_ms),
                up: Duration::from_millis(p.up_ms),
            };
            let one_way = p.one_way;
            let up: Vec<_> = super::up_sorted(ctx)
                .into_iter()
                .filter(|m| m.weight > 0)
                .collect();
            if up.len() < 2 {
                return Outcome::skipped(
                    "a link needs at least two reachable members with a weight above 0",
                );
            }
            let Some(topology) = ctx.claim_topology() else {
                return Outcome::skipped("another partition or flapping link is in place");
            };
            let n = up.len();
            let pick = p.pair_pick as usize;
            // Two different members: a, then b at a distance 1..n-1 from it.
            let first = pick % n;
            let (a, b) = (up[first], up[(first + 1 + (pick / n) % (n - 1)) % n]);
            let all: Vec<String> = super::up_sorted(ctx)
                .iter()
                .map(|m| m.name.clone())
                .collect();
            let mut cuts = vec![(a, vec![b.name.clone()], 0)];
            if !one_way {
                cuts.push((b, vec![a.name.clone()], 1));
            }
            let helpers = match cut::start_all(&cuts, &all, mode, hold).await {
                Ok(h) => h,
                Err(why) => return Outcome::failed(format!("could not cut: {why}")),
            };
            let link = format!(
                "{} {} {}",
                a.name,
                if one_way { "-/->" } else { "<-/->" },
                b.name
            );
            let seen = mesh_of(&[(a.name.as_str(), &a.target.client)])
                .await
                .get(&a.name)
                .is_none_or(|nodes| nodes.contains(&b.name));
            let effect = CutEffect::new(
                ctx,
                helpers,
                hold,
                format!("flapping link {link}"),
                topology,
            );
            let detail = format!(
                "link {link} flapping for {} ms ({} ms down / {} ms up)",
                hold.as_millis(),
                p.down_ms,
                p.up_ms
            );
            let outcome = if seen {
                Outcome::unconfirmed(format!("{detail}, but {} still sees {}", a.name, b.name))
            } else {
                Outcome::confirmed(detail)
            };
            on_node(
                outcome
                    .with_measurements(json!({ "link": [a.name, b.name], "one_way": one_way }))
                    .with_effect(Box::new(effect)),
                &a.name,
            )
        })
    }
}
