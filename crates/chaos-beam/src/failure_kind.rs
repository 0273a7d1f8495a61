//! The BEAM target's words in the report: its failure kinds (an enum the
//! compiler checks, written into reports under the same snake_case names as
//! always) and its [`Vocabulary`] for the engine.

use chaos_engine::{Problem, Vocabulary};
use serde::{Deserialize, Serialize};

/// Every kind of failure mode the BEAM target can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A killed process was not back in time (or nobody restarts it).
    ProcessCrash,
    /// An application stopped, or a supervisor lost children for good.
    SupervisorCollapse,
    /// Memory near the machine's (or the node's) limit.
    MemoryExhaustion,
    /// A message queue past the threshold.
    MailboxOverflow,
    /// An ETS table's rows changed under the monkey's watch.
    EtsCorruption,
    /// A registered name points at the wrong process, or vanished.
    RegistryCorruption,
    /// Late operations, slow probes, a process left suspended.
    TimingAnomaly,
    /// Processes near the node's limit.
    ProcessExhaustion,
    /// Ports near the node's limit.
    PortExhaustion,
    /// Atoms near the node's limit.
    AtomExhaustion,
    /// ETS tables near the node's limit.
    EtsExhaustion,
    /// The process count grew past its baseline and stayed.
    ProcessLeak,
    /// The ETS table count grew past its baseline and stayed.
    EtsLeak,
    /// The node could not be reached any more.
    NodeDown,
    /// A user's probe failed or answered wrong.
    ProbeFailure,
    /// A user metric (`[[metrics]]`) over its `max`.
    MetricThreshold,
    /// A cluster member left the cluster.
    NodeLeft,
    /// Members disagree about who is connected.
    ClusterPartition,
    /// A global name points at different processes on different members.
    GlobalNameConflict,
    /// Process group memberships differ between members.
    PgDivergence,
    /// An application runs on some members and not others.
    ApplicationDivergence,
}

impl FailureKind {
    /// The kinds a single node's detectors can name.
    pub const NODE: [FailureKind; 16] = [
        FailureKind::ProcessCrash,
        FailureKind::SupervisorCollapse,
        FailureKind::MemoryExhaustion,
        FailureKind::MailboxOverflow,
        FailureKind::EtsCorruption,
        FailureKind::RegistryCorruption,
        FailureKind::TimingAnomaly,
        FailureKind::ProcessExhaustion,
        FailureKind::PortExhaustion,
        FailureKind::AtomExhaustion,
        FailureKind::EtsExhaustion,
        FailureKind::ProcessLeak,
        FailureKind::EtsLeak,
        FailureKind::NodeDown,
        FailureKind::ProbeFailure,
        FailureKind::MetricThreshold,
    ];

    /// The kinds only a cluster's detectors name.
    pub const CLUSTER: [FailureKind; 5] = [
        FailureKind::NodeLeft,
        FailureKind::ClusterPartition,
        FailureKind::GlobalNameConflict,
        FailureKind::PgDivergence,
        FailureKind::ApplicationDivergence,
    ];

    /// Its name in reports.
    pub const fn name(self) -> &'static str {
        match self {
            FailureKind::ProcessCrash => "process_crash",
            FailureKind::SupervisorCollapse => "supervisor_collapse",
            FailureKind::MemoryExhaustion => "memory_exhaustion",
            FailureKind::MailboxOverflow => "mailbox_overflow",
            FailureKind::EtsCorruption => "ets_corruption",
            FailureKind::RegistryCorruption => "registry_corruption",
            FailureKind::TimingAnomaly => "timing_anomaly",
            FailureKind::ProcessExhaustion => "process_exhaustion",
            FailureKind::PortExhaustion => "port_exhaustion",
            FailureKind::AtomExhaustion => "atom_exhaustion",
            FailureKind::EtsExhaustion => "ets_exhaustion",
            FailureKind::ProcessLeak => "process_leak",
            FailureKind::EtsLeak => "ets_leak",
            FailureKind::NodeDown => "node_down",
            FailureKind::ProbeFailure => "probe_failure",
            FailureKind::MetricThreshold => "metric_threshold",
            FailureKind::NodeLeft => "node_left",
            FailureKind::ClusterPartition => "cluster_partition",
            FailureKind::GlobalNameConflict => "global_name_conflict",
            FailureKind::PgDivergence => "pg_divergence",
            FailureKind::ApplicationDivergence => "application_divergence",
        }
    }

    /// The names of `kinds`, in order (for constant lists of names).
    pub const fn names<const N: usize>(kinds: [FailureKind; N]) -> [&'static str; N] {
        let mut out = [""; N];
        let mut i = 0;
        while i < N {
            out[i] = kinds[i].name();
            i += 1;
        }
        out
    }

    /// A problem of this kind.
    pub fn problem(
        self,
        subject: impl Into<String>,
        detail: impl Into<String>,
        immediate: bool,
    ) -> Problem {
        let (subject, detail) = (subject.into(), detail.into());
        Problem {
            kind: self.name().to_string(),
            subject: crate::elixir::readable(&subject).into_owned(),
            detail: crate::elixir::readable(&detail).into_owned(),
            immediate,
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How the BEAM target names what the engine reports about it.
pub fn vocabulary() -> Vocabulary {
    Vocabulary {
        survival_definition: "share of health samples (one per second during the run, plus one after clean-up) in which the target answered and was whole: every application running at the start was still running".to_string(),
        victim_group: "application".to_string(),
        victims: "processes".to_string(),
        target_lost: FailureKind::NodeDown.name().to_string(),
        victim_lost: FailureKind::ProcessCrash.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The serde names are the report names, for every kind.
    #[test]
    fn serde_names_are_the_report_names() {
        for k in FailureKind::NODE.iter().chain(&FailureKind::CLUSTER) {
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json, serde_json::Value::from(k.name()));
            let back: FailureKind = serde_json::from_value(json).unwrap();
            assert_eq!(back, *k);
        }
        assert_eq!(FailureKind::NODE.len() + FailureKind::CLUSTER.len(), 21);
    }
}
