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

pub mod custom;
pub mod detect;
pub(crate) mod helper;
pub mod ops;
mod safety;

pub use helper::HelperEffect;
pub use safety::{Safety, SafetyError};

use crate::dist::json::to_json;
use crate::dist::term::{atom, binary, int, list, Pid, Term, TermExt};
use crate::dist::DistClient;
use crate::eval::{eval_with_timeout, EvalError};
use chaos_engine::{Outcome, Profile, Sample, SeededRng, Target, Victim};
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) const CANDIDATES: &str = include_str!("../snippets/candidates.erl");
pub(crate) const SAMPLE: &str = include_str!("../snippets/sample.erl");

/// How long a candidate list is reused before it is fetched again. Each pick
/// is re-validated on the target by the operation itself.
const CANDIDATES_TTL: Duration = Duration::from_secs(2);

/// On big nodes the candidate list is built from a random sample of at most
/// this many processes (each refresh costs O(sample), not O(processes)).
pub const MAX_SCAN: usize = 20_000;

/// At most this many candidates are described per refresh.
pub const MAX_CANDIDATES: usize = 10_000;

/// How many victims an operation tries when the first ones died under it.
const RETARGET_TRIES: usize = 3;

/// Limit for one operation's snippet.
pub const OP_TIMEOUT: Duration = Duration::from_secs(15);

/// A process chaos may touch.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its pid.
    pub pid: Pid,
    /// Pid text.
    pub pid_text: String,
    /// Owning application.
    pub app: Option<String>,
    /// Registered name.
    pub name: Option<String>,
    /// `'$initial_call'` (or `initial_call`) as `M:F/A`.
    pub initial_call: String,
    /// Supervisor (or bridge), not a plain worker.
    pub supervisor: bool,
    /// Started by `proc_lib`, so it answers system messages.
    pub otp: bool,
    /// Traps exits.
    pub trap_exit: bool,
}

impl Candidate {
    /// As the engine reports it.
    pub fn victim(&self) -> Victim {
        Victim {
            pid: self.pid_text.clone(),
            registered_name: self.name.clone(),
            initial_call: Some(self.initial_call.clone()),
            application: self.app.clone(),
            node: None,
        }
    }
}

/// Which processes an operation wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    /// Only processes that answer system messages (`sys`).
    pub otp_only: bool,
    /// Supervisors instead of workers (needs `--allow-supervisor-kill`).
    pub supervisors: bool,
    /// Only processes with a registered name.
    pub named_only: bool,
}

/// A snippet's answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Done and observed: detail, measurements, and the helper holding the
    /// effect when there is one (`{confirmed, Detail, Measurements, Helper}`).
    Confirmed(String, Value, Option<Term>),
    /// Done, not observed (a helper may still hold an effect:
    /// `{unconfirmed, Detail, Measurements, Helper}`).
    Unconfirmed(String, Option<Term>),
    /// Not done.
    Skipped(String),
    /// Tried and failed.
    Failed(String),
    /// The victim died before the operation: pick another.
    Gone,
}

impl Reply {
    /// The helper holding the effect, if the snippet left one.
    pub fn helper(&self) -> Option<&Term> {
        match self {
            Reply::Confirmed(_, _, h) | Reply::Unconfirmed(_, h) => h.as_ref(),
            _ => None,
        }
    }

