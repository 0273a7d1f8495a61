//! Process chaos: monitor a random worker, kill it (`exit(Pid, kill)`), take
//! its `'DOWN'`, then time how long its supervisor takes to bring it back
//! (within the run's recovery window, at most 10 s). A registered victim is
//! back when `whereis(Name)` returns a new pid; any other victim when its
//! supervisor (the head of `'$ancestors'`, or a linked supervisor for a
//! process started without proc_lib; read before the kill) counts as many
//! active children as before (`count_children`, each call with a timeout).
//! Confirmed by the `'DOWN'`; `restart_ms` is null when nothing came back in
//! time or there is no supervisor to ask (the detail says which).

use super::prelude::*;

/// Kill one worker process.
pub struct KillWorker;

/// The kill, timed: `'DOWN'`, then the restart (shared with the
/// `process_crash` scenario).
pub(crate) const SNIPPET: &str = gated_kill!(
    "kill",
    r#"
case erlang:process_info(Victim, [registered_name, dictionary]) of
    undefined -> gone;
    [{registered_name, RegName}, {dictionary, _Dict}] ->
        Name = case RegName of [] -> none; _ -> RegName end,
        %% Its supervisor, as the budget gate finds it (budget_read.erl).
        SupPid = BgSupOf(Victim),
        IsSup = is_pid(SupPid),
        SupName = case IsSup of
                      true ->
                          case erlang:process_info(SupPid, registered_name) of
                              {registered_name, SN} when is_atom(SN) -> SN;
                              _ -> SupPid
                          end;
                      false -> none
                  end,
        Active = fun(TimeoutMs) ->
            try gen_server:call(SupPid, count_children, max(1, TimeoutMs)) of
                Counts when is_list(Counts) -> proplists:get_value(active, Counts, 0);
                _ -> error
            catch _:_ -> error
            end
        end,
        %% A temporary child is not restarted by design (a connection handler,
        %% a pool member replaced by someone else): only wait for it when named.
        %% Read inside the supervisor (budget_read.erl): never with
        %% supervisor:get_childspec/2, which takes a child id, not a pid, and
        %% crashes Elixir's DynamicSupervisor and Task.Supervisor.
        RestartType = case IsSup of
            true -> case BgBudget(SupPid, Victim) of
                        #{restart := RT} -> RT;
                        _ -> unknown
                    end;
            false -> none
        end,
        Before = case Name =:= none andalso IsSup of
                     true -> Active(1000);
                     false -> none
                 end,
        R = erlang:monitor(process, Victim),
        Sent = erlang:monotonic_time(microsecond),
        erlang:exit(Victim, kill),
        receive
            {'DOWN', R, process, _, noproc} -> gone;
            {'DOWN', R, process, _, Why} ->
                Killed = erlang:monotonic_time(microsecond),
                DetectUs = Killed - Sent,
                Deadline = Killed + RestartDeadlineMs * 1000,
                Back = case {Name, Before} of
                           {none, error} -> fun() -> false end;
                           {none, none} -> fun() -> false end;
                           {none, _} ->
                               fun() ->
                                   case Active((Deadline - erlang:monotonic_time(microsecond)) div 1000) of
                                       error -> false;
                                       NowActive -> NowActive >= Before
                                   end
                               end;
                           _ ->
                               fun() ->
                                   case erlang:whereis(Name) of
                                       NewPid when is_pid(NewPid), NewPid =/= Victim -> true;
                                       _ -> false
                                   end
                               end
                       end,
                Waitable = Name =/= none orelse (Before =/= none andalso Before =/= error),
                %% Back, and still back 50 ms later: a restart whose init
                %% crashes (registered, then gone) is not a recovery.
                Poll = fun Loop() ->
                    case Back() of
                        true ->
                            At = erlang:monotonic_time(microsecond) - Killed,
                            receive after 50 -> ok end,
                            case Back() of
                                true -> {restarted, At};
                                false -> Loop()
                            end;
                        false ->
                            case erlang:monotonic_time(microsecond) >= Deadline of
                                true -> timeout;
                                false -> receive after 1 -> Loop() end
                            end
                    end
                end,
                %% A temporary child is not restarted by its supervisor, but
                %% the application may start a replacement (a pool): the
                %% active count coming back measures that.
                Restart = case Waitable of true -> Poll(); false -> not_waited end,
                Killing = iolist_to_binary(io_lib:format("killed, 'DOWN' with ~0p", [Why])),
                case Restart of
                    {restarted, Us} ->
                        By = case {Name, SupName} of
                                 {none, _} -> io_lib:format("its supervisor ~0p is back to ~b active children", [SupName, Before]);
                                 {_, none} -> io_lib:format("~0p re-registered", [Name]);
                                 _ -> io_lib:format("~0p restarted by ~0p", [Name, SupName])
                             end,
                        {confirmed,
                         iolist_to_binary(io_lib:format("~s; ~s in ~b ms", [Killing, By, (Us + 500) div 1000])),
                         #{restart_ms => (Us + 500) div 1000, restart_us => Us, detect_us => DetectUs,
                           registered => Name =/= none, restart_type => RestartType, recovered => true}};
                    timeout when RestartType =:= temporary, Name =:= none ->
                        {confirmed,
                         iolist_to_binary(io_lib:format("~s; a temporary child of ~0p, not restarted by design", [Killing, SupName])),
                         #{restart_ms => null, detect_us => DetectUs, registered => false, restart_type => temporary}};
                    timeout ->
                        {confirmed,
                         iolist_to_binary(io_lib:format("~s; not restarted within ~b ms", [Killing, RestartDeadlineMs])),
                         #{restart_ms => null, detect_us => DetectUs, registered => Name =/= none,
                           restart_type => RestartType, recovered => false,
                           supervisor => iolist_to_binary(io_lib:format("~0p", [SupName])),
                           name => case Name of none -> null; _ -> Name end}};
                    not_waited ->
                        NoSup = case {IsSup, Before} of
                                    {false, _} -> "it has no supervisor (none in its '$ancestors' or links)";
                                    _ -> "its supervisor did not answer count_children"
                                end,
                        {confirmed,
                         iolist_to_binary(io_lib:format("~s; restart not measured: ~s", [Killing, NoSup])),
                         #{restart_ms => null, detect_us => DetectUs, registered => false,
                           %% An unnamed process nobody supervises is not expected back.
                           recovered => null,
                           unsupervised => not IsSup}}
                end
        after 2000 ->
            erlang:demonitor(R, [flush]),
            {unconfirmed, <<"kill sent, but no 'DOWN' within 2 s">>}
        end
