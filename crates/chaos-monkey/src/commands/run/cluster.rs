//! `run` across a cluster: attaching to every member (settings in
//! [`super::cluster_settings`]), and the cluster as a [`RunTarget`]. Every single-node operation runs on a member picked by
//! weight ([`OnNode`]); the node-level operations come on top.

use super::cluster_settings::ClusterSettings;
use super::operations::{custom_ops, proxy_ops, weighted};
use super::settings::RunSettings;
use super::target::{baseline_error, beam_target, lease_json, RunTarget};
use crate::exit::CliError;
use chaos_beam::chaos::ops::builtin;
use chaos_beam::cluster::{self, ClusterTarget, OnNode};
use chaos_beam::dist::Cookie;
use chaos_engine::{admit, AuditFinding, Operation, Report, RunRecord, Schedule};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Attach to every member (exit 3 when one cannot be reached) and build the
/// cluster context (no detection yet).
pub fn attach(s: &RunSettings, c: &ClusterSettings) -> Result<ClusterTarget, CliError> {
    let t = &s.target;
    let shared = crate::commands::attach::cookie(t)?;
    let mut own = BTreeMap::new();
    for (node, path) in &c.cookie_files {
        let cookie = Cookie::resolve(None, Some(path))
            .map_err(|e| CliError::usage(format!("[cluster.node.\"{node}\"]: {e}")))?;
        own.insert(node.clone(), cookie);
    }
    let first = crate::commands::attach::connect_options(
        t,
        own.get(&t.node().to_string())
            .cloned()
            .unwrap_or_else(|| shared.clone()),
    );
    tracing::info!(node = %t.node(), discover = c.discover, "attaching to the cluster");
    let clients = smol::block_on(cluster::connect_cluster(
        &first,
        &c.extra,
        c.discover,
        |n| {
            own.get(&n.to_string())
                .cloned()
                .unwrap_or_else(|| shared.clone())
        },
    ))
    .map_err(CliError::unreachable)?;
    let mut members = Vec::new();
    for client in clients {
        let weight = c
            .weights
            .get(&client.target().to_string())
            .copied()
            .unwrap_or(1);
        members.push((beam_target(s, client)?, weight));
    }
    smol::block_on(ClusterTarget::new(members, s.seed)).map_err(CliError::failed)
}

impl RunTarget for ClusterTarget {
    fn with_detection(
        self,
        detect: chaos_beam::chaos::detect::DetectSettings,
    ) -> Result<Self, CliError> {
        // Probes and user metrics run once, against the first member.
        if let Some(first) = self.members().first() {
            smol::block_on(first.target.check_metrics(&detect.metrics)).map_err(CliError::usage)?;
        }
        let quiet = chaos_beam::chaos::detect::DetectSettings {
            probes: Vec::new(),
            metrics: Vec::new(),
            ..detect.clone()
        };
        let mut first = true;
        smol::block_on(self.with_member_detection(|| {
            let d = if first { detect.clone() } else { quiet.clone() };
            first = false;
            d
        }))
        .map_err(baseline_error)
    }

    fn compile_snippets(&self) -> Result<(), chaos_beam::eval::EvalError> {
        smol::block_on(ClusterTarget::compile_snippets(self))
    }

    fn first_victims(&self) -> Result<(), chaos_beam::eval::EvalError> {
        let lists = self.members().iter().map(|m| async {
            m.target.start_watchers().await?;
            m.target.candidates().await
        });
        let lists = smol::block_on(futures::future::join_all(lists));
        lists.into_iter().try_for_each(|l| l.map(|_| ()))
    }

    fn with_proxies(self, proxies: Vec<chaos_proxy::Proxy>) -> Self {
        ClusterTarget::with_proxies(self, proxies)
    }

    fn operations(s: &RunSettings) -> Vec<(Arc<dyn Operation<Self>>, u32)> {
        let on_node = admit(builtin(), &s.allow)
            .into_iter()
            .map(|op| Arc::new(OnNode(op)) as Arc<dyn Operation<ClusterTarget>>);
        let mut ops = weighted(
            s,
            on_node
                .chain(admit(cluster::ops::node_ops(), &s.allow))
                .chain(proxy_ops(s)),
        );
        ops.extend(
            custom_ops(s).map(|(op, w)| (Arc::new(OnNode(op)) as Arc<dyn Operation<Self>>, w)),
        );
        ops
    }

