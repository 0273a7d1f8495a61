//! Chaos against a live BEAM node: the [`BeamTarget`] context every operation
//! runs in (victim choice under the safety rules, remote evaluation, helper
//! bookkeeping, blast-radius caps), health sampling, and the operations
//! themselves, one file each in [`ops`].
//!
//! Every operation runs as an Erlang snippet evaluated on the target. A
//! snippet answers with one of
//! `{confirmed, Detail, Measurements}`, `{unconfirmed, Detail}`,
//! `{skipped, Detail}`, `{failed, Detail}` or `gone` (the victim died before
//! we could act: pick another). Processes a snippet leaves running (holders
//! of memory, suspenders) are *helpers*: they undo their own effect when told
//! to, or by themselves after a deadline, so nothing outlives a lost monkey
//! for long.
//!
//! What lives where: this file — the [`BeamTarget`] itself (the connection,
//! the lease, evaluating snippets, the helper ledger, health samples);
//! `candidate` — one process chaos may touch; `victims` — the lists and picks; `caps` — kills per second and the
//! blast radius; `gate` — the restart-budget gate's prediction before a
//! kill; `causes` — the node's own supervisor reports and cause chains; `reply` — reading a snippet's
//! answer; `audit` — what is left after a run; [`ops`] — one file per
//! operation; [`detect`] — the steady state and the detectors; `helper` —
//! the effect a helper holds; [`safety`](Safety) — who may be touched.

pub mod custom;
pub mod detect;
pub(crate) mod helper;
pub mod ops;
mod safety;

mod audit;
mod candidate;
mod caps;
mod causes;
mod gate;
mod leasing;
mod process_index;
mod reach;
mod reply;
mod supervision_keeper;
mod victims;

pub use candidate::Candidate;
use caps::Budget;
pub use causes::{chain as cause_chain, Cause};
pub use gate::HeldNames;
pub use helper::HelperEffect;
use leasing::Leasing;
pub(crate) use process_index::PROCESS_INDEX;
pub use reach::reach;
pub(crate) use reach::REACH;
pub use reply::Reply;
pub use safety::{BudgetPolicy, Safety, SafetyError};
pub(crate) use supervision_keeper::SUPERVISION_KEEPER;
use victims::VictimSource;
pub use victims::{Want, MAX_CANDIDATES, MAX_SCAN};

use crate::dist::json::to_json;
use crate::dist::term::{atom, binary, int, list, Pid, Term, TermExt};
use crate::dist::DistClient;
use crate::eval::{eval_with_extra, eval_with_timeout, EvalError};
use chaos_engine::{Outcome, Profile, Recovery, Sample, SeededRng, Target, Victim};
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The victim list; its first lines tell the runtime's applications from the user's.
pub(crate) const CANDIDATES: &str = concat!(
    include_str!("../snippets/safety_rules.erl"),
    include_str!("../snippets/index_sample.erl"),
    include_str!("../snippets/candidates.erl")
);
pub(crate) const SAMPLE: &str = include_str!("../snippets/sample.erl");

/// Limit for one operation's snippet.
pub const OP_TIMEOUT: Duration = Duration::from_secs(15);

/// Victims under an effect, shared with the effects so they can clear themselves.
pub type Affected = std::sync::Arc<Mutex<HashMap<String, Option<String>>>>;