    /// Read a snippet's answer.
    pub fn from_term(t: &Term) -> Reply {
        let text = |t: &Term| t.as_text().unwrap_or_else(|| crate::dist::term::show(t));
        match t.as_tuple() {
            Some([tag, d, m, h]) if tag.as_atom() == Some("confirmed") => {
                Reply::Confirmed(text(d), to_json(m), Some(h.clone()))
            }
            Some([tag, d, m]) if tag.as_atom() == Some("confirmed") => {
                Reply::Confirmed(text(d), to_json(m), None)
            }
            Some([tag, d]) if tag.as_atom() == Some("confirmed") => {
                Reply::Confirmed(text(d), Value::Null, None)
            }
            Some([tag, d]) if tag.as_atom() == Some("unconfirmed") => {
                Reply::Unconfirmed(text(d), None)
            }
            Some([tag, d, _m, h]) if tag.as_atom() == Some("unconfirmed") => {
                Reply::Unconfirmed(text(d), Some(h.clone()))
            }
            Some([tag, d]) if tag.as_atom() == Some("skipped") => Reply::Skipped(text(d)),
            Some([tag, d]) if tag.as_atom() == Some("failed") => Reply::Failed(text(d)),
            _ if t.as_atom() == Some("gone") => Reply::Gone,
            _ => Reply::Failed(format!("unexpected answer {}", crate::dist::term::show(t))),
        }
    }

    /// As an engine outcome.
    pub fn outcome(self) -> Outcome {
        match self {
            Reply::Confirmed(d, m, _) => Outcome::confirmed(d).with_measurements(m),
            Reply::Unconfirmed(d, _) => Outcome::unconfirmed(d),
            Reply::Skipped(d) => Outcome::skipped(d),
            Reply::Failed(d) => Outcome::failed(d),
            Reply::Gone => Outcome::skipped("every victim tried died before the operation"),
        }
    }
}

/// Victims under an effect, shared with the effects so they can clear themselves.
pub type Affected = std::sync::Arc<Mutex<HashMap<String, Option<String>>>>;

#[derive(Default)]
struct VictimCache {
    list: std::sync::Arc<Vec<Candidate>>,
    /// Candidates per application (for the blast-radius cap), counted once per refresh.
    per_app: HashMap<Option<String>, usize>,
    fetched: Option<Instant>,
    /// How long the last refresh took: refreshes are spaced by a multiple of
    /// it, so on a big node they stay a small share of the target's time.
    took: Duration,
    /// Candidates of this list known to be dead (killed, or found gone by a
    /// pick): never picked again; many of them make the next refresh due.
    dead: HashSet<String>,
}

impl VictimCache {
    /// The list's age limit.
    fn ttl(&self) -> Duration {
        CANDIDATES_TTL.max(self.took * 10)
    }

    /// The least time between refreshes asked for by lost victims.
    fn floor(&self) -> Duration {
        Duration::from_millis(250).max(self.took * 4)
    }
}

/// The context every BEAM operation runs in.
pub struct BeamTarget {
    /// The connection.
    pub client: DistClient,
    /// The run's profile.
    pub profile: Profile,
    /// Safety rules.
    pub safety: Safety,
    cache: smol::lock::Mutex<VictimCache>,
    rng: Mutex<SeededRng>,
    /// Helpers started and not yet seen gone (a release that got the
    /// helper's `'DOWN'` removes it): excluded from victims, audited at the end.
    helpers: Helpers,
    /// Effects in place, by victim pid text → application.
    affected: Affected,
    kills: Mutex<VecDeque<Instant>>,
    refreshing: std::sync::atomic::AtomicBool,
    baseline_apps: Vec<String>,
    proxies: Vec<chaos_proxy::Proxy>,
    detect: Mutex<detect::Detector>,
    /// Registered names a chaos effect holds right now (the detectors leave them alone).
    chaos_names: ChaosNames,
    /// Every process an effect was ever put on (audited at the end).
    touched: Mutex<HashSet<Pid>>,
    /// The monkey's lease on the node: every effect holder undoes when it
    /// ends. Started with the first snippet that holds an effect (a dry run
    /// starts nothing).
    lease: smol::lock::OnceCell<crate::lease::Lease>,
    /// The lease term (`--lease`).
    lease_term: Mutex<Duration>,
    /// Victims an operation is working on right now (not picked twice at once).
    busy: Mutex<HashSet<String>>,
}

