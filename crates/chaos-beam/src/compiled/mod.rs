//! The fast path for snippets: each one compiled, for the length of a run,
//! into a temporary module on the target.
//!
//! Interpreting a snippet with `erl_eval` costs its whole syntax tree on the
//! wire and an interpreter on the target at every call: milliseconds for the
//! bigger operations, which caps a run near a few hundred operations per
//! second and makes the health sample of a big node expensive. When a run
//! turns this on ([`enable`]), every built-in snippet is compiled before the
//! clock starts ([`prime`]) on the target (`compile:forms/2`) into ONE
//! module, `chaos_monkey_<slot>_0` (the slot of our node name, see
//! [`crate::dist`]), one function per snippet, named after its text, whose
//! parameters are its free variables (found on the target by `erl_lint`)
//! and are filled from the call's bindings by name. From then on each
//! evaluation is one `erpc` call of that function: microseconds. Snippets
//! first seen during the run (custom operations and probes) are interpreted
//! at first; once used [`COMPILE_AFTER_USES`] times, and no new one has
//! turned up for half a second (at most 3 s after the first), they go into
//! a later generation (at least 2 s, 10 s,
//! 1 min apart; at most [`MAX_GENERATIONS`] modules), because unloading
//! costs a scan of every process per module (about 2.5 s of CPU per module
//! on a node with a million processes), so modules are few and shared.
//!
//! Nothing stays behind:
//! * the modules of a run are registered, before they are loaded, with a
//!   *janitor* process on the target. The janitor is itself evaluated (not
//!   compiled), so purging the modules cannot kill it;
//! * at the end of the run ([`unload`]), and at once when the monkey's lease
//!   on the node ends (the `lease` module: the monkey killed, frozen or cut
//!   off), the janitor deletes every module,
//!   waits (soft purge, polled) until no process runs their code any more —
//!   helpers finish undoing their effects first — and purges what is left
//!   after a bound, then exits.
//!
//! A snippet the compiler rejects (it is stricter than `erl_eval`, for example
//! about variables unsafe in a `case`) and every snippet on a node without the
//! `compiler` application simply stay interpreted. `--no-compile` keeps a run
//! interpreted.
//!
//! Atoms (never freed): module names come from a fixed set (slot,
//! generation), function names from the snippets' texts, and since every run
//! compiles the same built-in set, only the first run on a node makes them
//! (with the compiler's own atoms, when it loads the `compiler` modules);
//! a custom snippet makes its names the first time it is compiled there.

mod naming;
mod unload;

pub use unload::{disable, module_prefix, unload, Unloaded};

use crate::dist::term::{binary, int, list, show, tuple, Pid, Term, TermExt};
use crate::dist::DistClient;
use crate::interpret::{interpret, EvalError};
use naming::{function_name, with_final_dot};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most this many modules per run (each costs a scan of every process to unload).
pub const MAX_GENERATIONS: usize = 4;

/// Pending snippets are compiled once no new one has turned up for this
/// long, so the snippets a run uses together land in the same module...
const SETTLE: Duration = Duration::from_millis(500);

/// ...or once the oldest has waited this long.
const SETTLE_AT_MOST: Duration = Duration::from_secs(3);

/// A snippet first seen during the run goes into a later generation only
/// once it was used this many times: a one-off (the run's report collector,
/// the supervision read before the clock) stays interpreted instead of
/// costing a module, whose unloading scans every process twice (3.3 s at
/// 10^6 processes, measured with `code:soft_purge` alone).
pub const COMPILE_AFTER_USES: u32 = 3;

/// The least time between one generation and the next, per generation.
const GENERATION_GAP: [Duration; MAX_GENERATIONS] = [
    Duration::ZERO,
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(60),
];

/// Starts the janitor: it collects the run's modules and unloads them on
/// `{unload, From}` or when the monkey's lease keeper `Lease` goes.
const JANITOR: &str = include_str!("../snippets/janitor.erl");