/// The context every BEAM operation runs in, made of parts: the connection
/// that runs snippets (`client`, with `exec`/`reply`), the victim source
/// (`victims.rs`), the budget of caps (`victims.rs`), the ledger of what the
/// run put on the node (`helper.rs`, `audit.rs`), the lease, and detection
/// (`detect/`).
pub struct BeamTarget {
    /// The connection.
    pub client: DistClient,
    /// The run's profile.
    pub profile: Profile,
    /// Safety rules.
    pub safety: Safety,
    /// Where victims come from.
    victims: VictimSource,
    /// The caps on what chaos may do at once.
    budget: Budget,
    /// What the run put on the node, for clean-up and the audit.
    ledger: Ledger,
    /// The monkey's lease on the node.
    leasing: Leasing,
    /// The steady-state detectors.
    detection: Mutex<detect::Detector>,
    /// The applications running when the monkey attached.
    baseline_apps: Vec<String>,
    /// The fault proxies in front of the node's services.
    proxies: Vec<chaos_proxy::Proxy>,
    /// What each listener is sent when a fault needs one of its requests.
    requests: crate::services::Requests,
    /// The supervision model read before the run's clock started.
    supervision: Mutex<Option<Vec<crate::supervision::Application>>>,
    /// The node's supervisor reports while the run lasts.
    causes: causes::Causes,
    /// Real messages `clear_mailbox` dropped (`--allow-message-loss`), for the report.
    message_loss: Mutex<Vec<Value>>,
    /// The run's process index (`snippets/process_index.erl`), once started.
    process_index: Mutex<Option<Pid>>,
    /// The run's supervision keeper (`snippets/supervision_keeper.erl`), once started.
    supervision_keeper: Mutex<Option<Pid>>,
}

/// What the run put on the node: cleaned up as it goes, audited at the end.
#[derive(Default)]
struct Ledger {
    /// Helpers started and not yet seen gone (a release that got the
    /// helper's `'DOWN'` removes it): excluded from victims, audited at the end.
    helpers: Helpers,
    /// Registered names a chaos effect holds right now (the detectors leave them alone).
    chaos_names: ChaosNames,
    /// Every process an effect was ever put on (audited at the end).
    touched: Mutex<HashSet<Pid>>,
    /// Of those, the ones whose effect lives in their `sys` state (a sys
    /// suspension, a debug hook): the audit asks each for its status.
    sys_touched: Mutex<HashSet<Pid>>,
    /// Processes whose priority the monkey changed: the priority each had
    /// first, and the one it was given (the audit reports only those).
    priorities: Mutex<HashMap<Pid, (String, String)>>,
    /// ETS tables owned by a helper, by helper (see [`BeamTarget::own_holdings`]).
    helper_tables: Mutex<HashMap<Pid, u64>>,
}

/// Helpers not yet seen gone, shared with the effects that release them.
pub type Helpers = std::sync::Arc<Mutex<HashSet<Pid>>>;

/// At most this many touched processes are remembered for the after-run
/// audit (a long fast run touches millions; memory stays bounded).
const MAX_TOUCHED: usize = 50_000;

/// Names under a chaos effect, shared with the effects that release them.
pub type ChaosNames = std::sync::Arc<Mutex<HeldNames>>;

impl BeamTarget {
    /// Attach the chaos context to a connected node; records the running applications.
    pub async fn new(
        client: DistClient,
        profile: Profile,
        safety: Safety,
        seed: u64,
    ) -> Result<Self, EvalError> {
        let sample = eval_with_timeout(&client, SAMPLE, &[], OP_TIMEOUT).await?;
        let baseline_apps = apps_of(&sample);
        Ok(Self {
            client,
            profile,
            safety,
            victims: VictimSource::new(seed),
            budget: Budget::default(),
            ledger: Ledger::default(),
            leasing: Leasing::new(),
            detection: Mutex::new(detect::Detector::default()),
            baseline_apps,
            proxies: Vec::new(),
            requests: Default::default(),
            supervision: Mutex::new(None),
            causes: causes::Causes::default(),
            message_loss: Mutex::new(Vec::new()),
            process_index: Mutex::new(None),
            supervision_keeper: Mutex::new(None),
        })
    }

    /// Record that a chaos effect holds the registered name `name`, which
    /// belonged to a process of application `app` when it was taken; the
    /// returned handle lets the effect give it back ([`HeldNames::release`]).
    pub fn hold_name(&self, name: &str, app: Option<&str>) -> ChaosNames {
        self.ledger.chaos_names.lock().unwrap().hold(name, app);
        self.ledger.chaos_names.clone()
    }

