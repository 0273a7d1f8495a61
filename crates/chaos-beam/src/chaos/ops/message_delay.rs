//! Timing chaos: delay every message an OTP process receives, from inside
//! it, for as long as the effect holds — a slow process, not a stopped one
//! (`sys_suspend` is the full stop; both exist because they are different
//! faults: a suspended process handles nothing, a delayed one handles
//! everything, late).
//!
//! How: a `sys` debug function (`sys:install/3` with its own id,
//! `{chaos_monkey_delay, Token}`), which the behaviour (`gen_server`,
//! `gen_statem`, `gen_event`, any `proc_lib` process that calls
//! `sys:handle_debug/4`) runs on every event; on each `{in, Msg}` it waits
//! `delay_ms` before the message is handled: 1 ms–1 s (demo) / 1 ms–10 s
//! (aggressive), drawn log-uniform. Unless `--allow-collapse`, the hook
//! delays at most 4.5 s in any 5 s (below the default call timeout; the
//! messages over that pass undelayed and are counted as `passed`).
//! `socket_delay` installs the same hook on a process that owns an
//! application's TCP connection and delays only its socket messages (its
//! reads, `{tcp, S, Data}` and the like).
//!
//! The hook is built with `erl_eval` on the node, so the victim never holds
//! a fun of the run's compiled (and later purged) module. It waits in
//! `timer:sleep/1` slices of at most 20 ms and checks a *token* process of
//! the helper's between them: when the token dies, a delay in progress ends
//! within 20 ms and the hook returns `done`, which makes `sys` drop it.
//! It never waits in an interpreted `receive`: `erl_eval` runs one through
//! `prim_eval:'receive'/2`, and a victim's interpreted receive inside
//! `sys:handle_debug/4` crashed Erlang/OTP 25.2.3's emulator (a segfault
//! in a scheduler, with `prim_eval:'receive'/2` and `erl_eval:match_clause/5`
//! on the crashing process's stack) within a minute of the default mix on
//! a busy node. `timer:sleep/1` is compiled code with no receive clauses.
//! The helper kills the token and removes the hook (`sys:remove/3`) on
//! release, at its deadline and when the monkey's lease ends; a killed
//! helper takes the token with it, so the hook removes itself at the next
//! message.
//!
//! Confirmed by the victim's answer time: a harmless system request
//! (`sys:statistics(P, get)`) is timed before the hook, then again while
//! the hook delays a message (the hook tells the monkey when it starts
//! one): confirmed when it rose by at least half the delay; the hook's own
//! count (`delayed`, read from the victim's debug state) is reported too.
//! No message through the hook within the observation window (up to 1 s:
//! none arrived, or the process's loop does not call `sys:handle_debug/4`):
//! unconfirmed, "nothing delayed yet", and the hook stays for its hold.

use super::prelude::*;
use crate::dist::term::binary;

/// Delay every message an OTP process receives.
pub struct MessageDelay;

/// The debug function, evaluated on the node with `erl_eval` (a fun of the
/// interpreter, never of a module the run unloads). Its state: the token,
/// the delay, the cap per 5 s window, what it delays (`any` message or
/// only `socket` ones), who to tell when the first delay starts, counts.
pub(crate) const HOOK: &str = r#"
fun(#{token := Token} = S, Event, _ProcState) when is_tuple(Event), element(1, Event) =:= in ->
        Msg = element(2, Event),
        Socket = case Msg of
                     {tcp, _, _} -> true;
                     {tcp_closed, _} -> true;
                     {tcp_error, _, _} -> true;
                     {tcp_passive, _} -> true;
                     _ -> false
                 end,
        case erlang:is_process_alive(Token) of
            false -> done;
            true ->
                #{delay := D, cap := Cap, window := W0, want := Want} = S,
                Now = erlang:monotonic_time(millisecond),
                W = [{T, Ms} || {T, Ms} <- W0, T > Now - 5000],
                Spent = lists:sum([Ms || {_, Ms} <- W]),
                case Want =:= any orelse Socket of
                    false -> S#{window := W};
                    true when Spent + D > Cap -> S#{window := W, passed := maps:get(passed, S) + 1};
                    true ->
                        case maps:get(notify, S) of
                            N when is_pid(N) -> N ! {chaos_delaying, Token, self(), Socket};
                            _ -> ok
                        end,
                        T0 = erlang:monotonic_time(microsecond),
                        Until = erlang:monotonic_time(millisecond) + D,
                        Woken = (fun Nap() ->
                                     case erlang:is_process_alive(Token) of
                                         false -> true;
                                         true ->
                                             case Until - erlang:monotonic_time(millisecond) of
                                                 Left when Left > 0 -> timer:sleep(min(Left, 20)), Nap();
                                                 _ -> false
                                             end
                                     end
                                 end)(),
                        Us = erlang:monotonic_time(microsecond) - T0,
                        Sock = case Socket of true -> 1; false -> 0 end,
                        case Woken of
                            true -> done;
                            false ->
                                S#{window := [{Now, Us div 1000} | W], notify := none,
                                   delayed := maps:get(delayed, S) + 1,
                                   delayed_socket := maps:get(delayed_socket, S) + Sock,
                                   slept_us := maps:get(slept_us, S) + Us}
                        end
                end
        end;
   (S, _Event, _ProcState) -> S
