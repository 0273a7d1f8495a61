//! Process chaos (behind `--allow-supervisor-kill`): kill a random non-top
//! supervisor of an application (`exit(Pid, kill)`), taking its whole
//! subtree down, and measure how long its parent takes to restart it.
//!
//! An application's top supervisor (the child of its application master,
//! `application_master:get_child/1`) is never chosen, nor a supervisor whose
//! parent (head of `'$ancestors'`) is not itself a supervisor — killing those
//! would stop the application, not exercise its supervision. Confirmed by
//! the `'DOWN'`; then `restart_ms` is measured by polling (every 5 ms, up to
//! 5 s) until the parent has a new pid for the same child id
//! (`which_children`, 1 s timeout) or, for a registered supervisor, the name
//! points to a new process. Not restarted within 5 s is still a confirmed
//! kill, without `restart_ms`. Respects the kills-per-second cap.

use super::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Rounds of victim picks (each up to `on_victim`'s tries).
const ROUNDS: usize = 4;

/// Kill one non-top supervisor.
pub struct KillSupervisor;

/// Of the given supervisors, those with a supervisor for a parent and that
/// are no application's top supervisor.
pub(crate) const NON_TOP: &str = r#"
Tops = lists:append([case application_controller:get_master(A) of
                          Master when is_pid(Master) ->
                              case catch application_master:get_child(Master) of
                                  {Top, _} when is_pid(Top) -> [Top];
                                  _ -> []
                              end;
                          _ -> []
                      end || {A, _, _} <- application:which_applications()]),
IsSup = fun(P) ->
    case erlang:process_info(P, dictionary) of
        {dictionary, D} ->
            case lists:keyfind('$initial_call', 1, D) of
                {_, {supervisor, _, _}} -> true;
                {_, {supervisor_bridge, _, _}} -> true;
                _ -> false
            end;
        _ -> false
    end
end,
Parent = fun(P) ->
    case erlang:process_info(P, dictionary) of
        {dictionary, D} ->
            case lists:keyfind('$ancestors', 1, D) of
                {_, [Pa | _]} when is_pid(Pa) -> Pa;
                {_, [Pa | _]} when is_atom(Pa) -> whereis(Pa);
                _ -> undefined
            end;
        _ -> undefined
    end
end,
[S || S <- Sups, not lists:member(S, Tops), is_pid(Parent(S)), IsSup(Parent(S))].
"#;

pub(crate) const SNIPPET: &str = gated_kill!(
    "kill",
    r#"
Dict = case erlang:process_info(Victim, [dictionary, registered_name]) of
           undefined -> undefined;
           [{dictionary, D}, {registered_name, N}] -> {D, N}
       end,
case Dict of
    undefined -> gone;
    {D0, Name} ->
        Parent = case lists:keyfind('$ancestors', 1, D0) of
                     {_, [Pa | _]} when is_pid(Pa) -> Pa;
                     {_, [Pa | _]} when is_atom(Pa) -> whereis(Pa);
                     _ -> undefined
                 end,
        Children = fun() ->
            try gen_server:call(Parent, which_children, 1000) of
                L when is_list(L) -> L;
                _ -> []
            catch _:_ -> []
            end
        end,
        Id = case [I || {I, P, _, _} <- Children(), P =:= Victim] of
                 [I0 | _] -> {ok, I0};
                 [] -> none
             end,
        Back = fun() ->
            case Name of
                [] ->
                    case Id of
                        {ok, Cid} ->
                            [P || {I, P, _, _} <- Children(), I =:= Cid, is_pid(P), P =/= Victim] =/= [];
                        none -> false
                    end;
                _ ->
                    case whereis(Name) of
                        New when is_pid(New), New =/= Victim -> true;
                        _ -> false
                    end
            end
        end,
        R = erlang:monitor(process, Victim),
        case is_pid(Parent) andalso erlang:is_process_alive(Victim) of
            false -> erlang:demonitor(R, [flush]), gone;
            true ->
                T0 = erlang:monotonic_time(millisecond),
                T0Us = erlang:monotonic_time(microsecond),
                erlang:exit(Victim, kill),
                receive
                    {'DOWN', R, process, _, Why} ->
                        DetectUs = erlang:monotonic_time(microsecond) - T0Us,
                        Wait = fun W() ->
                            Ms = erlang:monotonic_time(millisecond) - T0,
                            case Back() of
                                true -> {ok, Ms};
                                false when Ms >= 5000 -> timeout;
                                false -> timer:sleep(5), W()
                            end
                        end,
                        What = case Name of [] -> io_lib:format("~0p", [Victim]); _ -> io_lib:format("~0p (~0p)", [Name, Victim]) end,
                        case Wait() of
                            {ok, Ms} ->
                                {confirmed, iolist_to_binary(io_lib:format(
                                    "killed supervisor ~s, 'DOWN' with ~0p; its parent ~0p restarted it after ~b ms",
                                    [What, Why, Parent, Ms])), #{restart_ms => Ms, detect_us => DetectUs}};
                            timeout ->
                                {confirmed, iolist_to_binary(io_lib:format(
                                    "killed supervisor ~s, 'DOWN' with ~0p; not restarted by ~0p within 5 s",
                                    [What, Why, Parent])), #{detect_us => DetectUs}}
                        end
                after 2000 ->
                    erlang:demonitor(R, [flush]),
                    {unconfirmed, <<"kill sent, but no 'DOWN' within 2 s">>}
                end
        end
end
"#
);

impl TypedOperation<BeamTarget> for KillSupervisor {
    type Params = NoParams;

    fn name(&self) -> &'static str {
        "kill_supervisor"
    }

    fn category(&self) -> Category {
        Category::Process
    }

    fn describe(&self) -> &'static str {
        "kill a random non-top supervisor; confirmed by its 'DOWN', restart_ms measured"
    }

    fn gate(&self) -> Option<&'static str> {
        Some("a supervisor's death takes its whole subtree with it and can use up its parent's restart budget")
    }

    fn plan(&self, _rng: &mut SeededRng, _profile: Profile) -> NoParams {
        NoParams {}
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, _p: NoParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let sups: Vec<Term> = match ctx.candidates().await {
                Ok(c) => c
                    .iter()
                    .filter(|c| c.supervisor)
                    .map(|c| c.pid.clone().into())
                    .collect(),
                Err(e) => return Outcome::failed(format!("could not list victims: {e}")),
            };
            let eligible: Vec<_> = match ctx.exec(NON_TOP, &[("Sups", list(sups))]).await {
                Ok(t) => t
                    .as_list()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|t| t.as_pid().cloned())
                    .collect(),
                Err(e) => {
                    return Outcome::failed(format!("could not read the supervision tree: {e}"))
                }
            };
            if eligible.is_empty() {
                return Outcome::skipped(
                    "no eligible supervisor below an application's top supervisor under the safety rules",
                );
            }
            if !ctx.take_kill() {
                return Outcome::skipped("blast-radius cap: maximum kills per second reached");
            }
            let want = Want {
                supervisors: true,
                ..Want::KILL
            };
            // `on_victim` cannot be told to leave the top supervisors out; a
            // pick that lands on one is answered `Gone` (another is tried), and
            // when a whole round hit only top supervisors, another round runs.
            let eligible = &eligible;
            let mut out = Outcome::skipped("no non-top supervisor picked");
            for _ in 0..ROUNDS {
                let (acted, top) = (AtomicBool::new(false), AtomicBool::new(false));
                let (acted, top) = (&acted, &top);
                out = ctx
                    .on_victim(want, |v| async move {
                        if !eligible.contains(&v.pid) {
                            top.store(true, Ordering::Relaxed);
                            return (Reply::Gone, None);
                        }
                        acted.store(true, Ordering::Relaxed);
                        (
                            ctx.reply(SNIPPET, &[("Victim", v.pid.clone().into())])
                                .await,
                            None,
                        )
                    })
                    .await;
                let only_tops = top.load(Ordering::Relaxed) && !acted.load(Ordering::Relaxed);
                if !(only_tops && out.status == Status::Skipped) {
                    break;
                }
                if out.detail.starts_with("every victim tried died") {
                    out = Outcome::skipped(
                        "every pick hit an application's top supervisor, which is never killed",
                    );
                }
            }
            ctx.victim_gone().await;
            if out.status == Status::Confirmed {
                ctx.killed(out)
            } else {
                out
            }
        })
    }
}