    /// `true` while a chaos effect holds this name.
    pub fn name_held(&self, name: &str) -> bool {
        self.ledger.chaos_names.lock().unwrap().contains(name)
    }

    /// How long a broken steady state may last before it counts as a failure mode.
    pub fn recovery_window(&self) -> Duration {
        self.detection.lock().unwrap().settings.recovery_window
    }

    /// The failure kinds this run's detectors could not look for, and why.
    pub fn detectors_not_run(&self) -> Vec<(&'static str, String)> {
        self.detection.lock().unwrap().not_run()
    }

    /// What node memory is compared with (host RAM, or the node's cgroup
    /// limit when lower), read on the node at the baseline.
    pub fn memory_limit(&self) -> Option<detect::MemoryLimit> {
        self.detection.lock().unwrap().memory_limit().cloned()
    }

    /// The ETS shape invariants for the report (`extras.ets_shapes`): the
    /// tables' shapes learnt at the baseline, those that got none and why,
    /// and the rows of the monkey's own `ets_modify` the check found.
    pub fn ets_shapes(&self) -> Value {
        self.detection.lock().unwrap().shapes_json()
    }

    /// What each user metric gave (`extras.metrics`).
    pub fn metrics_json(&self) -> Value {
        self.detection.lock().unwrap().metrics_json()
    }

    /// Check every user metric once, before the run (it must parse, run
    /// and return a number); the error names the metric and its place.
    pub async fn check_metrics(&self, metrics: &[detect::metrics::Metric]) -> Result<(), String> {
        detect::metrics::check(self, metrics).await
    }

    /// Detection settings and probes; takes the steady-state baseline now.
    /// The service probes among them also say what their ports speak, for
    /// faults that need a request of a listener's protocol (a probe aimed
    /// through a proxy names the proxy's port, so its listener is asked).
    pub async fn with_detection(self, settings: detect::DetectSettings) -> Result<Self, EvalError> {
        let baseline = detect::take(&self, &settings).await?;
        let services = settings
            .probes
            .iter()
            .filter_map(|p| match p {
                detect::Probe::Service { probe, .. } => Some(probe.clone()),
                _ => None,
            })
            .collect();
        *self.detection.lock().unwrap() = detect::Detector::new(settings, baseline);
        Ok(self.with_request_probes(services))
    }

    /// Compile snippets into temporary modules on the target for the rest of
    /// this connection ([`crate::compiled`]): operations, samples and
    /// refreshes then cost microseconds instead of milliseconds. Every
    /// built-in snippet is compiled now, in one module (custom ones after
    /// their first use). The janitor that unloads them is a helper (never a
    /// victim, audited at the end).
    pub async fn compile_snippets(&self) -> Result<(), EvalError> {
        self.compile_snippets_with(&[]).await
    }

    /// [`BeamTarget::compile_snippets`], priming `extra` snippets too (a
    /// cluster run's node-level operations).
    pub async fn compile_snippets_with(&self, extra: &[&str]) -> Result<(), EvalError> {
        let keeper = self.lease_keeper().await?;
        let janitor = crate::compiled::enable(&self.client, &keeper).await?;
        self.note_helper(&janitor);
        let mut all = ops::snippets();
        all.extend_from_slice(extra);
        crate::compiled::prime(&self.client, &all).await;
        self.start_watchers().await
    }

    /// The probes the user configured: a fault that needs a listener's
    /// request takes it from the probe of that port (else it asks the
    /// listener what it speaks).
    pub fn with_request_probes(
        mut self,
        probes: Vec<std::sync::Arc<dyn chaos_probe::Probe>>,
    ) -> Self {
        self.requests = crate::services::Requests::configured(probes);
        self
    }

    /// What to send a listener when a fault needs one of its requests.
    pub(crate) fn requests(&self) -> &crate::services::Requests {
        &self.requests
    }