end.
"#;

/// The hook's installer and holder. Bindings: `Victim`, `HookSrc`,
/// `DelayMs`, `CapMs` (a number, or `infinity`), `Want` (`any` | `socket`),
/// `ObserveMs`, `HoldMs`, `DeadlineMs`, `Lease`.
pub(crate) const SNIPPET: &str = concat!(
    r#"
case erlang:is_process_alive(Victim) of
    false -> gone;
    true ->
        Parent = self(),
        %% A harmless system request, timed: the victim answers it between
        %% two messages, so it waits for a delay in progress.
        Ask = fun(TimeoutMs) ->
            T0 = erlang:monotonic_time(microsecond),
            try sys:statistics(Victim, get, TimeoutMs) of
                _ -> {ok, erlang:monotonic_time(microsecond) - T0}
            catch
                exit:{noproc, _} -> gone;
                exit:{timeout, _} -> timeout;
                exit:{AskWhy, _} -> {exited, AskWhy}
            end
        end,
        Debug = fun() ->
            try sys:get_status(Victim, 1000) of
                {status, _, _, [_, _, _, Dbg | _]} when is_list(Dbg) -> {ok, Dbg};
                _ -> {ok, []}
            catch exit:_ -> error
            end
        end,
        Ours = fun(Dbg) -> [{Id, FS} || {{chaos_monkey_delay, _} = Id, {_, FS}} <- Dbg] end,
        %% Asked three times (the quickest answer counts), but only when
        %% the first comes: a process that does not answer sys is not a
        %% victim for this fault, and each wait holds an operation slot.
        Before = case Ask(1000) of
                     {ok, _} = First -> [First, Ask(1000), Ask(1000)];
                     NoAnswer -> [NoAnswer]
                 end,
        case [B || {ok, B} <- Before] of
            [] ->
                case Before of
                    [gone] -> gone;
                    [timeout] -> {skipped, <<"the process did not answer a system request within 1000 ms (it runs no sys loop, or is busy): no hook installed">>};
                    _ -> {failed, iolist_to_binary(io_lib:format(
                                 "the process did not answer a system request before the delay: ~0P", [hd(Before), 6]))}
                end;
            Bs ->
                BeforeUs = lists:min(Bs),
                {ok, Ts, _} = erl_scan:string(binary_to_list(HookSrc)),
                {ok, [HookExpr]} = erl_parse:parse_exprs(Ts),
                {value, Hook, _} = erl_eval:expr(HookExpr, erl_eval:new_bindings()),
                Helper = erlang:spawn(fun() ->
                    Me = self(),
                    Token = erlang:spawn(fun() ->
                        TR = erlang:monitor(process, Me),
                        receive {'DOWN', TR, process, _, _} -> ok end
                    end),
                    Id = {chaos_monkey_delay, Token},
                    FState = #{token => Token, delay => DelayMs, cap => CapMs, want => Want,
                               notify => Parent, window => [], passed => 0,
                               delayed => 0, delayed_socket => 0, slept_us => 0},
                    Res = case Debug() of
                              {ok, Dbg0} when Dbg0 =/= [] ->
                                  case Ours(Dbg0) of
                                      [] -> install;
                                      _ -> already
                                  end;
                              {ok, _} -> install;
                              error -> install
                          end,
                    Installed = case Res of
                        already -> already;
                        install ->
                            try sys:install(Victim, {Id, Hook, FState}, 1000) of
                                ok -> ok
                            catch
                                exit:{noproc, _} -> gone;
                                exit:{timeout, _} ->
                                    %% still queued: queue the removal right behind it
                                    catch sys:remove(Victim, Id, 0),
                                    timeout;
                                exit:{InstWhy, _} -> {exited, InstWhy}
                            end
                    end,
                    Parent ! {installed, Me, Installed, Token},
                    case Installed of
                        ok ->
                            "#,
    crate::hold_until_released!(),
    r#",
                            %% Ends a delay in progress (the hook returns done), then
                            %% removes the hook and checks it is gone.
                            erlang:exit(Token, kill),
                            Undo = fun U(Tries) ->
                                try sys:remove(Victim, Id, 1000) of
                                    _ ->
                                        case Debug() of
                                            {ok, Dbg} ->
                                                case lists:keymember(Id, 1, Dbg) of
                                                    false -> ok;
                                                    true when Tries > 1 -> U(Tries - 1);
                                                    true -> {failed, <<"the delay hook is still installed after sys:remove">>}
                                                end;
                                            error -> ok
                                        end
                                catch
                                    exit:{noproc, _} -> ok;
                                    exit:{timeout, _} when Tries > 1 -> U(Tries - 1);
                                    %% the removal stays queued; the hook also drops
                                    %% itself at the next message (its token is dead)
                                    exit:{timeout, _} -> ok;
                                    exit:{UndoWhy, _} ->
                                        case erlang:is_process_alive(Victim) of
                                            false -> ok;
                                            true -> {failed, UndoWhy}
                                        end
                                end
                            end,
                            exit({undone, Undo(3)});
                        _ ->
                            erlang:exit(Token, kill),
                            exit(normal)
                    end
                end),
                receive
                    {installed, Helper, ok, Token} ->
                        Waited = erlang:monotonic_time(millisecond),
                        Seen = receive {chaos_delaying, Token, Victim, Sock} -> {yes, Sock}
                               after ObserveMs -> no
                               end,
                        WaitedMs = erlang:monotonic_time(millisecond) - Waited,
                        case Seen of
                            no ->
                                What = case Want of any -> "message"; socket -> "socket message" end,
                                {unconfirmed, iolist_to_binary(io_lib:format(
                                    "delay hook of ~b ms installed in ~0p, but no ~s went through it within ~b ms (none arrived, or the process does not run sys debug functions): nothing delayed yet (the hook stays for ~b ms)",
                                    [DelayMs, Victim, What, ObserveMs, HoldMs])), #{}, Helper};
                            {yes, _} ->
                                During = Ask(DelayMs + 2000),
                                Counts = case Debug() of
                                             {ok, Dbg1} ->
                                                 case Ours(Dbg1) of
                                                     [{_, FS1} | _] -> FS1;
                                                     [] -> #{}
                                                 end;
                                             error -> #{}
                                         end,
                                Delayed = maps:get(delayed, Counts, 0),
                                DelayedSocket = maps:get(delayed_socket, Counts, 0),
                                M = #{delay_ms => DelayMs, hold_ms => HoldMs, before_us => BeforeUs,
                                      waited_ms => WaitedMs, delayed => Delayed, delayed_socket => DelayedSocket,
                                      slept_ms => maps:get(slept_us, Counts, 0) div 1000,
                                      passed => maps:get(passed, Counts, 0)},
                                case During of
                                    {ok, DuringUs} when DuringUs - BeforeUs >= DelayMs * 500 ->
                                        {confirmed, iolist_to_binary(io_lib:format(
                                            "every ~s of ~0p delayed ~b ms by a sys debug hook; a system request took ~b us before, ~b us during a delay (~b delayed so far); removed after ~b ms",
                                            [case Want of any -> "message"; socket -> "socket message" end,
                                             Victim, DelayMs, BeforeUs, DuringUs, Delayed, HoldMs])),
                                         M#{during_us => DuringUs}, Helper};
                                    {ok, DuringUs} ->
                                        {unconfirmed, iolist_to_binary(io_lib:format(
                                            "delay hook of ~b ms installed in ~0p and a message arrived, but a system request took ~b us before and ~b us during (less than half the delay)",
                                            [DelayMs, Victim, BeforeUs, DuringUs])), M#{during_us => DuringUs}, Helper};
                                    Other ->
                                        {unconfirmed, iolist_to_binary(io_lib:format(
                                            "delay hook of ~b ms installed in ~0p, but the system request during a delay gave ~0P",
                                            [DelayMs, Victim, Other, 6])), M, Helper}
                                end
                        end;
                    {installed, Helper, already, _} ->
                        {skipped, <<"the process already has the monkey's delay hook">>};
                    {installed, Helper, gone, _} -> gone;
                    {installed, Helper, timeout, _} ->
                        {failed, <<"the process did not answer sys:install within 1000 ms (its removal is queued behind it)">>};
                    {installed, Helper, {exited, Why}, _} ->
                        case erlang:is_process_alive(Victim) of
                            false -> gone;
                            true -> {failed, iolist_to_binary(io_lib:format("sys:install failed: ~0P", [Why, 8]))}
                        end
                after 4000 ->
                    erlang:exit(Helper, kill),
                    {failed, <<"the delay helper did not report within 4 s">>}
                end
        end
end.
"#
);

/// The parameters of one message delay.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageDelayParams {
    /// How long each incoming message waits before the process handles it.
    pub delay_ms: i64,
    /// How long the hook stays installed.
    pub hold_ms: i64,
}

