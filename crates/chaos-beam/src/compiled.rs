//! The fast path for snippets: each one compiled, for the length of a run,
//! into a temporary module on the target.
//!
//! Interpreting a snippet with `erl_eval` costs its whole syntax tree on the
//! wire and an interpreter on the target at every call: milliseconds for the
//! bigger operations, which caps a run near a few hundred operations per
//! second and makes the health sample of a big node expensive. When a run
//! turns this on ([`enable`]), snippets are interpreted at first and noted
//! with their binding names; once no new snippet has turned up for half a
//! second (at most 3 s after the first), every snippet seen so far is
//! compiled on the target (`compile:forms/2`) into ONE module,
//! `chaos_monkey_<slot>_<generation>` (the slot of our node name, see
//! [`crate::dist`]), one function per snippet whose
//! arguments are its bindings in name order. From then on each evaluation is
//! one `erpc` call of that function: microseconds. Snippets first seen later
//! go into a later generation (at least 2 s, 10 s, 1 min apart; at most
//! [`MAX_GENERATIONS`] modules), because unloading costs a scan of every
//! process per module (about 2.5 s of CPU per module on a node with a
//! million processes), so modules are few and shared.
//!
//! Nothing stays behind:
//! * the modules of a run are registered, before they are loaded, with a
//!   *janitor* process on the target. The janitor is itself evaluated (not
//!   compiled), so purging the modules cannot kill it;
//! * at the end of the run ([`unload`]), and at once when the monkey's lease
//!   on the node ends ([`crate::lease`]: the monkey killed, frozen or cut
//!   off), the janitor deletes every module,
//!   waits (soft purge, polled) until no process runs their code any more —
//!   helpers finish undoing their effects first — and purges what is left
//!   after a bound, then exits.
//!
//! A snippet the compiler rejects (it is stricter than `erl_eval`, for example
//! about variables unsafe in a `case`) and every snippet on a node without the
//! `compiler` application simply stay interpreted. `--no-compile` keeps a run
//! interpreted. Module and function names come from fixed sets (slot,
//! generation, `s0`…`sN`), so after the first run a run adds no atoms; the
//! first run loads the compiler's modules, which add their own atoms.

use crate::dist::term::{binary, int, show, Pid, Term, TermExt};
use crate::dist::DistClient;
use crate::eval::{interpret, EvalError};
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

/// The least time between one generation and the next, per generation.
const GENERATION_GAP: [Duration; MAX_GENERATIONS] = [
    Duration::ZERO,
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(60),
];

/// Starts the janitor: it collects the run's modules and unloads them on
/// `{unload, From}` or when the monkey's lease keeper `Lease` goes.
const JANITOR: &str = r#"
erlang:spawn(fun() ->
    LeaseRef = erlang:monitor(process, Lease),
    Now = fun() -> erlang:monotonic_time(millisecond) end,
    Unload = fun(Mods) ->
        [code:delete(M) || M <- Mods],
        Deadline = Now() + WaitMs,
        Purge = fun Purge(Left) ->
            case [M || M <- Left, not code:soft_purge(M)] of
                [] -> ok;
                Still ->
                    case Now() >= Deadline of
                        true -> [code:purge(M) || M <- Still], {purged, Still};
                        false -> receive after 20 -> Purge(Still) end
                    end
            end
        end,
        Result = Purge(Mods),
        {Result, [M || M <- Mods, code:is_loaded(M) =/= false]}
    end,
    Loop = fun Loop(Mods) ->
        receive
            {add, M} -> Loop([M | Mods]);
            {unload, From} -> From ! {unloaded, self(), Unload(Mods)};
            {'DOWN', LeaseRef, process, _, _} -> Unload(Mods)
        end
    end,
    Loop([])
end).
"#;

/// Compiles `Src` (a whole module) and loads it, after telling the janitor.
const COMPILE: &str = r#"
case code:ensure_loaded(compile) of
    {module, compile} ->
        {ok, Tokens, _} = erl_scan:string(binary_to_list(Src), {1, 1}),
        Split = fun Split([], [], Forms) -> lists:reverse(Forms);
                    Split([{dot, _} = Dot | Rest], Acc, Forms) ->
                        {ok, Form} = erl_parse:parse_form(lists:reverse([Dot | Acc])),
                        Split(Rest, [], [Form | Forms]);
                    Split([Token | Rest], Acc, Forms) -> Split(Rest, [Token | Acc], Forms)
                end,
        case catch compile:forms(Split(Tokens, [], []), [binary, return_errors, nowarn_unused_vars,
                                                         nowarn_shadow_vars, nowarn_export_vars]) of
            {ok, Mod, Bin} ->
                Janitor ! {add, Mod},
                case code:load_binary(Mod, "chaos-monkey (temporary)", Bin) of
                    {module, Mod} -> ok;
                    Error -> {not_loaded, Error}
                end;
            {error, Errors, _} ->
                Line = fun({L, _}) when is_integer(L) -> L; (L) when is_integer(L) -> L; (_) -> 0 end,
                {not_compiled, [Line(Loc) || {_, Es} <- Errors, {Loc, _, _} <- Es]};
            Other -> {failed, Other}
        end;
    _ -> no_compiler