    /// Fault proxies in front of the node's services (for the proxy operations).
    pub fn with_proxies(mut self, proxies: Vec<chaos_proxy::Proxy>) -> Self {
        self.proxies = proxies;
        self
    }

    /// Read the supervision model now (before the run's clock starts) for
    /// the report's Supervision section.
    pub async fn read_supervision(&self) -> Result<(), String> {
        let apps = crate::supervision::read(&self.client, 200, Duration::from_secs(2)).await?;
        *self.supervision.lock().unwrap() = Some(apps);
        Ok(())
    }

    /// The report's Supervision section: the budget policy, and per
    /// application chaos may touch its kills-to-stop and single points of
    /// failure (from [`BeamTarget::read_supervision`]), added to what the
    /// run spent (`section`, from the engine's tally).
    pub fn supervision_section(
        &self,
        section: Option<chaos_engine::budget::SupervisionSection>,
    ) -> chaos_engine::budget::SupervisionSection {
        let mut section = section.unwrap_or_default();
        section.policy = self.safety.budget.name().to_string();
        if let Some(apps) = self.supervision.lock().unwrap().as_ref() {
            section.groups = apps
                .iter()
                .filter(|a| self.safety.include_otp_apps || !a.runtime)
                .filter(|a| {
                    self.safety.only_apps.is_empty() || self.safety.only_apps.contains(&a.name)
                })
                .filter(|a| !self.safety.protect_apps.contains(&a.name))
                .filter(|a| a.supervision_tree.is_some() || !a.unsupervised.is_empty())
                .map(|a| a.structure())
                .collect();
        }
        section
    }

    /// How long a suspension may last under the budget policy
    /// ([`safety::SUSPENSION_CAP_MS`] unless collapse is allowed).
    pub fn suspension_cap(&self, hold_ms: i64) -> i64 {
        if self.safety.budget == BudgetPolicy::Collapse {
            hold_ms
        } else {
            hold_ms.min(safety::SUSPENSION_CAP_MS)
        }
    }

    /// The applications running when the run started.
    pub fn baseline_apps(&self) -> &[String] {
        &self.baseline_apps
    }

    /// Evaluate an operation's snippet. `Monkey` (our node's name) and
    /// `Lease` (the lease keeper, [`crate::lease`]) are always bound: effect
    /// holders monitor the keeper and undo their effect at once when it goes
    /// — the monkey killed, frozen or cut off (the janitor rule).
    pub async fn exec(&self, snippet: &str, bindings: &[(&str, Term)]) -> Result<Term, EvalError> {
        // The caller's bindings are not copied (they can be long pid lists,
        // held for as long as the call is in flight): ours go beside them.
        let bound = |name: &str| bindings.iter().any(|(k, _)| *k == name);
        let mut extra: Vec<(&str, Term)> = Vec::new();
        if !bound("Monkey") {
            extra.push(("Monkey", atom(self.client.local_name())));
        }
        // Snippets that may end a process run behind the restart-budget gate
        // (budget_gate.erl, which names these bindings).
        if snippet.contains("BudgetMargin") && !bound("BudgetMargin") {
            let policy = self.safety.budget;
            extra.push(("BudgetMargin", int(policy.margin())));
            let collapse = policy == BudgetPolicy::Collapse;
            extra.push((
                "AllowCollapse",
                atom(if collapse { "true" } else { "false" }),
            ));
            extra.push(("Causes", self.causes_collector()));
        }
        // Only snippets that hold an effect name it (so a dry run starts no keeper).
        if snippet.contains("Lease") && !bound("Lease") {
            extra.push(("Lease", Term::from(self.lease_keeper().await?)));
        }
        eval_with_extra(&self.client, snippet, bindings, &extra, OP_TIMEOUT).await
    }

    /// Evaluate a snippet and read its [`Reply`].
    pub async fn reply(&self, snippet: &str, bindings: &[(&str, Term)]) -> Reply {
        match self.exec(snippet, bindings).await {
            Ok(t) => Reply::from_term(&t),
            Err(e) => Reply::Failed(e.to_string()),
        }
    }