/// A delay of 1 ms up to `max` ms, log-uniform (as many 1–10 ms delays as
/// 1–10 s ones).
pub(super) fn draw_delay(rng: &mut SeededRng, max: u64) -> i64 {
    let e = rng.range_inclusive(0, 1000) as f64 / 1000.0;
    ((max as f64).powf(e).round() as i64).clamp(1, max as i64)
}

/// The delay per profile (1 ms–1 s demo, 1 ms–10 s aggressive) and the hold
/// (0.5–5 s demo, 1–20 s aggressive).
pub(super) fn plan_delay(rng: &mut SeededRng, profile: Profile) -> (i64, i64) {
    let (max, hold) = match profile {
        Profile::Demo => (1_000, (500, 5_000)),
        Profile::Aggressive => (10_000, (1_000, 20_000)),
    };
    let delay = draw_delay(rng, max);
    (delay, ms(rng, hold.0, hold.1) as i64)
}

/// What a delay hook delays.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Delayed {
    /// Every incoming message.
    Any,
    /// Only the messages of its TCP socket.
    Socket,
}

/// Install the hook on `v` and hold it; the effect removes it.
pub(super) async fn delay_victim(
    ctx: &BeamTarget,
    v: &Candidate,
    what: Delayed,
    delay_ms: i64,
    hold_ms: i64,
) -> (Reply, Option<Box<dyn Effect>>) {
    let delay = ctx.suspension_cap(delay_ms.max(1));
    let cap = if ctx.safety.budget == super::super::BudgetPolicy::Collapse {
        atom("infinity")
    } else {
        int(super::super::safety::SUSPENSION_CAP_MS)
    };
    let observe = if delay > 5_000 {
        500
    } else {
        1_000.min(hold_ms.max(200))
    };
    let deadline = hold_ms + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
    let want = match what {
        Delayed::Any => "any",
        Delayed::Socket => "socket",
    };
    let reply = ctx
        .reply(
            SNIPPET,
            &[
                ("Victim", v.pid.clone().into()),
                ("HookSrc", binary(HOOK.as_bytes())),
                ("DelayMs", int(delay)),
                ("CapMs", cap),
                ("Want", atom(want)),
                ("ObserveMs", int(observe)),
                ("HoldMs", int(hold_ms)),
                ("DeadlineMs", int(deadline)),
            ],
        )
        .await;
    // Even a failed install may have left its request queued in the victim.
    ctx.touch_sys_state(v);
    let effect = reply.helper().map(|h| {
        Box::new(
            ctx.held_by(
                h,
                Duration::from_millis(hold_ms as u64),
                format!("{} delays every {want} message {delay} ms", v.pid_text),
            )
            .clearing(ctx.affect(v), &v.pid_text),
        ) as Box<dyn Effect>
    });
    (reply, effect)
}