end.
"#;

/// How long the janitor lets helpers finish undoing before it purges anyway.
const PURGE_WAIT: Duration = Duration::from_secs(45);

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
    /// Every snippet seen, by binding names + source.
    snippets: HashMap<String, Snippet>,
    /// Seen and not yet tried, in order.
    pending: Vec<String>,
    /// When the oldest pending snippet was first seen.
    oldest_pending: Option<Instant>,
    /// When the newest pending snippet was first seen.
    newest_pending: Option<Instant>,
    generation: usize,
    /// When the last generation was compiled.
    last_compiled: Option<Instant>,
}

#[derive(Clone)]
enum Snippet {
    /// Interpreted until the next generation (or for good).
    Interpreted,
    /// `module:function`, arguments in binding-name order.
    Compiled(Arc<(String, String)>),
}

/// Turn the fast path on for `client`: starts the janitor, which unloads
/// the run's modules when `lease`'s keeper goes. Returns its pid, which must
/// never be a victim (the caller records it as a helper).
pub async fn enable(client: &DistClient, lease: &Pid) -> Result<Term, EvalError> {
    if let Some(m) = client.snippet_modules() {
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
    client.set_snippet_modules(Arc::new(SnippetModules {
        run_tag: slot,
        janitor: janitor.clone(),
        disabled: AtomicBool::new(false),
        compiling: AtomicBool::new(false),
        state: Mutex::new(State::default()),
    }));
    Ok(janitor)
}
/// Compile `snippets` (source, the binding names its call site passes) now,
/// as one generation, before any of them is used: a run primes its hottest
/// snippets so its first seconds do not run interpreted.
pub async fn prime(client: &DistClient, snippets: &[(&str, &[&str])]) {
    let Some(m) = client.snippet_modules() else {
        return;
    };
    {
        let mut st = m.state.lock().unwrap();
        for (source, names) in snippets {
            let key = key_of(source, names.iter().copied());
            if !st.snippets.contains_key(&key) {
                st.snippets.insert(key.clone(), Snippet::Interpreted);
                st.pending.push(key);
            }
        }
    }
    if !m.compiling.swap(true, Ordering::SeqCst) {
        m.compile_pending(client).await;
        m.compiling.store(false, Ordering::SeqCst);
    }
}

/// How many snippets seen on `client` are still waiting to be compiled (for tests).
pub fn pending(client: &DistClient) -> usize {
    client
        .snippet_modules()
        .map(|m| m.state.lock().unwrap().pending.len())
        .unwrap_or(0)
}

/// The cache key: binding names in order, a newline, the source.
fn key_of<'a>(source: &str, sorted_names: impl Iterator<Item = &'a str>) -> String {
    let mut key = String::with_capacity(source.len() + 64);
    for name in sorted_names {
        key.push_str(name);
        key.push(',');
    }
    key.push('\n');
    key.push_str(source);
    key
}

/// What [`unload`] found.
#[derive(Debug, Default)]
pub struct Unloaded {
    /// Modules that had to be purged while a process still ran their code.
    pub forced: Vec<String>,
    /// Modules still loaded afterwards (should be none).
    pub still_loaded: Vec<String>,
}

/// End of run: every module of the run deleted and purged by the janitor,
/// which then exits; later snippets are interpreted again.
pub async fn unload(client: &DistClient) -> Result<Unloaded, EvalError> {
    let Some(m) = client.snippet_modules() else {
        return Ok(Unloaded::default());
    };
    m.disabled.store(true, Ordering::SeqCst);
    let t = interpret(
        client,
        "R = erlang:monitor(process, Janitor), Janitor ! {unload, self()}, \
         receive {unloaded, Janitor, Result} -> erlang:demonitor(R, [flush]), Result; \
                 {'DOWN', R, process, _, Why} -> {gone, Why} \
         after WaitMs -> timeout end.",
        &[
            ("Janitor", m.janitor.clone()),
            ("WaitMs", int(PURGE_WAIT.as_millis() as i64 + 5_000)),
        ],
        PURGE_WAIT + Duration::from_secs(10),
    )
    .await?;
    let names = |t: Option<&Term>| -> Vec<String> {
        t.and_then(|t| t.as_list())
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m.as_atom().map(str::to_string))
            .collect()
    };
    match t.as_tuple() {
        Some([result, still]) => Ok(Unloaded {
            forced: match result.as_tuple() {
                Some([_, forced]) => names(Some(forced)),
                _ => Vec::new(),
            },
            still_loaded: names(Some(still)),
        }),
        _ => Ok(Unloaded {
            forced: Vec::new(),
            still_loaded: vec![format!("the janitor did not unload: {}", show(&t))],
        }),
    }
}

/// Stop using the compiled modules (they are being unloaded by the janitor,
/// e.g. after the lease ended early): snippets are interpreted from now on.
pub fn disable(client: &DistClient) {
    if let Some(m) = client.snippet_modules() {
        m.disabled.store(true, Ordering::SeqCst);
    }
}

