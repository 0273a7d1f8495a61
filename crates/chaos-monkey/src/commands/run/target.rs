//! What a run needs of its target besides the engine's ([`RunTarget`]), and
//! one node as such a target.

use super::operations::operations;
use super::settings::RunSettings;
use crate::exit::CliError;
use crate::output;
use chaos_beam::chaos::BeamTarget;
use chaos_engine::{AuditFinding, Operation, Reach, Report, Schedule};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a run needs of its target besides the engine's: one node
/// ([`BeamTarget`]) or a cluster (`commands/cluster.rs`).
pub trait RunTarget: chaos_engine::Target + chaos_proxy::ops::ProxyHost + Sized {
    /// Take the steady-state baseline (after the proxies started).
    fn with_detection(
        self,
        detect: chaos_beam::chaos::detect::DetectSettings,
    ) -> Result<Self, CliError>;
    /// Compile the snippets into temporary modules on the target(s) (and start their janitor).
    fn compile_snippets(&self) -> Result<(), chaos_beam::eval::EvalError>;
    /// Start the run's watchers on the target(s) if compiling did not, and
    /// list the first victims (before the clock starts).
    fn first_victims(&self) -> Result<(), chaos_beam::eval::EvalError>;
    /// Hand over the fault proxies.
    fn with_proxies(self, proxies: Vec<chaos_proxy::Proxy>) -> Self;
    /// The operations of a run, with their weights.
    fn operations(s: &RunSettings) -> Vec<(Arc<dyn Operation<Self>>, u32)>;
    /// Print the schedule and the victims it would pick.
    fn dry_run(&self, schedule: Schedule<Self>) -> Result<(), CliError>;
    /// What is still there after clean-up.
    fn audit(&self) -> Vec<AuditFinding>;
    /// What chaos can reach (eligible victims, and per rule those left out), when the target counts it.
    fn reach(&self) -> Option<Reach> {
        None
    }
    /// Read what the report's structure sections need, before the clock
    /// starts, and start watching what the target reports for `run_for`.
    fn read_structure(&self, _run_for: std::time::Duration) {}
    /// What the run is against, for the log and the report.
    fn describe(&self, s: &RunSettings) -> String;
    /// Target-specific report sections.
    fn finish_report(&self, _report: &mut Report, _record: &chaos_engine::RunRecord) {}
    /// Close the connections.
    fn close(&self);
}

impl RunTarget for BeamTarget {
    fn with_detection(
        self,
        detect: chaos_beam::chaos::detect::DetectSettings,
    ) -> Result<Self, CliError> {
        // User metrics must run and give a number before anything is put
        // on the node (a bad one is a config error, exit 2).
        smol::block_on(self.check_metrics(&detect.metrics)).map_err(|e| {
            if self.client.closed_reason().is_some() {
                CliError::unreachable(e)
            } else {
                CliError::usage(e)
            }
        })?;
        smol::block_on(BeamTarget::with_detection(self, detect)).map_err(baseline_error)
    }

    fn compile_snippets(&self) -> Result<(), chaos_beam::eval::EvalError> {
        smol::block_on(BeamTarget::compile_snippets(self))
    }

    fn first_victims(&self) -> Result<(), chaos_beam::eval::EvalError> {
        smol::block_on(async {
            self.start_watchers().await?;
            self.candidates().await.map(|_| ())
        })
    }

    fn with_proxies(self, proxies: Vec<chaos_proxy::Proxy>) -> Self {
        BeamTarget::with_proxies(self, proxies)
    }

    fn operations(s: &RunSettings) -> Vec<(Arc<dyn Operation<Self>>, u32)> {
        operations(s)
    }

    fn dry_run(&self, schedule: Schedule<Self>) -> Result<(), CliError> {
        dry_run(self, schedule)
    }

    fn audit(&self) -> Vec<AuditFinding> {
        // The report collector ends first: its filter must not outlive the run.
        let mut findings = Vec::new();
        if let Err(e) = smol::block_on(self.finish_causes()) {
            findings.push(AuditFinding::left(format!("the report collector: {e}")));
        }
        findings.extend(smol::block_on(BeamTarget::audit(self)).unwrap_or_else(|e| {
            vec![AuditFinding::left(format!(
                "the after-run audit failed: {e}"
            ))]
        }));
        findings
    }

    fn describe(&self, s: &RunSettings) -> String {
        s.target.node().to_string()
    }

    fn reach(&self) -> Option<Reach> {
        smol::block_on(BeamTarget::reach(self)).ok()
    }

    fn read_structure(&self, run_for: std::time::Duration) {
        if let Err(e) = smol::block_on(self.read_supervision()) {
            tracing::warn!(error = %e, "could not read the supervision model; the report has no structure section");
        }
        if let Err(e) = smol::block_on(self.start_causes(run_for)) {
            tracing::warn!(error = %e, "could not collect the node's supervisor reports; no cause chains");
        }
    }