impl TypedOperation<BeamTarget> for MessageDelay {
    type Params = MessageDelayParams;

    fn name(&self) -> &'static str {
        "message_delay"
    }

    fn category(&self) -> Category {
        Category::Timing
    }

    fn describe(&self) -> &'static str {
        "delay every message an OTP process receives (1 ms–10 s each) with a sys debug hook; confirmed by its answer time"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> MessageDelayParams {
        let (delay_ms, hold_ms) = plan_delay(rng, profile);
        MessageDelayParams { delay_ms, hold_ms }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: MessageDelayParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let want = Want {
                otp_only: true,
                ..Want::default()
            };
            ctx.on_victim(want, |v| async move {
                delay_victim(ctx, &v, Delayed::Any, p.delay_ms, p.hold_ms).await
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_cover_the_seeds_range_per_profile() {
        let mut rng = SeededRng::new(3);
        let demo: Vec<i64> = (0..2000).map(|_| draw_delay(&mut rng, 1_000)).collect();
        assert!(demo.iter().all(|d| (1..=1_000).contains(d)));
        assert!(demo.iter().any(|d| *d <= 5) && demo.iter().any(|d| *d >= 500));
        let aggressive: Vec<i64> = (0..2000).map(|_| draw_delay(&mut rng, 10_000)).collect();
        assert!(aggressive.iter().all(|d| (1..=10_000).contains(d)));
        assert!(aggressive.iter().any(|d| *d >= 5_000));
    }

    /// The hook runs interpreted inside the victim: an interpreted `receive`
    /// there is `prim_eval:'receive'/2`, which crashed OTP 25.2.3's emulator
    /// (see the module docs). Waiting must stay compiled (`timer:sleep/1`).
    #[test]
    fn the_hook_never_receives_inside_the_victim() {
        let words: Vec<&str> = HOOK
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .collect();
        assert!(!words.contains(&"receive"), "{HOOK}");
        assert!(HOOK.contains("timer:sleep("));
    }
}