    fn dry_run(&self, schedule: Schedule<Self>) -> Result<(), CliError> {
        println!("cluster members:");
        for m in self.members() {
            let victims = smol::block_on(m.target.candidates())
                .map(|c| c.iter().filter(|c| !c.supervisor).count())
                .map_err(CliError::failed)?;
            println!(
                "  {} (weight {}): {victims} eligible worker processes",
                m.name, m.weight
            );
        }
        println!("schedule ({} operations):", schedule.len());
        for planned in schedule {
            println!("{}", crate::output::planned_line(&planned));
        }
        Ok(())
    }

    fn audit(&self) -> Vec<AuditFinding> {
        smol::block_on(ClusterTarget::audit(self))
    }

    fn describe(&self, _s: &RunSettings) -> String {
        format!("cluster {{{}}}", self.names().join(", "))
    }

    fn finish_report(&self, report: &mut Report, record: &RunRecord) {
        let up: Vec<String> = self.up().iter().map(|m| m.name.clone()).collect();
        let by_node = cluster::report::by_node(report, record, &self.names(), &up, &self.stopped());
        report.extras.insert(
            "by_node".to_string(),
            serde_json::to_value(by_node).expect("serialisable"),
        );
        let leases: serde_json::Map<String, serde_json::Value> = self
            .members()
            .iter()
            .map(|m| (m.name.clone(), lease_json(&m.target)))
            .collect();
        report
            .extras
            .insert("lease".to_string(), serde_json::Value::Object(leases));
    }

    fn close(&self) {
        ClusterTarget::close(self);
    }
}

#[cfg(test)]
mod tests {
    use super::super::settings::settings_for as settings;
    use std::path::Path;

    #[test]
    fn one_node_is_not_a_cluster() {
        let s = settings(&["--node", "a@h"], "").unwrap();
        assert!(s.cluster.is_none());
    }

    #[test]
    fn cluster_from_flags_and_config() {
        let s = settings(&["--node", "a@h", "--node", "b@h", "--node", "c@h"], "").unwrap();
        let c = s.cluster.unwrap();
        assert!(!c.discover);
        assert_eq!(c.extra.len(), 2);
        assert_eq!(s.target.node().to_string(), "a@h");
        let toml = "node = \"a@h\"\n[cluster]\ndiscover = true\n[cluster.node.\"b@h\"]\nweight = 0\ncookie_file = \"/tmp/b\"\n";
        let c = settings(&[], toml).unwrap().cluster.unwrap();
        assert!(c.discover);
        assert_eq!(c.weights["b@h"], 0);
        assert_eq!(c.cookie_files["b@h"], Path::new("/tmp/b"));
        assert!(settings(&["--cluster", "--node", "a@h"], "")
            .unwrap()
            .cluster
            .is_some());
    }

    #[test]
    fn bad_cluster_settings_say_where() {
        let toml =
            "node = \"a@h\"\n[cluster]\ndiscover = true\n[cluster.node.\"b@h\"]\nweight = -1\n";
        let e = settings(&[], toml).unwrap_err();
        assert_eq!(e.code(), crate::exit::USAGE);
        assert!(
            e.to_string().contains("c.toml:4") && e.to_string().contains("weight"),
            "{e}"
        );
        let e = settings(&["--node", "a@h", "--node", "nohost"], "").unwrap_err();
        assert!(e.to_string().starts_with("--node nohost"), "{e}");
        let e = settings(&["--node", "a@h", "--allow-node-kill"], "").unwrap_err();
        assert!(
            e.to_string().contains("only applies to cluster runs"),
            "{e}"
        );
        let e = settings(&["--cluster", "--node", "a@h", "--allow-node-kill"], "").unwrap_err();
        assert!(e.to_string().contains("aggressive"), "{e}");
        let ok = settings(
            &[
                "--cluster",
                "--node",
                "a@h",
                "--allow-node-kill",
                "--profile",
                "aggressive",
            ],
            "[ops.partition]\nweight = 3\n",
        )
        .unwrap();
        assert!(ok.cluster.is_some() && ok.allow.contains("node_loss"));
        assert_eq!(ok.op_settings["partition"], (true, 3));
    }
}
