//! Chaos across a distributed Erlang cluster, built by composition on the
//! single-node target: a [`ClusterTarget`] holds one [`BeamTarget`] per
//! member (each its own hidden connection), samples them all, and adds the
//! cluster-level detectors ([`detect`]). Every single-node operation runs
//! unchanged through [`OnNode`], which picks a member (seeded, per-node
//! weights; weight 0 leaves a node alone) and delegates. Node-level
//! operations (partition, flapping link, slow node, node loss) live in
//! [`ops`], one file each.
//!
//! * [`discover`] — attach to one node, read `nodes()`, connect to each member;
//! * [`detect`] — a node that left, global name conflicts, pg groups and
//!   applications that differ between nodes;
//! * [`report`] — the per-node breakdown of operations and findings.
//!
//! # How a partition is held
//!
//! Disconnecting is easy (`erlang:disconnect_node/1`); keeping nodes apart is
//! not: any message to a remote pid, a `global` sync or an application's own
//! `net_kernel:connect_node/1` reconnects them at once. `net_kernel:allow/1`
//! can only add nodes (and only checks incoming connections), and
//! `dist_auto_connect` is read for outgoing auto-connects only, does not stop
//! explicit connects and is node-wide. What holds on OTP 25–27 without
//! rebuilding anything is the **per-node cookie**: the handshake of both
//! directions uses `auth`'s cookie for the other node
//! (`erlang:set_cookie(Node, Cookie)`), so a node that holds a wrong cookie
//! for a peer neither reaches it nor accepts it ("Connection attempt from
//! node … rejected. Invalid challenge reply." in the peer's log). A helper on
//! every node of both sides (the two sides use different wrong cookies, or
//! they would agree with each other) saves the cookies it replaces, sets the
//! wrong one, disconnects, and disconnects again on any `nodeup` that slips
//! through. It heals — puts the saved cookies back (an entry that did not
//! exist before is deleted again inside `auth` with `sys:replace_state/3`),
//! then reconnects to every member until the mesh is whole — when released,
//! at its deadline, and at once when the monkey's lease on its node ends: a
//! killed, frozen or cut-off monkey leaves a healed cluster (see
//! [`crate::lease`]).
//!
//! `global` with `prevent_overlapping_partitions` (default from OTP 25)
//! disconnects nodes itself when one reports a lost connection that another
//! still has. That races with the cut: while a split forms, `global` may
//! also cut a node from its own side (seen on OTP 25 when the helpers on
//! the two sides start a millisecond apart). The holding helpers reconnect
//! a member of their own side at once, and a partition is confirmed only
//! when both sides are whole again (`sides_whole_ms` in its measurements).
//! A single flapping link is worse: on OTP 25, a
//! flap of A–B in a three-node cluster made `global` cut the third node
//! from both ends, so all three stood apart, A and B met again at every
//! "up" phase, and the third node only came back at the heal. The helpers
//! do not fight `global` during the chaos; they reconnect every member at
//! the heal. Every refused handshake is logged by the refusing node, so a
//! partition leaves error reports in the nodes' logs while it lasts.
//!
//! Limits: the helpers run on the target nodes, so a node the monkey cannot
//! reach cannot be cut; `erlang:get_cookie/1` needs OTP 24.1 or later (the
//! tests run on OTP 25); a node whose `auth` keeps its per-node cookies
//! elsewhere than the `cookies` table gets its saved cookie set back (same
//! effect) instead of the entry deleted.

pub mod detect;
pub mod discover;
mod on_node;
pub mod ops;
pub mod report;

pub use discover::{connect_cluster, ClusterError};
pub use on_node::OnNode;

use crate::chaos::BeamTarget;
use crate::dist::term::{atom, list, show, TermExt};
use crate::dist::DistClient;
use crate::eval::eval_with_timeout;
use chaos_engine::{AuditFinding, Problem, Sample, SeededRng, Target};
use futures::future::BoxFuture;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One node of the cluster.
pub struct Member {
    /// Its name, `name@host`.
    pub name: String,
    /// The single-node chaos context on it (its own connection).
    pub target: BeamTarget,
    /// Its weight when an operation picks a node (0: never picked).
    pub weight: u32,
}

impl Member {
    /// Still reachable over our connection.
    pub fn is_up(&self) -> bool {
        self.target.client.closed_reason().is_none()
    }
}

/// The context every cluster operation runs in.
pub struct ClusterTarget {
    members: Vec<Member>,
    picks: Mutex<SeededRng>,
    /// A partition or flapping link is in place (one at a time).
    topology: Arc<AtomicBool>,
    /// Nodes an operation stopped on purpose: name → how.
    stopped: Mutex<BTreeMap<String, String>>,
    detector: Mutex<detect::ClusterDetector>,
    proxies: Vec<chaos_proxy::Proxy>,
}

/// Holds the cluster's topology for one partition or link effect; dropping
/// it lets the next one start.
pub struct TopologyGuard(Arc<AtomicBool>);