    fn finish_report(&self, report: &mut Report, _record: &chaos_engine::RunRecord) {
        // What the detectors could not look for (JUnit: skipped, with why).
        let not_run: serde_json::Map<String, serde_json::Value> = self
            .detectors_not_run()
            .into_iter()
            .map(|(kind, why)| (kind.to_string(), serde_json::Value::String(why)))
            .collect();
        if !not_run.is_empty() {
            report.extras.insert(
                chaos_report::DETECTORS_NOT_RUN.to_string(),
                serde_json::Value::Object(not_run),
            );
        }
        // Which memory limit the memory check compared with, and its figure.
        if let Some(limit) = self.memory_limit() {
            report.extras.insert(
                "memory_limit".to_string(),
                serde_json::to_value(limit).expect("serialisable"),
            );
        }
        report
            .extras
            .insert("ets_shapes".to_string(), self.ets_shapes());
        if !self.metrics_json().as_array().is_none_or(|a| a.is_empty()) {
            report
                .extras
                .insert("metrics".to_string(), self.metrics_json());
        }
        let mut section = self.supervision_section(report.supervision.take());
        section.restarts_not_ours = self.restarts_not_ours();
        report.supervision = Some(section);
        // Supervisors the node reported giving up that no other failure mode covers.
        let collapse = chaos_beam::failure_kind::FailureKind::SupervisorCollapse.name();
        let stopped: Vec<String> = report
            .failure_modes
            .iter()
            .filter(|m| m.kind == collapse)
            .map(|m| m.subject.clone())
            .collect();
        report.add_failure_modes(self.collapses(&stopped));
        // Each application that stopped gets the chain of the node's own reports.
        for mode in report
            .failure_modes
            .iter_mut()
            .filter(|m| m.kind == collapse)
        {
            if let Some(chain) = self.cause_chain(&mode.subject) {
                if let Some(map) = mode.evidence.as_object_mut() {
                    map.insert("cause".into(), serde_json::Value::String(chain));
                }
            }
        }
        report.extras.insert("lease".to_string(), lease_json(self));
        // Real messages clear_mailbox dropped (--allow-message-loss).
        if let Some(loss) = self.message_loss() {
            report.extras.insert("message_loss".to_string(), loss);
        }
        // Primed before the clock started, and compiled during the run
        // (custom snippets; each one's names are new atoms on its first time).
        report.extras.insert(
            "compiled_snippets".to_string(),
            serde_json::to_value(chaos_beam::compiled::stats(&self.client)).expect("serialisable"),
        );
    }

    fn close(&self) {
        self.end_lease();
        self.client.close();
    }
}

/// The lease's figures for the report: its term, the renewals sent, and how
/// often it ended while the connection was up (each time, every effect then
/// held was undone early).
pub fn lease_json(target: &BeamTarget) -> serde_json::Value {
    let stats = target.lease_stats();
    serde_json::json!({
        "term_ms": target.lease_term().as_millis() as u64,
        "renewals": stats.renewals,
        "expired_while_connected": stats.expired_while_connected,
        "keeper_lost": stats.keeper_lost,
    })
}

/// A failed steady-state baseline: exit 3 when the node went away, else 1.
pub fn baseline_error(e: chaos_beam::eval::EvalError) -> CliError {
    if e.is_disconnect() {
        CliError::unreachable(e)
    } else {
        CliError::failed(format!("could not take the steady-state baseline: {e}"))
    }
}

/// The chaos context on one connected node (no detection yet).
pub fn beam_target(
    s: &RunSettings,
    client: chaos_beam::dist::DistClient,
) -> Result<BeamTarget, CliError> {
    let target = smol::block_on(BeamTarget::new(client, s.profile, s.safety.clone(), s.seed))
        .map_err(|e| {
            if e.is_disconnect() {
                CliError::unreachable(e)
            } else {
                CliError::failed(e)
            }
        })?;
    target.set_lease_term(s.lease);
    Ok(target)
}

fn dry_run(target: &BeamTarget, schedule: Schedule<BeamTarget>) -> Result<(), CliError> {
    let candidates: Vec<_> = smol::block_on(target.candidates())
        .map_err(CliError::failed)?
        .iter()
        .filter(|c| !c.supervisor)
        .cloned()
        .collect();
    let mut by_app: BTreeMap<String, usize> = BTreeMap::new();
    for c in &candidates {
        *by_app
            .entry(c.app.clone().unwrap_or_else(|| "(no application)".into()))
            .or_default() += 1;
    }
    println!("eligible victims: {} worker processes", candidates.len());
    for (app, n) in &by_app {
        println!("  {app}: {n}");
    }
    if let Ok(reach) = smol::block_on(target.reach()) {
        println!("left out: {}", reach.describe_excluded());
        let mut rules: Vec<_> = reach.excluded.iter().collect();
        rules.sort_by(|a, b| b.1.cmp(a.1));
        for (rule, n) in rules {
            println!("  {n} {rule}");
        }
    }
    let mut rng = schedule.stream("victims");
    println!("schedule ({} operations):", schedule.len());
    for planned in schedule {
        let victim = if candidates.is_empty() {
            "no eligible victim".to_string()
        } else {
            let c = &candidates[rng.range_inclusive(0, candidates.len() as u64 - 1) as usize];
            format!(
                "e.g. {} {}",
                c.pid_text,
                c.name.clone().unwrap_or_else(|| c.initial_call.clone())
            )
        };
        println!("{} -> {victim}", output::planned_line(&planned));
    }
    Ok(())
}