/// Helpers not yet seen gone, shared with the effects that release them.
pub type Helpers = std::sync::Arc<Mutex<HashSet<Pid>>>;

/// At most this many touched processes are remembered for the after-run
/// audit (a long fast run touches millions; memory stays bounded).
const MAX_TOUCHED: usize = 50_000;

/// Names under a chaos effect, shared with the effects that release them.
pub type ChaosNames = std::sync::Arc<Mutex<HashSet<String>>>;

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
            cache: smol::lock::Mutex::new(VictimCache::default()),
            rng: Mutex::new(SeededRng::new(seed).stream("victims")),
            helpers: Helpers::default(),
            affected: Affected::default(),
            kills: Mutex::new(VecDeque::new()),
            refreshing: std::sync::atomic::AtomicBool::new(false),
            baseline_apps,
            proxies: Vec::new(),
            detect: Mutex::new(detect::Detector::default()),
            chaos_names: ChaosNames::default(),
            touched: Mutex::new(HashSet::new()),
            busy: Mutex::new(HashSet::new()),
            lease: smol::lock::OnceCell::new(),
            lease_term: Mutex::new(crate::lease::DEFAULT_TERM),
        })
    }

    /// The lease term (`--lease`): how long effects outlive a silent monkey.
    pub fn set_lease_term(&self, term: Duration) {
        *self.lease_term.lock().unwrap() = term;
        if let Some(lease) = self.lease.get() {
            lease.set_term(term);
        }
    }

    /// The lease term in force.
    pub fn lease_term(&self) -> Duration {
        *self.lease_term.lock().unwrap()
    }

    /// The lease's counters (renewals, early ends while connected).
    pub fn lease_stats(&self) -> crate::lease::LeaseStats {
        self.lease.get().map(|l| l.stats()).unwrap_or_default()
    }

    /// End of the run, after clean-up and the audit: the lease keeper exits
    /// (any holder still waiting undoes its effect at once).
    pub fn end_lease(&self) {
        if let Some(lease) = self.lease.get() {
            lease.end();
        }
    }

    /// The lease keeper's pid, starting the lease when it is not yet.
    async fn lease_keeper(&self) -> Result<Pid, EvalError> {
        let lease = self
            .lease
            .get_or_try_init(|| async {
                let term = *self.lease_term.lock().unwrap();
                crate::lease::Lease::start(&self.client, term).await
            })
            .await?;
        Ok(lease.keeper())
    }

    /// Record that a chaos effect holds the registered name `name`; the
    /// returned handle lets the effect give it back.
    pub fn hold_name(&self, name: &str) -> ChaosNames {
        self.chaos_names.lock().unwrap().insert(name.to_string());
        self.chaos_names.clone()
    }

    /// `true` while a chaos effect holds this name.
    pub fn name_held(&self, name: &str) -> bool {
        self.chaos_names.lock().unwrap().contains(name)
    }

    /// How long a broken steady state may last before it counts as a failure mode.
    pub fn recovery_window(&self) -> Duration {
        self.detect.lock().unwrap().settings.recovery_window
    }

    /// Detection settings and probes; takes the steady-state baseline now.
    pub async fn with_detection(self, settings: detect::DetectSettings) -> Result<Self, EvalError> {
        let baseline = detect::take(&self, &settings).await?;
        *self.detect.lock().unwrap() = detect::Detector::new(settings, baseline);
        Ok(self)
    }

    /// Compile snippets into temporary modules on the target for the rest of
    /// this connection ([`crate::compiled`]): operations, samples and
    /// refreshes then cost microseconds instead of milliseconds. Every
    /// built-in snippet is compiled now, in one module (custom ones after
    /// their first use). The janitor that unloads them is a helper (never a
    /// victim, audited at the end).
    pub async fn compile_snippets(&self) -> Result<(), EvalError> {
        let keeper = self.lease_keeper().await?;
        let janitor = crate::compiled::enable(&self.client, &keeper).await?;
        self.note_helper(&janitor);
        let mut all = ops::snippets();
        all.extend(crate::cluster::ops::snippets());
        crate::compiled::prime(&self.client, &all).await;
        Ok(())
    }

    /// Fault proxies in front of the node's services (for the proxy operations).
    pub fn with_proxies(mut self, proxies: Vec<chaos_proxy::Proxy>) -> Self {
        self.proxies = proxies;
        self
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
        let mut all: Vec<(&str, Term)> = bindings.to_vec();
        if !all.iter().any(|(k, _)| *k == "Monkey") {
            all.push(("Monkey", atom(self.client.local_name())));
        }
        // Only snippets that hold an effect name it (so a dry run starts no keeper).
        if snippet.contains("Lease") && !all.iter().any(|(k, _)| *k == "Lease") {
            all.push(("Lease", Term::from(self.lease_keeper().await?)));
        }
        eval_with_timeout(&self.client, snippet, &all, OP_TIMEOUT).await
    }

    /// Evaluate a snippet and read its [`Reply`].
    pub async fn reply(&self, snippet: &str, bindings: &[(&str, Term)]) -> Reply {
        match self.exec(snippet, bindings).await {
            Ok(t) => Reply::from_term(&t),
            Err(e) => Reply::Failed(e.to_string()),
        }
    }

    /// The processes chaos may touch now. Cached: refreshed when older than
    /// [`CANDIDATES_TTL`], by one caller while the others keep using the
    /// previous list (stale-while-refresh), so a pick never waits for a scan.
    pub async fn candidates(&self) -> Result<std::sync::Arc<Vec<Candidate>>, EvalError> {
        {
            let cache = self.cache.lock().await;
            let fresh = cache.fetched.is_some_and(|t| t.elapsed() < cache.ttl());
            if fresh {
                return Ok(cache.list.clone());
            }
            if cache.fetched.is_some()
                && self
                    .refreshing
                    .swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                return Ok(cache.list.clone());
            }
            if cache.fetched.is_none() {
                // The very first list: everyone waits for it (the lock is held).
                drop(cache);
                let mut cache = self.cache.lock().await;
                if cache.fetched.is_some() {
                    return Ok(cache.list.clone());
                }
                let t0 = Instant::now();
                let list = self.fetch_candidates().await?;
                Self::store(&mut cache, list, t0.elapsed());
                return Ok(cache.list.clone());
            }
        }
        let t0 = Instant::now();
        let fetched = self.fetch_candidates().await;
        let took = t0.elapsed();
        self.refreshing
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let mut cache = self.cache.lock().await;
        match fetched {
            Ok(list) => Self::store(&mut cache, list, took),
            Err(e) if e.is_disconnect() => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "candidate refresh failed; keeping the previous list")
            }
        }
        Ok(cache.list.clone())
    }

    fn store(cache: &mut VictimCache, list: Vec<Candidate>, took: Duration) {
        let mut per_app = HashMap::new();
        for c in &list {
            *per_app.entry(c.app.clone()).or_insert(0) += 1;
        }
        cache.list = std::sync::Arc::new(list);
        cache.per_app = per_app;
        cache.fetched = Some(Instant::now());
        cache.took = took;
        cache.dead.clear();
    }

    async fn fetch_candidates(&self) -> Result<Vec<Candidate>, EvalError> {
        let mut exclude: Vec<Term> = self
            .helpers
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .map(Term::from)
            .collect();
        if let Some(lease) = self.lease.get() {
            exclude.push(Term::from(lease.keeper()));
        }
        let flag = |b: bool| atom(if b { "true" } else { "false" });
        let bindings = [
            ("IncludeOtpApps", flag(self.safety.include_otp_apps)),
            ("IncludeNoApp", flag(self.safety.include_no_app)),
            ("Exclude", list(exclude)),
            ("MaxScan", int(MAX_SCAN as i64)),
            ("MaxCandidates", int(MAX_CANDIDATES as i64)),
        ];
        let t = self.exec(CANDIDATES, &bindings).await?;
        Ok(t.as_list()
            .unwrap_or_default()
            .iter()
            .filter_map(parse_candidate)
            .filter(|c| self.safety.allows(c))
            .collect())
    }

    /// Forget the cached candidates: the next call lists them again.
    pub async fn invalidate(&self) {
        self.cache.lock().await.fetched = None;
    }

    /// A victim died or changed: refresh the list soon, but at most a few
    /// times a second (until then picks re-validate on the target and
    /// retarget), so kills at a high rate do not turn into a scan each.
    pub async fn victim_gone(&self) {
        let mut cache = self.cache.lock().await;
        let floor = cache.floor();
        if cache.fetched.is_some_and(|t| t.elapsed() >= floor) {
            cache.fetched = Some(Instant::now() - cache.ttl());
        }
    }

    /// `pid_text` is dead (killed, or found gone): never pick it again from
    /// this list; when half the list is dead, refresh it (no sooner than the
    /// floor).
    pub async fn victim_dead(&self, pid_text: &str) {
        let mut cache = self.cache.lock().await;
        cache.dead.insert(pid_text.to_string());
        if cache.dead.len() * 2 >= cache.list.len() {
            drop(cache);
            self.victim_gone().await;
        }
    }

    /// Pick a victim at random (from the run's victim stream) among those wanted,
    /// leaving out `tried` and processes already under an effect. O(1) expected:
    /// random draws from the cached list until one fits; a full scan only when
    /// few fit.
    pub async fn pick(&self, want: Want, tried: &[String]) -> Result<Option<Candidate>, EvalError> {
        for attempt in 0..2 {
            let all = self.candidates().await?;
            if all.is_empty() {
                return Ok(None);
            }
            let cache = self.cache.lock().await;
            let (found, some_dead) = self.pick_from(&all, &cache.dead, want, tried);
            if found.is_some() || attempt > 0 || !some_dead {
                return Ok(found);
            }
            // Nothing fits because victims of this list died: a fresh list
            // now (or the one another operation is fetching) may have some.
            drop(cache);
            self.cache.lock().await.fetched = None;
        }
        Ok(None)
    }

    /// One pick from `all` (see [`BeamTarget::pick`]); also says whether
    /// any candidate of the list is known dead.
    fn pick_from(
        &self,
        all: &[Candidate],
        dead: &HashSet<String>,
        want: Want,
        tried: &[String],
    ) -> (Option<Candidate>, bool) {
        let affected = self.affected.lock().unwrap();
        let busy = self.busy.lock().unwrap();
        let fits = |c: &Candidate| {
            c.supervisor == want.supervisors
                && (!want.otp_only || c.otp)
                && (!want.named_only || c.name.is_some())
                && !tried.contains(&c.pid_text)
                && !affected.contains_key(&c.pid_text)
                && !dead.contains(&c.pid_text)
                && !busy.contains(&c.pid_text)
        };
        let mut rng = self.rng.lock().unwrap();
        for _ in 0..32 {
            let c = &all[rng.range_inclusive(0, all.len() as u64 - 1) as usize];
            if fits(c) {
                return (Some(c.clone()), !dead.is_empty());
            }
        }
        let pool: Vec<&Candidate> = all.iter().filter(|c| fits(c)).collect();
        if pool.is_empty() {
            return (None, !dead.is_empty());
        }
        let i = rng.range_inclusive(0, pool.len() as u64 - 1) as usize;
        (Some(pool[i].clone()), !dead.is_empty())
    }

    /// Run `act` against victims chosen by `want`, trying another victim when
    /// one died before the operation (up to a few times).
    pub async fn on_victim<F, Fut>(&self, want: Want, mut act: F) -> Outcome
    where
        F: FnMut(Candidate) -> Fut,
        Fut: std::future::Future<Output = (Reply, Option<Box<dyn chaos_engine::Effect>>)>,
    {
        let mut tried = Vec::new();
        for _ in 0..RETARGET_TRIES {
            let victim = match self.pick(want, &tried).await {
                Ok(Some(v)) => v,
                Ok(None) if tried.is_empty() => return Outcome::skipped(no_victim(want)),
                Ok(None) => break,
                Err(e) => return Outcome::failed(format!("could not list victims: {e}")),
            };
            if !self.app_share_ok(&victim).await {
                return Outcome::skipped("blast-radius cap: too many of this application's processes are already affected");
            }
            tried.push(victim.pid_text.clone());
            self.busy.lock().unwrap().insert(victim.pid_text.clone());
            let (reply, effect) = act(victim.clone()).await;
            self.busy.lock().unwrap().remove(&victim.pid_text);
            if matches!(reply, Reply::Gone) {
                self.victim_dead(&victim.pid_text).await;
                continue;
            }
            let mut outcome = reply.outcome().with_victim(Some(victim.victim()));
            if let Some(effect) = effect {
                outcome = outcome.with_effect(effect);
            }
            return outcome;
        }
        Outcome::skipped("every victim tried died before the operation")
    }

    /// Record that an effect is in place on `victim` (for the blast-radius cap);
    /// the returned handle clears it when the effect is undone.
    pub fn affect(&self, victim: &Candidate) -> Affected {
        {
            let mut touched = self.touched.lock().unwrap();
            if touched.len() < MAX_TOUCHED {
                touched.insert(victim.pid.clone());
            }
        }
        self.affected
            .lock()
            .unwrap()
            .insert(victim.pid_text.clone(), victim.app.clone());
        self.affected.clone()
    }

    async fn app_share_ok(&self, victim: &Candidate) -> bool {
        let Some(app) = &victim.app else { return true };
        let total = self
            .cache
            .lock()
            .await
            .per_app
            .get(&victim.app)
            .copied()
            .unwrap_or(0);
        let cap = ((total as f64 * self.safety.max_app_share).floor() as usize).max(1);
        let now = self
            .affected
            .lock()
            .unwrap()
            .values()
            .filter(|a| a.as_ref() == Some(app))
            .count();
        now < cap
    }

    /// `true` when one more kill fits under the kills-per-second cap (and counts it).
    pub fn take_kill(&self) -> bool {
        let mut kills = self.kills.lock().unwrap();
        let now = Instant::now();
        while kills
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            kills.pop_front();
        }
        if kills.len() as u32 >= self.safety.max_kills_per_sec {
            return false;
        }
        kills.push_back(now);
        true
    }

    /// Remember a helper process we started on the target (never a victim; audited at the end).
    pub fn note_helper(&self, pid: &Term) {
        if let Some(p) = pid.as_pid() {
            self.helpers.lock().unwrap().insert(p.clone());
        }
    }

    /// The effect a helper holds on the target: the helper is recorded (never
    /// a victim, audited at the end) and released when the hold is up.
    pub fn held_by(&self, helper: &Term, hold: Duration, what: impl Into<String>) -> HelperEffect {
        self.note_helper(helper);
        HelperEffect::new(&self.client, helper.clone(), hold, what).forgetting(self.helpers.clone())
    }

    /// Every helper of this run not yet seen gone.
    pub fn helpers(&self) -> Vec<Pid> {
        self.helpers.lock().unwrap().iter().cloned().collect()
    }

    /// After clean-up: what is still there on the target (helpers alive,
    /// processes left suspended, the run's compiled modules). Unloads the
    /// compiled modules first: they are the last thing the run put there.
    pub async fn audit(&self) -> Result<Vec<String>, EvalError> {
        let mut found = Vec::new();
        let prefix = crate::compiled::module_prefix(&self.client);
        let unloaded = crate::compiled::unload(&self.client).await?;
        for m in &unloaded.forced {
            found.push(format!(
                "module {m} had to be purged while a process still ran its code"
            ));
        }
        let helpers: Vec<Term> = self.helpers().into_iter().map(Term::from).collect();
        let touched: Vec<Term> = self
            .touched
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .map(Term::from)
            .collect();
        // Helpers still alive (each holds an effect: memory, ports, tables, a
        // decoy name, a saved row); any process left suspended; and the
        // processes an effect was put on: still sys-suspended, or not at
        // normal priority.
        let snippet = r#"
            Fmt = fun(F, A) -> iolist_to_binary(io_lib:format(F, A)) end,
            Me = self(),
            Alive = [P || P <- Touched, erlang:is_process_alive(P)],
            Askers = [{P, erlang:spawn(fun() -> Me ! {audit, self(), catch sys:get_status(P, 200)} end)}
                      || P <- Alive, erlang:process_info(P, status) =/= {status, suspended}],
            SysSuspended = [P || {P, A} <- Askers,
                                 receive {audit, A, {status, _, _, [_, suspended | _]}} -> true;
                                         {audit, A, _} -> false
                                 after 1000 -> false end],
            [Fmt("helper process ~p is still alive", [P]) || P <- Helpers, erlang:is_process_alive(P)] ++
            %% ERTS's own processes (the literal area collector after a purge) wait in a suspended state.
            [Fmt("process ~p is still suspended", [P]) || P <- erlang:processes(),
                                                          erlang:process_info(P, status) =:= {status, suspended},
                                                          (catch erts_internal:is_system_process(P)) =/= true] ++
            [Fmt("process ~p is still sys-suspended", [P]) || P <- SysSuspended] ++
            [Fmt("process ~p still runs at priority ~p", [P, Pr]) || P <- Alive,
                                                                     {priority, Pr} <- [erlang:process_info(P, priority)],
                                                                     Pr =/= normal] ++
            [Fmt("module ~p is still loaded", [M]) || Prefix =/= <<>>, {M, _} <- code:all_loaded(),
                                                      lists:prefix(binary_to_list(Prefix), atom_to_list(M))]."#;
        let t = self
            .exec(
                snippet,
                &[
                    ("Helpers", list(helpers)),
                    ("Touched", list(touched)),
                    ("Prefix", binary(prefix.unwrap_or_default().as_bytes())),
                ],
            )
            .await?;
        found.extend(
            t.as_list()
                .unwrap_or_default()
                .iter()
                .filter_map(|t| t.as_text()),
        );
        Ok(found)
    }
}

fn no_victim(want: Want) -> String {
    let mut what = if want.supervisors {
        "supervisor"
    } else {
        "worker process"
    }
    .to_string();
    if want.otp_only {
        what = format!("OTP {what} (answering system messages)");
    }
    if want.named_only {
        what = format!("registered {what}");
    }
    format!("no eligible {what} under the safety rules")
}

fn parse_candidate(t: &Term) -> Option<Candidate> {
    let [pid, app, name, init, kind, otp, trap, pid_text] = t.as_tuple()? else {
        return None;
    };
    let pid = pid.as_pid()?.clone();
    let opt = |t: &Term| match t.as_atom() {
        Some("null") => None,
        _ => t.as_text(),
    };
    Some(Candidate {
        pid_text: pid_text.as_text()?,
        pid,
        app: opt(app),
        name: opt(name),
        initial_call: init.as_text().unwrap_or_default(),
        supervisor: kind.as_atom() == Some("supervisor"),
        otp: otp.as_bool().unwrap_or(false),
        trap_exit: trap.as_bool().unwrap_or(false),
    })
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
            let healthy = !problems
                .iter()
                .any(|p| p.kind == "supervisor_collapse" && p.immediate);
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
