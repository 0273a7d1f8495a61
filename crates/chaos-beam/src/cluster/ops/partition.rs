//! Network chaos across the cluster: split it into two sides for a while
//! and hold the split (see the module docs of `cluster` for how), then heal
//! it. Confirmed when, on every node, `nodes()` shows nobody from the other
//! side; the heal is checked by the effect (full mesh again).

use super::super::on_node::on_node;
use super::super::{mesh_gaps, mesh_of, ClusterTarget};
use super::cut::{self, CutEffect, Mode};
use crate::dist::DistClient;
use chaos_engine::{Category, Outcome, Profile, SeededRng, TypedOperation};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::{Duration, Instant};

/// How long both sides may take to be whole after the cut.
const SIDES_WHOLE: Duration = Duration::from_secs(3);

/// Split the cluster in two and hold it.
pub struct Partition;

/// The parameters of one partition.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionParams {
    /// How long the split is held.
    pub hold_ms: u64,
    /// Picks the first member of the minority side (modulo the members up).
    pub side_pick: u64,
    /// Picks the size of the minority side (1 to half the members up).
    pub size_pick: u64,
}

impl TypedOperation<ClusterTarget> for Partition {
    type Params = PartitionParams;

    fn name(&self) -> &'static str {
        "partition"
    }

    fn category(&self) -> Category {
        Category::Network
    }

    fn describe(&self) -> &'static str {
        "split the cluster into two sides that cannot reach each other, hold the split, heal it"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> PartitionParams {
        let (low, high) = match profile {
            Profile::Demo => (2_000, 8_000),
            Profile::Aggressive => (5_000, 30_000),
        };
        PartitionParams {
            hold_ms: rng.range_inclusive(low, high),
            side_pick: rng.next_u64() % 1_000_000,
            size_pick: rng.next_u64() % 1_000_000,
        }
    }

    fn run<'a>(&'a self, ctx: &'a ClusterTarget, p: PartitionParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let t0 = Instant::now();
            let hold = Duration::from_millis(p.hold_ms);
            let up = super::up_sorted(ctx);
            if up.len() < 2 {
                return Outcome::skipped("a partition needs at least two reachable members");
            }
            let Some(topology) = ctx.claim_topology() else {
                return Outcome::skipped("another partition or flapping link is in place");
            };
            let n = up.len();
            let size = 1 + (p.size_pick as usize) % (n / 2);
            let first = (p.side_pick as usize) % n;
            let minority: Vec<usize> = (0..size).map(|i| (first + i) % n).collect();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for (i, m) in up.iter().enumerate() {
                if minority.contains(&i) {
                    a.push(*m);
                } else {
                    b.push(*m);
                }
            }
            let names = |ms: &[&super::super::Member]| -> Vec<String> {
                ms.iter().map(|m| m.name.clone()).collect()
            };
            let (a_names, b_names) = (names(&a), names(&b));
            let all: Vec<String> = up.iter().map(|m| m.name.clone()).collect();
            let cuts: Vec<_> = a
                .iter()
                .map(|m| (*m, b_names.clone(), 0))
                .chain(b.iter().map(|m| (*m, a_names.clone(), 1)))
                .collect();
            let helpers = match cut::start_all(&cuts, &all, Mode::Hold, hold).await {
                Ok(h) => h,
                Err(why) => return Outcome::failed(format!("could not cut: {why}")),
            };
            let split_ms = t0.elapsed().as_millis() as u64;
            let clients: Vec<(&str, &DistClient)> = up
                .iter()
                .map(|m| (m.name.as_str(), &m.target.client))
                .collect();
            // `global` may cut a node from its own side while the split forms;
            // the helpers reconnect it: wait for both sides to be whole.
            let deadline = Instant::now() + SIDES_WHOLE;
            let (leaks, gaps) = loop {
                let mesh = mesh_of(&clients).await;
                let leaks: Vec<String> = mesh
                    .iter()
                    .flat_map(|(node, seen)| {
                        let other = if a_names.contains(node) {
                            &b_names
                        } else {
                            &a_names
                        };
                        other
                            .iter()
                            .filter(|o| seen.contains(*o))
                            .map(move |o| format!("{node} still sees {o}"))
                    })
                    .collect();
                let side = |names: &[String]| {
                    let m = mesh
                        .iter()
                        .filter(|(n, _)| names.contains(n))
                        .map(|(n, s)| (n.clone(), s.clone()))
                        .collect();
                    mesh_gaps(&m, names)
                };
                let gaps: Vec<String> = side(&a_names).into_iter().chain(side(&b_names)).collect();
                if (leaks.is_empty() && gaps.is_empty()) || Instant::now() >= deadline {
                    break (leaks, gaps);
                }
                smol::Timer::after(Duration::from_millis(20)).await;
            };
            let whole_ms = t0.elapsed().as_millis() as u64;
            let sides = cut::sides_text(&a_names, &b_names);
            let effect = CutEffect::new(ctx, helpers, hold, format!("partition {sides}"), topology);
            let m = json!({
                "split_ms": split_ms,
                "sides_whole_ms": whole_ms,
                "sides": [a_names, b_names],
                "hold_ms": hold.as_millis() as u64,
            });
            let outcome = if leaks.is_empty() && gaps.is_empty() {
                Outcome::confirmed(format!(
                    "partitioned {sides} for {} ms: no node sees the other side",
                    hold.as_millis()
                ))
            } else {
                let wrong: Vec<String> = leaks.into_iter().chain(gaps).collect();
                Outcome::unconfirmed(format!("cut {sides}, but {}", wrong.join("; ")))
            };
            on_node(
                outcome.with_measurements(m).with_effect(Box::new(effect)),
                &a_names[0],
            )
        })
    }
}