    /// Remember a helper process we started on the target (never a victim; audited at the end).
    pub fn note_helper(&self, pid: &Term) {
        if let Some(p) = pid.as_pid() {
            self.ledger.helpers.lock().unwrap().insert(p.clone());
        }
    }

    /// The effect a helper holds on the target: the helper is recorded (never
    /// a victim, audited at the end) and released when the hold is up.
    pub fn held_by(&self, helper: &Term, hold: Duration, what: impl Into<String>) -> HelperEffect {
        self.note_helper(helper);
        HelperEffect::new(&self.client, helper.clone(), hold, what)
            .forgetting(self.ledger.helpers.clone())
    }

    /// The monkey's own processes on the node (its helpers and the lease
    /// keeper): never victims, never counted as reachable.
    fn own_pids(&self) -> Vec<Term> {
        let mut own: Vec<Term> = self.helpers().into_iter().map(Term::from).collect();
        if let Some(lease) = self.leasing.lease.get() {
            own.push(Term::from(lease.keeper()));
        }
        own
    }

    /// Record real messages `clear_mailbox` dropped from `victim`.
    pub(crate) fn note_message_loss(&self, victim: &Victim, dropped: u64, kinds: Value) {
        self.message_loss.lock().unwrap().push(serde_json::json!({
            "victim": victim.id,
            "name": victim.label,
            "application": victim.group,
            "dropped": dropped,
            "kinds": kinds,
        }));
    }

    /// The report's `message_loss` section: every real message
    /// `clear_mailbox` dropped in this run (`--allow-message-loss`), in
    /// total and per operation; `None` when nothing was dropped.
    pub fn message_loss(&self) -> Option<Value> {
        let drops = self.message_loss.lock().unwrap();
        if drops.is_empty() {
            return None;
        }
        let total: u64 = drops.iter().filter_map(|d| d["dropped"].as_u64()).sum();
        Some(serde_json::json!({
            "total_dropped": total,
            "operations": drops.len(),
            "drops": *drops,
        }))
    }

    /// Every helper of this run not yet seen gone.
    pub fn helpers(&self) -> Vec<Pid> {
        self.ledger
            .helpers
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect()
    }
}

fn apps_of(sample: &Term) -> Vec<String> {
    sample
        .get("applications")
        .and_then(|a| a.as_list())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.as_text())
        .collect()
}

impl chaos_proxy::ops::ProxyHost for BeamTarget {
    fn proxies(&self) -> &[chaos_proxy::Proxy] {
        &self.proxies
    }
}

impl Target for BeamTarget {
    fn sample(&self) -> BoxFuture<'_, Result<Sample, String>> {
        Box::pin(async move {
            let (problems, resources) = detect::sample(self).await?;
            // Whole = every application that ran at the start still runs (the survival definition).
            let healthy = !problems.iter().any(|p| {
                p.kind == crate::failure_kind::FailureKind::SupervisorCollapse.name() && p.immediate
            });
            Ok(Sample {
                t_ms: 0,
                healthy,
                problems,
                resources,
            })
        })
    }

    fn gone(&self) -> BoxFuture<'_, String> {
        Box::pin(self.client.closed())
    }
}

/// For the crate's own tests: a chaos context on a real node (the node is
/// stopped when its handle is dropped).
#[cfg(test)]
pub(crate) async fn test_target(node: &chaos_testkit::TestNode) -> BeamTarget {
    let opts = crate::dist::ConnectOptions::new(
        node.name.parse().unwrap(),
        crate::dist::Cookie::new(node.cookie.clone(), crate::dist::CookieSource::Flag).unwrap(),
    );
    let client = DistClient::connect(&opts).await.expect("connect");
    BeamTarget::new(client, Profile::Demo, Safety::default(), 1)
        .await
        .expect("a chaos context")
}
