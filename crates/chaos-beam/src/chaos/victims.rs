//! Victims: the processes chaos may touch, listed on the node under the
//! safety rules, cached and refreshed in the background, picked at random
//! from the run's victim stream, retried when one died or the budget gate
//! turned it away (the caps are in `caps.rs`).

use super::candidate::parse_candidate;
use super::*;
use chaos_engine::budget::Prediction;

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

/// How many victims an operation tries when the budget gate guarded the
/// first ones (on nodes with many single points of failure most picks are).
const GUARDED_TRIES: usize = 8;

/// Which processes an operation wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    /// Only processes that answer system messages (`sys`).
    pub otp_only: bool,
    /// Supervisors instead of workers (needs `--allow-supervisor-kill`).
    pub supervisors: bool,
    /// Only processes with a registered name.
    pub named_only: bool,
    /// The operation may end the victim (a kill): victims the budget gate
    /// guarded are left out until the list is refreshed.
    pub ends_process: bool,
    /// The operation runs a fun inside the victim with `sys:replace_state`:
    /// gen_event managers are left out (they apply it to each handler's
    /// state, not to their own).
    pub state_fun: bool,
}

impl Want {
    /// Any worker, to be killed.
    pub const KILL: Want = Want {
        otp_only: false,
        supervisors: false,
        named_only: false,
        ends_process: true,
        state_fun: false,
    };
}

/// Where victims come from: the cached candidate list, the run's victim
/// stream, and the victims an operation is working on right now.
pub(super) struct VictimSource {
    pub(super) cache: smol::lock::Mutex<VictimCache>,
    pub(super) rng: Mutex<SeededRng>,
    /// A background refresh is under way.
    pub(super) refreshing: std::sync::atomic::AtomicBool,
    /// Victims an operation is working on right now (not picked twice at once).
    pub(super) busy: Mutex<HashSet<String>>,
}

impl VictimSource {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            cache: smol::lock::Mutex::new(VictimCache::default()),
            rng: Mutex::new(SeededRng::new(seed).stream("victims")),
            refreshing: std::sync::atomic::AtomicBool::new(false),
            busy: Mutex::new(HashSet::new()),
        }
    }
}

#[derive(Default)]
pub(super) struct VictimCache {
    pub(super) list: std::sync::Arc<Vec<Candidate>>,
    /// Candidates per application (for the blast-radius cap), counted once per refresh.
    pub(super) per_app: HashMap<Option<String>, usize>,
    fetched: Option<Instant>,
    /// How long the last refresh took: refreshes are spaced by a multiple of
    /// it, so on a big node they stay a small share of the target's time.
    took: Duration,
    /// Candidates of this list known to be dead (killed, or found gone by a
    /// pick): never picked again; many of them make the next refresh due.
    dead: HashSet<String>,
    /// Candidates of this list the budget gate guarded: not picked for a
    /// kill again until the next refresh (budgets refill with time).
    guarded: HashSet<String>,
}

impl VictimCache {
    /// The list's age limit: at least [`CANDIDATES_TTL`], and a hundred
    /// times what the last refresh took, so on a big node refreshes by age
    /// stay about 1 % of the time (at 10^6 processes a refresh takes ~0.3 s
    /// of the node: every 30 s, not every 3 s). A busy run does not wait
    /// for age: its kills mark victims dead, and half a list dead
    /// refreshes it at the floor.
    fn ttl(&self) -> Duration {
        CANDIDATES_TTL.max(self.took * 100)
    }

    /// The least time between refreshes asked for by lost victims.
    fn floor(&self) -> Duration {
        Duration::from_millis(250).max(self.took * 4)
    }
}

