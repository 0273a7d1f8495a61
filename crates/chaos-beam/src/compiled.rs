//! The fast path for snippets: each one compiled, for the length of a run,
//! into a temporary module on the target.
//!
//! Interpreting a snippet with `erl_eval` costs its whole syntax tree on the
//! wire and an interpreter on the target at every call: milliseconds for the
//! bigger operations, which caps a run near a few hundred operations per
//! second and makes the health sample of a big node expensive. When a run
//! turns this on ([`enable`]), the first evaluation of a snippet with a given
//! set of binding names compiles it on the target (`compile:forms/2`) into a
//! module of its own, `chaos_monkey_<run>_<n>`, with one function `run/N`
//! whose arguments are the bindings in name order. Every later evaluation is
//! one `erpc` call of that function: microseconds.
//!
//! Nothing stays behind:
//! * the modules of a run are registered, before they are loaded, with a
//!   *janitor* process on the target. The janitor is itself evaluated (not
//!   compiled), so purging the modules cannot kill it;
//! * at the end of the run ([`unload`]), and at once when the monkey's node
//!   goes down (`erlang:monitor_node/2`), the janitor deletes every module,
//!   waits (soft purge, polled) until no process runs their code any more —
//!   helpers finish undoing their effects first — and purges what is left
//!   after a bound, then exits.
//!
//! A snippet the compiler rejects (it is stricter than `erl_eval`, for example
//! about variables unsafe in a `case`) and every snippet on a node without the
//! `compiler` application simply stay interpreted. `--no-compile` keeps a run
//! interpreted. The module names are new atoms: about one per snippet per run.

use crate::dist::term::{atom, binary, int, show, Term, TermExt};
use crate::dist::DistClient;
use crate::eval::{interpret, EvalError};
use smol::lock::OnceCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Starts the janitor: it collects the run's modules and unloads them on
/// `{unload, From}` or when the monkey's node goes down.
const JANITOR: &str = r#"
erlang:spawn(fun() ->
    erlang:monitor_node(Monkey, true),
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
            {nodedown, Monkey} -> Unload(Mods)
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
            Other -> {not_compiled, Other}
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
    next: AtomicUsize,
    cells: Mutex<HashMap<String, Arc<Slot>>>,
}

/// One snippet's module, compiled once; `None` when it stays interpreted.
type Slot = OnceCell<Option<Arc<Compiled>>>;

struct Compiled {
    module: String,
    /// Binding names in argument order.
    params: Vec<String>,
}

/// Turn the fast path on for `client`: starts the janitor. Returns its pid,
/// which must never be a victim (the caller records it as a helper).
pub async fn enable(client: &DistClient) -> Result<Term, EvalError> {
    if let Some(m) = client.snippet_modules() {
        return Ok(m.janitor.clone());
    }
    let janitor = interpret(
        client,
        JANITOR,
        &[
            ("Monkey", atom(client.local_name())),
            ("WaitMs", int(PURGE_WAIT.as_millis() as i64)),
        ],
        client.call_timeout(),
    )
    .await?;
    let tag: u32 = rand::random();
    client.set_snippet_modules(Arc::new(SnippetModules {
        run_tag: format!("{tag:08x}"),
        janitor: janitor.clone(),
        disabled: AtomicBool::new(false),
        next: AtomicUsize::new(0),
        cells: Mutex::new(HashMap::new()),
    }));
    Ok(janitor)
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

/// The prefix of this run's module names (for the left-behind audit).
pub fn module_prefix(client: &DistClient) -> Option<String> {
    client
        .snippet_modules()
        .map(|m| format!("chaos_monkey_{}_", m.run_tag))
}

impl SnippetModules {
    /// Evaluate `source` through its compiled module, compiling it on first
    /// use; `None` when it stays interpreted.
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
        let mut key = String::with_capacity(source.len() + 32);
        for (name, _) in &sorted {
            key.push_str(name);
            key.push(',');
        }
        key.push('\n');
        key.push_str(source);
        let cell = self.cells.lock().unwrap().entry(key).or_default().clone();
        let compiled = cell
            .get_or_init(|| self.compile(client, source, &sorted))
            .await
            .clone()?;
        let args: Vec<Term> = sorted.iter().map(|(_, v)| v.clone()).collect();
        debug_assert_eq!(compiled.params.len(), args.len());
        Some(
            client
                .call_with_timeout(&compiled.module, "run", args, timeout)
                .await
                .map_err(EvalError::from),
        )
    }

    async fn compile(
        &self,
        client: &DistClient,
        source: &str,
        sorted: &[&(&str, Term)],
    ) -> Option<Arc<Compiled>> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let module = format!("chaos_monkey_{}_{n}", self.run_tag);
        let params: Vec<String> = sorted.iter().map(|(k, _)| k.to_string()).collect();
        let body = source.trim_end();
        let body = body.strip_suffix('.').unwrap_or(body);
        let src = format!(
            "-module({module}).\n-export([run/{}]).\nrun({}) ->\n{body}\n.\n",
            params.len(),
            params.join(", ")
        );
        let answer = interpret(
            client,
            COMPILE,
            &[
                ("Src", binary(src.as_bytes())),
                ("Janitor", self.janitor.clone()),
            ],
            Duration::from_secs(30),
        )
        .await;
        match answer {
            Ok(t) if t.as_atom() == Some("ok") => Some(Arc::new(Compiled { module, params })),
            Ok(t) if t.as_atom() == Some("no_compiler") => {
                tracing::info!("the target has no compiler: snippets stay interpreted");
                self.disabled.store(true, Ordering::SeqCst);
                None
            }
            Ok(t) => {
                tracing::debug!(answer = %show(&t), "a snippet did not compile: it stays interpreted");
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "compiling a snippet failed: it stays interpreted");
                None
            }
        }
    }
}