/// Builds the module `Mod` from `Snippets` (`[{Index, FunctionName, Source}]`)
/// on the target and loads it, after telling the janitor. Each snippet
/// becomes one function whose parameters are its free variables, sorted
/// (found by `erl_lint`: the variables it reports unbound); answers
/// `{ok, [{Function, Params}]}`, `{not_compiled, Indexes}` (the snippets the
/// scanner, parser or compiler rejected), `no_compiler`, or an error. Each
/// snippet's lines start at `Index * 100000`, so an error's line names it.
const COMPILE: &str = include_str!("../snippets/compile.erl");

/// How long the janitor lets helpers finish undoing before it purges anyway.
pub(super) const PURGE_WAIT: Duration = Duration::from_secs(45);

/// The compiled snippets of one connection.
pub struct SnippetModules {
    run_tag: String,
    janitor: Term,
    /// Off after the first "no compiler" answer, or after unloading.
    disabled: AtomicBool,
    /// One compilation at a time.
    compiling: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Every snippet seen, by source.
    snippets: HashMap<String, Snippet>,
    /// Seen and not yet tried, in order.
    pending: Vec<String>,
    /// Snippets not primed, used fewer than [`COMPILE_AFTER_USES`] times so far.
    unprimed_uses: HashMap<String, u32>,
    /// When the oldest pending snippet was first seen.
    oldest_pending: Option<Instant>,
    /// When the newest pending snippet was first seen.
    newest_pending: Option<Instant>,
    generation: usize,
    /// Snippets primed, and compiled after the priming (see [`CompiledStats`]).
    primed: usize,
    compiled_later: usize,
    /// When the last generation was compiled.
    last_compiled: Option<Instant>,
}

#[derive(Clone)]
enum Snippet {
    /// Interpreted until the next generation (or for good).
    Interpreted,
    /// `module:function` and its parameters (the snippet's free variables),
    /// filled from the call's bindings by name.
    Compiled(Arc<(String, String, Vec<String>)>),
}

/// The compiled snippets of `client`'s run, when it turned them on.
pub(crate) fn of(client: &DistClient) -> Option<Arc<SnippetModules>> {
    client.extension::<SnippetModules>()
}

/// Turn the fast path on for `client`: starts the janitor, which unloads
/// the run's modules when `lease`'s keeper goes. Returns its pid, which must
/// never be a victim (the caller records it as a helper).
pub async fn enable(client: &DistClient, lease: &Pid) -> Result<Term, EvalError> {
    if let Some(m) = of(client) {
        return Ok(m.janitor.clone());
    }
    let janitor = interpret(
        client,
        JANITOR,
        &[
            ("Lease", Term::from(lease.clone())),
            ("WaitMs", int(PURGE_WAIT.as_millis() as i64)),
        ],
        client.call_timeout(),
    )
    .await?;
    // Named after our node's name slot (`chaos_monkey_<slot>@…`): unique among
    // the monkeys connected now, and the same atoms run after run.
    let slot = client
        .local_name()
        .split('@')
        .next()
        .and_then(|n| n.strip_prefix("chaos_monkey_"))
        .unwrap_or("0")
        .to_string();
    client.set_extension(Arc::new(SnippetModules {
        run_tag: slot,
        janitor: janitor.clone(),
        disabled: AtomicBool::new(false),
        compiling: AtomicBool::new(false),
        state: Mutex::new(State::default()),
    }));
    Ok(janitor)
}
/// Compile `snippets` now, as one generation, before any of them is used.
/// A run primes every built-in snippet: its first seconds do not run
/// interpreted, and every run compiles the same set, so the atoms the
/// compiled code needs (function and fun names) are made by the first run
/// and never again.
pub async fn prime(client: &DistClient, snippets: &[&str]) {
    let Some(m) = of(client) else {
        return;
    };
    {
        let mut st = m.state.lock().unwrap();
        for source in snippets {
            if !st.snippets.contains_key(*source) {
                st.unprimed_uses.remove(*source);
                st.snippets.insert(source.to_string(), Snippet::Interpreted);
                st.pending.push(source.to_string());
            }
        }
    }
    if !m.compiling.swap(true, Ordering::SeqCst) {
        m.compile_pending(client).await;
        m.compiling.store(false, Ordering::SeqCst);
    }
}