impl Drop for TopologyGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl ClusterTarget {
    /// A cluster of `members` (each with its weight); takes the cluster
    /// baseline (membership, applications everywhere) now.
    pub async fn new(members: Vec<(BeamTarget, u32)>, seed: u64) -> Result<Self, String> {
        let members: Vec<Member> = members
            .into_iter()
            .map(|(target, weight)| Member {
                name: target.client.target().to_string(),
                target,
                weight,
            })
            .collect();
        let cluster = Self {
            members,
            picks: Mutex::new(SeededRng::new(seed).stream("nodes")),
            topology: Arc::new(AtomicBool::new(false)),
            stopped: Mutex::new(BTreeMap::new()),
            detector: Mutex::new(detect::ClusterDetector::default()),
            proxies: Vec::new(),
        };
        let views = detect::views(&cluster).await;
        let baseline = detect::ClusterDetector::new(&cluster.names(), &views)?;
        *cluster.detector.lock().unwrap() = baseline;
        Ok(cluster)
    }

    /// Take each member's steady-state baseline (`settings` is asked once
    /// per member, in order: probes may go to one member only).
    pub async fn with_member_detection(
        mut self,
        mut settings: impl FnMut() -> crate::chaos::detect::DetectSettings,
    ) -> Result<Self, crate::eval::EvalError> {
        let members = std::mem::take(&mut self.members);
        let each: Vec<_> = members.iter().map(|_| settings()).collect();
        let detected =
            futures::future::join_all(members.into_iter().zip(each).map(|(m, d)| async move {
                let target = m.target.with_detection(d).await?;
                Ok::<_, crate::eval::EvalError>(Member { target, ..m })
            }))
            .await;
        self.members = detected.into_iter().collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Compile the snippets into temporary modules on every member.
    pub async fn compile_snippets(&self) -> Result<(), crate::eval::EvalError> {
        // Every member primes the node-level operations' snippets too.
        let extra = ops::snippets();
        let all = futures::future::join_all(
            self.members
                .iter()
                .map(|m| m.target.compile_snippets_with(&extra)),
        );
        all.await.into_iter().collect()
    }

    /// Fault proxies in front of the cluster's services (for the proxy operations).
    pub fn with_proxies(mut self, proxies: Vec<chaos_proxy::Proxy>) -> Self {
        self.proxies = proxies;
        self
    }

    /// Every member, in the order they were attached.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Member names.
    pub fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Members still reachable and not stopped on purpose.
    pub fn up(&self) -> Vec<&Member> {
        let stopped = self.stopped.lock().unwrap();
        self.members
            .iter()
            .filter(|m| m.is_up() && !stopped.contains_key(&m.name))
            .collect()
    }

    /// Draw a reachable member by weight (from the run's node stream).
    pub fn pick(&self) -> Option<&Member> {
        let up: Vec<&Member> = self.up().into_iter().filter(|m| m.weight > 0).collect();
        let total: u64 = up.iter().map(|m| u64::from(m.weight)).sum();
        if total == 0 {
            return None;
        }
        let mut at = self.picks.lock().unwrap().range_inclusive(0, total - 1);
        for m in &up {
            if at < u64::from(m.weight) {
                return Some(m);
            }
            at -= u64::from(m.weight);
        }
        None
    }

    /// Claim the topology for a partition or link effect; `None` while another holds it.
    pub fn claim_topology(&self) -> Option<TopologyGuard> {
        self.topology
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| TopologyGuard(self.topology.clone()))
    }

    /// A partition or link effect is in place now.
    pub fn topology_held(&self) -> bool {
        self.topology.load(Ordering::SeqCst)
    }

    /// Record that an operation stopped `node` on purpose.
    pub fn note_stopped(&self, node: &str, how: &str) {
        self.stopped
            .lock()
            .unwrap()
            .insert(node.to_string(), how.to_string());
    }

    /// Nodes stopped on purpose, with how.
    pub fn stopped(&self) -> BTreeMap<String, String> {
        self.stopped.lock().unwrap().clone()
    }

    /// After clean-up: what each node's audit found (prefixed with the node),
    /// plus what the cluster still shows: a cookie still set to a cutting
    /// value, a mesh that is not whole.
    pub async fn audit(&self) -> Vec<AuditFinding> {
        let mut out = Vec::new();
        for m in self.up() {
            match m.target.audit().await {
                Ok(found) => out.extend(found.into_iter().map(|mut a| {
                    a.detail = format!("{}: {}", m.name, a.detail);
                    a
                })),
                Err(e) => out.push(AuditFinding::left(format!(
                    "{}: the after-run audit failed: {e}",
                    m.name
                ))),
            }
        }
        let names = list(self.names().iter().map(|n| atom(n)).collect());
        let cuts = list(ops::CUT_COOKIES.iter().map(|c| atom(c)).collect());
        for m in self.up() {
            let snippet = "[P || P <- Members, P =/= node(), \
                lists:member(erlang:get_cookie(P), Cuts)].";
            let held = eval_with_timeout(
                &m.target.client,
                snippet,
                &[("Members", names.clone()), ("Cuts", cuts.clone())],
                Duration::from_secs(5),
            )
            .await;
            if let Ok(t) = held {
                for p in t.as_list().unwrap_or_default().iter() {
                    out.push(AuditFinding::left(format!(
                        "{}: the cookie for {} is still a cutting cookie (partition not healed)",
                        m.name,
                        show(p)
                    )));
                }
            }
        }
        let mesh = self.mesh().await;
        for gap in mesh_gaps(&mesh, &self.up_names()) {
            out.push(AuditFinding::left(format!("the mesh is not whole: {gap}")));
        }
        out
    }