end
"#
);

impl TypedOperation<BeamTarget> for KillWorker {
    type Params = NoParams;

    fn name(&self) -> &'static str {
        "kill_worker"
    }

    fn category(&self) -> Category {
        Category::Process
    }

    fn describe(&self) -> &'static str {
        "kill a random worker process; confirmed by its 'DOWN'; times its recovery"
    }

    fn plan(&self, _rng: &mut SeededRng, _profile: Profile) -> NoParams {
        NoParams {}
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, _p: NoParams) -> BoxFuture<'a, Outcome> {
        Box::pin(kill_and_time_recovery(ctx))
    }
}

/// Kill a random worker and time its recovery, within the run's recovery window.
async fn kill_and_time_recovery(ctx: &BeamTarget) -> Outcome {
    let deadline = int(ctx.recovery_window().as_millis().clamp(1, 10_000) as i64);
    let deadline = &deadline;
    if !ctx.take_kill() {
        return Outcome::skipped("blast-radius cap: maximum kills per second reached");
    }
    let out = ctx
        .on_victim(Want::KILL, |v| async move {
            (
                ctx.reply(
                    SNIPPET,
                    &[
                        ("Victim", v.pid.clone().into()),
                        ("RestartDeadlineMs", deadline.clone()),
                    ],
                )
                .await,
                None,
            )
        })
        .await;
    match &out.victim {
        Some(v) if out.status == Status::Confirmed => ctx.victim_dead(&v.id).await,
        _ => ctx.victim_gone().await,
    }
    if out.status == Status::Confirmed {
        ctx.killed(out)
    } else {
        out
    }
}