/// Whether `source` runs as compiled code on `client` now: for an
/// operation whose fun must never be interpreted inside another process.
pub fn runs_compiled(client: &DistClient, source: &str) -> bool {
    of(client).is_some_and(|m| {
        !m.disabled.load(Ordering::Relaxed)
            && matches!(
                m.state.lock().unwrap().snippets.get(source),
                Some(Snippet::Compiled(_))
            )
    })
}

/// How many snippets seen on `client` were not primed and are not compiled
/// yet: waiting for their generation, or used fewer than
/// [`COMPILE_AFTER_USES`] times so far (for tests).
pub fn pending(client: &DistClient) -> usize {
    of(client)
        .map(|m| {
            let st = m.state.lock().unwrap();
            st.pending.len() + st.unprimed_uses.len()
        })
        .unwrap_or(0)
}

/// How many snippets a run primed, and how many it compiled later (first
/// seen during the run: custom operations, or a built-in one missing from
/// the primed list — then it adds atoms the first time it is compiled on a
/// node).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CompiledStats {
    /// Compiled before the clock started.
    pub primed: usize,
    /// Compiled during the run.
    pub compiled_later: usize,
}

/// The compiled-snippet figures of `client`'s run.
pub fn stats(client: &DistClient) -> CompiledStats {
    of(client)
        .map(|m| {
            let st = m.state.lock().unwrap();
            CompiledStats {
                primed: st.primed,
                compiled_later: st.compiled_later,
            }
        })
        .unwrap_or_default()
}

impl SnippetModules {
    /// Evaluate `source` through its compiled function; `None` when it is
    /// (still) interpreted. Notes new snippets, and compiles the pending ones
    /// when their generation is due (the caller that finds it due does it).
    pub(crate) async fn exec(
        &self,
        client: &DistClient,
        source: &str,
        bindings: &[(&str, Term)],
        extra: &[(&str, Term)],
        timeout: Duration,
    ) -> Option<Result<Term, EvalError>> {
        if self.disabled.load(Ordering::Relaxed) {
            return None;
        }
        let (known, due) = {
            let mut st = self.state.lock().unwrap();
            let known = match st.snippets.get(source) {
                Some(s) => s.clone(),
                None => {
                    // Used often enough to be worth a module (see COMPILE_AFTER_USES)?
                    let uses = st.unprimed_uses.entry(source.to_string()).or_insert(0);
                    *uses += 1;
                    if *uses >= COMPILE_AFTER_USES {
                        st.unprimed_uses.remove(source);
                        st.snippets.insert(source.to_string(), Snippet::Interpreted);
                        st.pending.push(source.to_string());
                        st.oldest_pending.get_or_insert_with(Instant::now);
                        st.newest_pending = Some(Instant::now());
                    }
                    Snippet::Interpreted
                }
            };
            let settled = st.newest_pending.is_some_and(|t| t.elapsed() >= SETTLE)
                || st
                    .oldest_pending
                    .is_some_and(|t| t.elapsed() >= SETTLE_AT_MOST);
            let due = st.generation < MAX_GENERATIONS
                && settled
                && st
                    .last_compiled
                    .is_none_or(|t| t.elapsed() >= GENERATION_GAP[st.generation]);
            (known, due)
        };
        if due && !self.compiling.swap(true, Ordering::SeqCst) {
            self.compile_pending(client).await;
            self.compiling.store(false, Ordering::SeqCst);
        }
        let Snippet::Compiled(f) = known else {
            return None;
        };
        // The function's parameters are the snippet's free variables: each
        // must be bound (else erl_eval would fail too; let it say why).
        let mut args = Vec::with_capacity(f.2.len());
        for param in &f.2 {
            args.push(
                bindings
                    .iter()
                    .chain(extra)
                    .find(|(n, _)| n == param)?
                    .1
                    .clone(),
            );
        }
        Some(
            client
                .call_with_timeout(&f.0, &f.1, args, timeout)
                .await
                .map_err(EvalError::from),
        )
    }