    fn up_names(&self) -> Vec<String> {
        self.up().iter().map(|m| m.name.clone()).collect()
    }

    /// `nodes()` as each reachable member sees it.
    pub async fn mesh(&self) -> BTreeMap<String, BTreeSet<String>> {
        let up: Vec<(&str, &DistClient)> = self
            .up()
            .iter()
            .map(|m| (m.name.as_str(), &m.target.client))
            .collect();
        mesh_of(&up).await
    }

    /// Close every connection.
    pub fn close(&self) {
        for m in &self.members {
            m.target.end_lease();
            m.target.client.close();
        }
    }
}

/// `nodes()` on each of `members`, concurrently (members that do not answer are left out).
pub async fn mesh_of(members: &[(&str, &DistClient)]) -> BTreeMap<String, BTreeSet<String>> {
    let asks = members.iter().map(|(name, client)| async move {
        let seen = eval_with_timeout(client, discover::NODES, &[], Duration::from_secs(5))
            .await
            .ok()?;
        let seen: BTreeSet<String> = seen
            .as_list()
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n.as_atom().map(str::to_string))
            .collect();
        Some((name.to_string(), seen))
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Pairs of `expected` members that do not see each other, as text.
pub fn mesh_gaps(mesh: &BTreeMap<String, BTreeSet<String>>, expected: &[String]) -> Vec<String> {
    let mut gaps = Vec::new();
    for (node, seen) in mesh {
        let missing: Vec<&str> = expected
            .iter()
            .filter(|n| *n != node && !seen.contains(*n))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            gaps.push(format!("{node} does not see {}", missing.join(", ")));
        }
    }
    gaps
}

/// Poll until every one of `members` sees all the others, or `limit`; the
/// gaps left (empty when whole) and how long it took.
pub async fn await_mesh(
    members: &[(&str, &DistClient)],
    limit: Duration,
) -> (Vec<String>, Duration) {
    let start = Instant::now();
    let expected: Vec<String> = members.iter().map(|(n, _)| n.to_string()).collect();
    loop {
        let gaps = mesh_gaps(&mesh_of(members).await, &expected);
        if gaps.is_empty() || start.elapsed() >= limit {
            return (gaps, start.elapsed());
        }
        smol::Timer::after(Duration::from_millis(20)).await;
    }
}

impl chaos_proxy::ops::ProxyHost for ClusterTarget {
    fn proxies(&self) -> &[chaos_proxy::Proxy] {
        &self.proxies
    }
}

impl Target for ClusterTarget {
    fn sample(&self) -> BoxFuture<'_, Result<Sample, String>> {
        Box::pin(async move {
            let stopped = self.stopped();
            let samples = futures::future::join_all(self.members.iter().map(|m| async move {
                if m.is_up() {
                    Some(m.target.sample().await)
                } else {
                    None
                }
            }))
            .await;
            let views = detect::views(self).await;
            let mut problems: Vec<Problem> = Vec::new();
            let mut resources: BTreeMap<String, u64> = BTreeMap::new();
            let mut healthy = true;
            let mut answered = 0;
            for (m, s) in self.members.iter().zip(samples) {
                match s {
                    Some(Ok(s)) => {
                        answered += 1;
                        healthy &= s.healthy;
                        for mut p in s.problems {
                            p.subject = format!("{}: {}", m.name, p.subject);
                            p.detail = format!("on {}: {}", m.name, p.detail);
                            problems.push(p);
                        }
                        for (k, v) in s.resources {
                            *resources.entry(k).or_default() += v;
                        }
                    }
                    Some(Err(_)) | None => healthy = false,
                }
            }
            if answered == 0 {
                return Err("no member of the cluster answered".to_string());
            }
            problems.extend(self.detector.lock().unwrap().problems(
                &views,
                &self.members,
                &stopped,
                self.topology_held(),
            ));
            Ok(Sample {
                t_ms: 0,
                healthy,
                problems,
                resources,
            })
        })
    }

    fn gone(&self) -> BoxFuture<'_, String> {
        Box::pin(async move {
            let reasons =
                futures::future::join_all(self.members.iter().map(|m| async move {
                    format!("{}: {}", m.name, m.target.client.closed().await)
                }))
                .await;
            format!(
                "every member of the cluster is gone ({})",
                reasons.join("; ")
            )
        })
    }
}