/// The prefix of this run's module names (for the left-behind audit).
pub fn module_prefix(client: &DistClient) -> Option<String> {
    client
        .snippet_modules()
        .map(|m| format!("chaos_monkey_{}_", m.run_tag))
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
        timeout: Duration,
    ) -> Option<Result<Term, EvalError>> {
        if self.disabled.load(Ordering::Relaxed) {
            return None;
        }
        let mut sorted: Vec<&(&str, Term)> = bindings.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let key = key_of(source, sorted.iter().map(|(name, _)| *name));
        let (known, due) = {
            let mut st = self.state.lock().unwrap();
            let known = match st.snippets.get(&key) {
                Some(s) => s.clone(),
                None => {
                    st.snippets.insert(key.clone(), Snippet::Interpreted);
                    st.pending.push(key);
                    st.oldest_pending.get_or_insert_with(Instant::now);
                    st.newest_pending = Some(Instant::now());
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
        let args: Vec<Term> = sorted.iter().map(|(_, v)| v.clone()).collect();
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
        // At most two tries: the second without the functions the first rejected.
        for _ in 0..2 {
            if batch.is_empty() {
                return;
            }
            let (src, lines) = module_source(&module, &batch);
            let answer = interpret(
                client,
                COMPILE,
                &[
                    ("Src", binary(src.as_bytes())),
                    ("Janitor", self.janitor.clone()),
                ],
                Duration::from_secs(60),
            )
            .await;
            match answer {
                Ok(t) if t.as_atom() == Some("ok") => {
                    let mut st = self.state.lock().unwrap();
                    for key in &batch {
                        st.snippets.insert(
                            key.clone(),
                            Snippet::Compiled(Arc::new((module.clone(), function_name(key)))),
                        );
                    }
                    tracing::debug!(module, snippets = batch.len(), "snippets compiled");
                    return;
                }
                Ok(t) if t.as_atom() == Some("no_compiler") => {
                    tracing::info!("the target has no compiler: snippets stay interpreted");
                    self.disabled.store(true, Ordering::SeqCst);
                    return;
                }
                Ok(t) => {
                    let bad: Vec<usize> = match t.as_tuple() {
                        Some([tag, errs]) if tag.as_atom() == Some("not_compiled") => errs
                            .as_list()
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|l| l.as_i64())
                            .filter_map(|l| lines.iter().rposition(|start| *start <= l as usize))
                            .collect(),
                        _ => Vec::new(),
                    };
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
                Err(e) => {
                    tracing::debug!(error = %e, "compiling snippets failed: they stay interpreted");
                    return;
                }
            }
        }
    }
}

/// The module text for `batch` (keys: binding names, newline, source) and
/// the first line of each function (to blame compile errors).
fn module_source(module: &str, batch: &[String]) -> (String, Vec<usize>) {
    let exports: Vec<String> = batch
        .iter()
        .map(|key| format!("{}/{}", function_name(key), params_of(key).len()))
        .collect();
    let mut src = format!("-module({module}).\n-export([{}]).\n", exports.join(", "));
    let mut lines = Vec::with_capacity(batch.len());
    for key in batch {
        let (_, source) = key.split_once('\n').unwrap_or(("", key));
        let body = source.trim_end();
        let body = body.strip_suffix('.').unwrap_or(body);
        lines.push(src.lines().count() + 1);
        src.push_str(&format!(
            "{}({}) ->\n{body}\n.\n",
            function_name(key),
            params_of(key).join(", ")
        ));
    }
    (src, lines)
}

/// The function a snippet compiles into: named after its text (FNV-1a, 64
/// bits), so the same snippet gets the same name — and the compiler the same
/// names for its funs — in every run and every module: atoms are never
/// freed, and these are made once per snippet per node, not once per run.
fn function_name(key: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("s_{hash:016x}")
}

fn params_of(key: &str) -> Vec<&str> {
    let names = key.split_once('\n').map(|(n, _)| n).unwrap_or("");
    names.split(',').filter(|n| !n.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_function_per_snippet_with_its_bindings_in_order() {
        let batch = vec![
            "Monkey,Victim,\nerlang:exit(Victim, kill).".to_string(),
            "\nok.".to_string(),
        ];
        let (src, lines) = module_source("m", &batch);
        let (f0, f1) = (function_name(&batch[0]), function_name(&batch[1]));
        assert_eq!(
            src,
            format!("-module(m).\n-export([{f0}/2, {f1}/0]).\n{f0}(Monkey, Victim) ->\nerlang:exit(Victim, kill)\n.\n{f1}() ->\nok\n.\n")
        );
        assert_eq!(lines, vec![3, 6]);
        // Named after the text: the same in every run, different per snippet.
        assert_eq!(f0, function_name(&batch[0].clone()));
        assert_ne!(f0, f1);
        assert!(f0.starts_with("s_") && f0.len() == 18, "{f0}");
    }
}