impl BeamTarget {
    /// The processes chaos may touch now. Cached: refreshed when older than
    /// [`CANDIDATES_TTL`], by one caller while the others keep using the
    /// previous list (stale-while-refresh), so a pick never waits for a scan.
    pub async fn candidates(&self) -> Result<std::sync::Arc<Vec<Candidate>>, EvalError> {
        {
            let cache = self.victims.cache.lock().await;
            let fresh = cache.fetched.is_some_and(|t| t.elapsed() < cache.ttl());
            if fresh {
                return Ok(cache.list.clone());
            }
            if cache.fetched.is_some()
                && self
                    .victims
                    .refreshing
                    .swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                return Ok(cache.list.clone());
            }
            if cache.fetched.is_none() {
                // The very first list: everyone waits for it (the lock is held).
                drop(cache);
                let mut cache = self.victims.cache.lock().await;
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
        self.victims
            .refreshing
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let mut cache = self.victims.cache.lock().await;
        match fetched {
            Ok(list) => Self::store(&mut cache, list, took),
            Err(e) if e.is_disconnect() => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "candidate refresh failed; keeping the previous list")
            }
        }
        Ok(cache.list.clone())
    }

    pub(super) fn store(cache: &mut VictimCache, list: Vec<Candidate>, took: Duration) {
        let mut per_app = HashMap::new();
        for c in &list {
            *per_app.entry(c.app.clone()).or_insert(0) += 1;
        }
        cache.list = std::sync::Arc::new(list);
        cache.per_app = per_app;
        cache.fetched = Some(Instant::now());
        cache.took = took;
        cache.dead.clear();
        cache.guarded.clear();
    }

    async fn fetch_candidates(&self) -> Result<Vec<Candidate>, EvalError> {
        let exclude = self.own_pids();
        let flag = |b: bool| atom(if b { "true" } else { "false" });
        let bindings = [
            ("IncludeOtpApps", flag(self.safety.include_otp_apps)),
            ("IncludeNoApp", flag(self.safety.include_no_app)),
            ("Exclude", list(exclude)),
            ("MaxScan", int(MAX_SCAN as i64)),
            ("MaxCandidates", int(MAX_CANDIDATES as i64)),
            ("ProcessIndex", self.process_index_term()),
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
        self.victims.cache.lock().await.fetched = None;
    }

    /// A victim died or changed: refresh the list soon, but at most a few
    /// times a second (until then picks re-validate on the target and
    /// retarget), so kills at a high rate do not turn into a scan each.
    pub async fn victim_gone(&self) {
        self.stale_once_older_than(VictimCache::floor).await;
    }

    /// The current list, with which of its candidates are known to be dead
    /// (`true` at their index). Shared, not copied: an operation that looks
    /// through it holds no copy of 10,000 candidates while it waits.
    pub(super) async fn candidates_with_dead(
        &self,
    ) -> Result<(std::sync::Arc<Vec<Candidate>>, Vec<bool>), EvalError> {
        let all = self.candidates().await?;
        let cache = self.victims.cache.lock().await;
        let dead = all
            .iter()
            .map(|c| cache.dead.contains(&c.pid_text))
            .collect();
        Ok((all, dead))
    }

    /// Every candidate of the kind an operation wants is dead: the list is
    /// due as soon as it is as old as its own refresh took (a few
    /// milliseconds on a small node, so a replacement is found at once).
    pub(super) async fn all_of_a_kind_dead(&self) {
        self.stale_once_older_than(|cache| cache.took).await;
    }

    /// Mark the list due (the next caller refreshes it, the others keep
    /// it meanwhile) if it is older than `min_age` says.
    async fn stale_once_older_than(&self, min_age: impl Fn(&VictimCache) -> Duration) {
        let mut cache = self.victims.cache.lock().await;
        let min_age = min_age(&cache);
        if cache.fetched.is_some_and(|t| t.elapsed() >= min_age) {
            cache.fetched = Some(Instant::now() - cache.ttl());
        }
    }

    /// `pid_text` is dead (killed, or found gone): never pick it again from
    /// this list; when half the list is dead, refresh it (no sooner than the
    /// floor).
    pub async fn victim_dead(&self, pid_text: &str) {
        let mut cache = self.victims.cache.lock().await;
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
            let cache = self.victims.cache.lock().await;
            let (found, dead_only) = self.pick_from(&all, &cache, want, tried);
            if found.is_some() || attempt > 0 || !dead_only {
                return Ok(found);
            }
            // Nothing fits only because victims of this list died (a small
            // application's one worker, killed a moment ago): a fresh list
            // may have its replacement. It is marked stale — once the list
            // is as old as a refresh takes — and this caller fetches it;
            // the others keep picking from the current one meanwhile, never
            // all waiting on one scan (that made every operation wait
            // ~300 ms at 10^6 processes).
            drop(cache);
            self.all_of_a_kind_dead().await;
        }
        Ok(None)
    }

    /// One pick from `all` (see [`BeamTarget::pick`]); also says, when
    /// none fits, whether some would but for being known dead (so a fresh
    /// list could help; when none is of the wanted kind at all, it cannot).
    fn pick_from(
        &self,
        all: &[Candidate],
        cache: &VictimCache,
        want: Want,
        tried: &[String],
    ) -> (Option<Candidate>, bool) {
        let dead = &cache.dead;
        let guarded = &cache.guarded;
        let affected = self.budget.affected.lock().unwrap();
        let busy = self.victims.busy.lock().unwrap();
        let kind = |c: &Candidate| {
            c.supervisor == want.supervisors
                && (!want.otp_only || c.otp)
                && (!want.named_only || c.name.is_some())
                && !(want.state_fun && c.initial_call.starts_with("gen_event:"))
        };
        // Out of reach for now: tried, under an effect, dead, guarded, busy.
        let taken = |c: &Candidate| {
            tried.contains(&c.pid_text)
                || affected.contains_key(&c.pid_text)
                || dead.contains(&c.pid_text)
                || (want.ends_process && guarded.contains(&c.pid_text))
                || busy.contains(&c.pid_text)
        };
        let fits = |c: &Candidate| kind(c) && !taken(c);
        let mut rng = self.victims.rng.lock().unwrap();
        for _ in 0..32 {
            let c = &all[rng.range_inclusive(0, all.len() as u64 - 1) as usize];
            if fits(c) {
                return (Some(c.clone()), false);
            }
        }
        let pool: Vec<&Candidate> = all.iter().filter(|c| fits(c)).collect();
        if pool.is_empty() {
            let dead_only = !dead.is_empty()
                && all
                    .iter()
                    .any(|c| kind(c) && dead.contains(&c.pid_text) && !tried.contains(&c.pid_text));
            return (None, dead_only);
        }
        let i = rng.range_inclusive(0, pool.len() as u64 - 1) as usize;
        (Some(pool[i].clone()), false)
    }

    /// Run `act` against victims chosen by `want`, trying another victim when
    /// one died before the operation (up to a few times).
    pub async fn on_victim<F, Fut>(&self, want: Want, mut act: F) -> Outcome
    where
        F: FnMut(Candidate) -> Fut,
        Fut: std::future::Future<Output = (Reply, Option<Box<dyn chaos_engine::Effect>>)>,
    {
        let mut tried = Vec::new();
        let (mut gone, mut guarded) = (0, Vec::<String>::new());
        while gone < RETARGET_TRIES && guarded.len() < GUARDED_TRIES {
            let victim = match self.pick(want, &tried).await {
                Ok(Some(v)) => v,
                Ok(None) if tried.is_empty() => {
                    let some_guarded = !self.victims.cache.lock().await.guarded.is_empty();
                    return if want.ends_process && some_guarded {
                        Outcome::skipped("restart budget: every eligible victim was guarded moments ago (budgets refill with time)")
                            .with_budget(super::reply::guarded(0))
                    } else {
                        Outcome::skipped(no_victim(want))
                    };
                }
                Ok(None) => break,
                Err(e) => return Outcome::failed(format!("could not list victims: {e}")),
            };
            if want.ends_process {
                if let Some(why) =
                    self.name_hidden_in_app(&super::gate::held_names_of_app(self, &victim), &victim)
                {
                    tried.push(victim.pid_text.clone());
                    self.victims
                        .cache
                        .lock()
                        .await
                        .guarded
                        .insert(victim.pid_text.clone());
                    guarded.push(why);
                    continue;
                }
            }
            if !self.app_share_ok(&victim).await {
                return Outcome::skipped("blast-radius cap: too many of this application's processes are already affected");
            }
            tried.push(victim.pid_text.clone());
            self.victims
                .busy
                .lock()
                .unwrap()
                .insert(victim.pid_text.clone());
            // Past the budgets, the prediction is made before the kill, on
            // its own: a kill that halts the node takes its answer with it.
            let predicted = if want.ends_process && self.safety.budget == BudgetPolicy::Collapse {
                self.predict(&victim).await
            } else {
                None
            };
            let (reply, effect) = act(victim.clone()).await;
            self.victims.busy.lock().unwrap().remove(&victim.pid_text);
            if let (Some((mut p, halts)), Reply::Failed(why)) = (predicted, &reply) {
                // The node went away under the kill: a predicted halt came
                // true; anything else was not seen through.
                p = match self.client.closed_reason() {
                    Some(_) if halts => Prediction {
                        came_true: Some(true),
                        ..p
                    },
                    Some(_) => p.not_checked("the node went down before the check ended"),
                    None => p.not_checked(format!("the operation failed: {why}")),
                };
                return Outcome::failed(why.clone())
                    .with_victim(Some(victim.victim()))
                    .with_budget(chaos_engine::budget::BudgetNote {
                        prediction: Some(p),
                        ..Default::default()
                    });
            }
            match reply {
                Reply::Gone => {
                    self.victim_dead(&victim.pid_text).await;
                    gone += 1;
                    continue;
                }
                Reply::Guarded(why) => {
                    let mut cache = self.victims.cache.lock().await;
                    cache.guarded.insert(victim.pid_text.clone());
                    guarded.push(crate::elixir::readable(&why).into_owned());
                    continue;
                }
                _ => {}
            }
            let mut outcome = reply.outcome().with_victim(Some(victim.victim()));
            if !guarded.is_empty() {
                // The victims turned away before this one count too.
                let mut note = outcome.budget.take().unwrap_or_default();
                note.guarded += guarded.len() as u64;
                outcome = outcome.with_budget(note);
            }
            if let Some(effect) = effect {
                outcome = outcome.with_effect(effect);
            }
            return outcome;
        }
        let n = guarded.len() as u64;
        match guarded.into_iter().next() {
            // The first reason names the supervisor and its budget.
            Some(first) => Outcome::skipped(first).with_budget(super::reply::guarded(n)),
            None => Outcome::skipped("every victim tried died before the operation"),
        }
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