    /// Compile every pending snippet into the next generation's module. A
    /// snippet the compiler rejects is left out (and stays interpreted).
    async fn compile_pending(&self, client: &DistClient) {
        let (generation, mut batch) = {
            let mut st = self.state.lock().unwrap();
            let g = st.generation;
            st.generation += 1;
            st.last_compiled = Some(Instant::now());
            st.oldest_pending = None;
            st.newest_pending = None;
            (g, std::mem::take(&mut st.pending))
        };
        let module = format!("chaos_monkey_{}_{generation}", self.run_tag);
        // At most two tries: the second without the snippets the first rejected.
        for _ in 0..2 {
            if batch.is_empty() {
                return;
            }
            // Indexes from 1: an error at line 0 blames nothing.
            let snippets = list(
                batch
                    .iter()
                    .enumerate()
                    .map(|(i, source)| {
                        tuple(vec![
                            int(i as i64 + 1),
                            binary(function_name(source).as_bytes()),
                            binary(with_final_dot(source).as_bytes()),
                        ])
                    })
                    .collect(),
            );
            let answer = interpret(
                client,
                COMPILE,
                &[
                    ("Mod", binary(module.as_bytes())),
                    ("Snippets", snippets),
                    ("Janitor", self.janitor.clone()),
                ],
                Duration::from_secs(60),
            )
            .await;
            match answer {
                Ok(t) if t.as_atom() == Some("no_compiler") => {
                    tracing::info!("the target has no compiler: snippets stay interpreted");
                    self.disabled.store(true, Ordering::SeqCst);
                    return;
                }
                Ok(t) => match t.as_tuple() {
                    Some([tag, funs]) if tag.as_atom() == Some("ok") => {
                        let params = |f: &Term| -> Vec<String> {
                            f.as_list()
                                .unwrap_or_default()
                                .iter()
                                .filter_map(|v| v.as_atom().map(str::to_string))
                                .collect()
                        };
                        let funs = funs.as_list().unwrap_or_default();
                        let mut st = self.state.lock().unwrap();
                        for (source, fun) in batch.iter().zip(funs.iter()) {
                            let Some([name, free]) = fun.as_tuple() else {
                                continue;
                            };
                            let name = name.as_atom().unwrap_or_default().to_string();
                            st.snippets.insert(
                                source.clone(),
                                Snippet::Compiled(Arc::new((module.clone(), name, params(free)))),
                            );
                        }
                        if generation == 0 {
                            st.primed += batch.len();
                        } else {
                            st.compiled_later += batch.len();
                        }
                        tracing::debug!(
                            module,
                            snippets = batch.len(),
                            first_lines = ?batch
                                .iter()
                                .map(|s| s.lines().next().unwrap_or_default())
                                .collect::<Vec<_>>(),
                            "snippets compiled"
                        );
                        return;
                    }
                    Some([tag, bad]) if tag.as_atom() == Some("not_compiled") => {
                        let bad: Vec<usize> = bad
                            .as_list()
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|i| i.as_i64())
                            .filter(|i| *i >= 1)
                            .map(|i| i as usize - 1)
                            .collect();
                        tracing::debug!(answer = %show(&t), "snippets did not compile");
                        if bad.is_empty() {
                            return; // nothing to blame: all of them stay interpreted
                        }
                        batch = batch
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| !bad.contains(i))
                            .map(|(_, k)| k)
                            .collect();
                    }
                    _ => {
                        tracing::debug!(answer = %show(&t), "snippets were not loaded: they stay interpreted");
                        return;
                    }
                },
                Err(e) => {
                    tracing::debug!(error = %e, "compiling snippets failed: they stay interpreted");
                    return;
                }
            }
        }
    }
}
