//! State chaos: clear messages out of an OTP process's mailbox.
//!
//! Two modes. With `--allow-message-loss` (aggressive profile only) it drops
//! the victim's **real** queued messages ([`LOSS`]): no BIF removes another
//! process's messages (`sys` has no such request either: `sys.erl` offers
//! suspend/resume, state get/replace, debug hooks — every one of them runs
//! in the victim), so the drop runs inside the victim. A worker
//! `sys:suspend`s it (never one that is suspended already), lets its real
//! traffic pile up for `window_ms` (50–500 ms) while it handles none, then
//! has it run a `sys:replace_state/3` fun (state unchanged) that receives
//! and throws away up to `max_drop` queued messages — never a system
//! message, an `'EXIT'` or a `'DOWN'` (those are the process's own control:
//! a lost parent exit or monitor would leave it unmanageable, not just
//! lossy) — and resumes it. Confirmed by the count dropped inside the
//! victim and its queue length before and after the drop (read inside, and
//! from outside before the drop and after the resume); the kinds dropped
//! (`'$gen_cast'`, `'$gen_call'` — whose callers then time out —, `tcp`,
//! info tags) are in the detail and `dropped_kinds`. Nothing queued after
//! the window: unconfirmed, nothing lost. A lost message cannot be undone:
//! not an effect. If the monkey's lease ends during the window the victim
//! is resumed and nothing is dropped. This mode runs only as compiled code
//! (the run's snippet module): interpreted (`--no-compile`, or a node
//! without the `compiler` application) its drop would be an `erl_eval`
//! `receive` inside the victim, which is `prim_eval:'receive'/2` — the
//! construct that crashed OTP 25.2.3's emulator inside `message_delay`'s
//! hook (BENCHMARKS, "The crash, found"). There it is skipped, saying so.
//!
//! Without the flag (the default, and always in the demo profile) it stays
//! the harmless version below.
//!
//! No BIF clears another process's mailbox, so this is the honest
//! equivalent: a fun run *inside* the victim with `sys:replace_state/3`
//! (state returned unchanged) queues 50–500 (demo) / 200–5000 (aggressive)
//! tagged messages `{'$chaos_monkey_flood', Ref, N, Count, flood}` in its
//! own mailbox, behind whatever real messages wait there, and removes them
//! again with `Count` calls of `erlang:demonitor(Ref, [flush])` — each call
//! removes one `{_, Ref, _, _, _}` message, and `Ref` is no monitor, so
//! the drain is OTP's own compiled code and never an interpreted `receive`
//! inside the victim (see above), in compiled and interpreted runs alike.
//! It reports the queue length with the flood and after the drain;
//! confirmed when the queue shrank.
//!
//! What it can and cannot do:
//! * it only ever removes the monkey's own tagged messages, never the
//!   application's (those would be real data loss with no undo); all of
//!   them, before the fun returns, so none is left for the process to
//!   handle;
//! * it only works on processes that answer system messages (`otp_only`)
//!   within 1 s; a busy victim gets `{failed, …}` and the late fun does
//!   nothing (it checks a deadline);
//! * each removal scans the queue from its head, so a victim with more
//!   than 1,000 messages queued is left alone (skipped): the drain would
//!   hold it for seconds;
//! * messages the process already consumed are gone — a plain
//!   "send, then drain" from outside would find nothing, since a gen_server
//!   handles the messages queued before the system message first; hence the
//!   flood is queued by the fun running inside the victim.
//!
//! Nothing stays behind: not an effect.

use super::prelude::*;

/// Flood an OTP process with tagged messages and drain them from inside it.
pub struct ClearMailbox;

pub(crate) const SNIPPET: &str = r#"
case erlang:is_process_alive(Victim) of
    false -> gone;
    true ->
        Self = self(),
        Ref = make_ref(),
        Until = erlang:monotonic_time(millisecond) + 900,
        Drain = fun(S) ->
            case erlang:monotonic_time(millisecond) < Until of
                false -> Self ! {drained, Ref, late}, S;  %% the call (nearly) timed out: do nothing
                true ->
                    {message_queue_len, Queued} = erlang:process_info(self(), message_queue_len),
                    case Queued > 1000 of
                        true -> Self ! {drained, Ref, busy, Queued};
                        false ->
                            Self0 = self(),
                            lists:foreach(fun(I) -> Self0 ! {'$chaos_monkey_flood', Ref, I, Count, flood} end,
                                          lists:seq(1, Count)),
                            {message_queue_len, Before} = erlang:process_info(self(), message_queue_len),
                            %% Each call removes one {_, Ref, _, _, _} message: Count calls remove them all.
                            lists:foreach(fun(_) -> erlang:demonitor(Ref, [flush]) end, lists:seq(1, Count)),
                            {message_queue_len, After} = erlang:process_info(self(), message_queue_len),
                            Self ! {drained, Ref, Before, After}
                    end,
                    S
            end
        end,
        Call = try sys:replace_state(Victim, Drain, 1000) of
                   _ -> ok
               catch
                   exit:{noproc, _} -> gone;
                   exit:{timeout, _} -> timeout;
                   exit:{Why, _} -> {exited, Why}
               end,
        receive
            {drained, Ref, late} ->
                {failed, <<"the process ran the state fun only after 900 ms (its own deadline): nothing was sent">>};
            {drained, Ref, busy, Queue} ->
                {skipped, iolist_to_binary(io_lib:format(
                    "~0p had ~b messages queued (over 1000): nothing sent, nothing drained", [Victim, Queue]))};
            {drained, Ref, Before, After} ->
                Removed = Before - After,
                M = #{sent => Count, removed => Removed, queue_before => Before, queue_after => After},
                Detail = iolist_to_binary(io_lib:format(
                    "~b tagged messages queued in ~0p by our fun running inside it, and ~b removed again "
                    "(its queue ~b with them, ~b after the drain)",
                    [Count, Victim, Removed, Before, After])),
                case Removed > 0 of
                    true -> {confirmed, Detail, M};
                    false -> {unconfirmed, Detail}
                end
        after 100 ->
            case Call of
                gone -> gone;
                timeout ->
                    {failed, <<"the process did not answer the system message within 1000 ms; nothing was sent">>};
                {exited, Reason} ->
                    case erlang:is_process_alive(Victim) of
                        false -> gone;
                        true -> {failed, iolist_to_binary(io_lib:format("sys:replace_state failed: ~0P", [Reason, 8]))}
                    end;
                ok ->
                    {failed, <<"the process ran the state fun but it reported nothing">>}
            end
        end
end.
"#;

/// Real message loss, inside the victim (see the module doc). Bindings:
/// `Victim`, `WindowMs`, `MaxDrop`, `Lease`.
pub(crate) const LOSS: &str = r#"
case erlang:is_process_alive(Victim) of
    false -> gone;
    true ->
        Parent = self(),
        QLen = fun() ->
            case erlang:process_info(Victim, message_queue_len) of
                {message_queue_len, L} -> L;
                undefined -> gone
            end
        end,
        Worker = erlang:spawn(fun() ->
            Me = self(),
            LR = erlang:monitor(process, Lease),
            SysState = try sys:get_status(Victim, 1000) of
                           {status, _, _, [_, SS | _]} -> SS;
                           _ -> error
                       catch exit:{noproc, _} -> gone; exit:_ -> error
                       end,
            Report = fun(R) -> Parent ! {loss, Me, R} end,
            case SysState of
                running ->
                    case catch sys:suspend(Victim, 1000) of
                        ok ->
                            Cut = receive {'DOWN', LR, process, _, _} -> true after WindowMs -> false end,
                            Before = QLen(),
                            Ref = make_ref(),
                            Until = erlang:monotonic_time(millisecond) + 900,
                            Drop = fun(S) ->
                                case erlang:monotonic_time(millisecond) < Until of
                                    false -> S;  %% the call timed out: do nothing
                                    true ->
                                        {message_queue_len, In} = erlang:process_info(self(), message_queue_len),
                                        Kinds = (fun D(0, Acc) -> Acc;
                                                     D(N, Acc) ->
                                                         receive
                                                             Msg when not is_tuple(Msg);
                                                                      element(1, Msg) =/= system,
                                                                      element(1, Msg) =/= 'EXIT',
                                                                      element(1, Msg) =/= 'DOWN' ->
                                                                 K = case Msg of
                                                                         _ when is_atom(Msg) -> Msg;
                                                                         _ when is_tuple(Msg), tuple_size(Msg) > 0,
                                                                                is_atom(element(1, Msg)) -> element(1, Msg);
                                                                         _ -> other
                                                                     end,
                                                                 D(N - 1, [K | Acc])
                                                         after 0 -> Acc
                                                         end
                                                 end)(MaxDrop, []),
                                        {message_queue_len, Out} = erlang:process_info(self(), message_queue_len),
                                        Me ! {dropped, Ref, In, Kinds, Out},
                                        S
                                end
                            end,
                            Call = case Cut of
                                       true -> cut;
                                       false ->
                                           try sys:replace_state(Victim, Drop, 1000) of
                                               _ -> ok
                                           catch
                                               exit:{noproc, _} -> gone;
                                               exit:{timeout, _} -> timeout;
                                               exit:{Why, _} -> {exited, Why}
                                           end
                                   end,
                            Resumed = (catch sys:resume(Victim, 1000)),
                            Got = receive {dropped, Ref, In, Kinds, Out} -> {ok, In, Kinds, Out}
                                  after 100 -> Call
                                  end,
                            Report({done, Before, Got, QLen(), Resumed});
                        {'EXIT', {noproc, _}} -> Report(gone);
                        Other -> Report({suspend_failed, Other})
                    end;
                suspended -> Report(already);
                gone -> Report(gone);
                _ -> Report({suspend_failed, no_answer})
            end
        end),
        WR = erlang:monitor(process, Worker),
        receive
            {loss, Worker, gone} -> gone;
            {loss, Worker, already} ->
                {skipped, <<"the process is sys-suspended by someone else: its messages are left alone">>};
            {loss, Worker, {suspend_failed, Why}} ->
                {failed, iolist_to_binary(io_lib:format("could not suspend it to gather its messages: ~0P", [Why, 8]))};
            {loss, Worker, {done, Before, {ok, In, Kinds, Out}, After, Resumed}} ->
                N = length(Kinds),
                Counts = lists:foldl(fun(K, Acc) -> maps:update_with(K, fun(C) -> C + 1 end, 1, Acc) end, #{}, Kinds),
                KindList = lists:reverse(lists:keysort(2, maps:to_list(Counts))),
                KindText = lists:join(", ", [io_lib:format("~b ~0p", [C, K]) || {K, C} <- KindList]),
                M = #{dropped => N, message_loss => N, queue_before => Before, queue_in_before => In,
                      queue_in_after => Out, queue_after => After, window_ms => WindowMs, max_drop => MaxDrop,
                      dropped_kinds => [#{kind => K, count => C} || {K, C} <- KindList],
                      resumed => Resumed =:= ok},
                Detail = iolist_to_binary(io_lib:format(
                    "MESSAGE LOSS: dropped ~b real queued messages of ~0p from inside it after ~b ms sys-suspended (~s); its queue ~b before the drop, ~b right after, ~b after the resume",
                    [N, Victim, WindowMs, case KindText of [] -> "none"; _ -> KindText end, In, Out, After])),
                case N > 0 andalso Out =< In of
                    true -> {confirmed, Detail, M};
                    false when N =:= 0 ->
                        {unconfirmed, iolist_to_binary(io_lib:format(
                            "nothing to drop: no real message queued in ~0p after ~b ms sys-suspended (queue ~b); nothing lost",
                            [Victim, WindowMs, In]))};
                    false -> {unconfirmed, Detail}
                end;
            {loss, Worker, {done, _, cut, _, _}} ->
                {failed, <<"the monkey's lease ended during the window: resumed, nothing dropped">>};
            {loss, Worker, {done, _, Call, _, Resumed}} ->
                case erlang:is_process_alive(Victim) of
                    false -> gone;
                    true -> {failed, iolist_to_binary(io_lib:format(
                                "the drop did not run: ~0P (resume: ~0P)", [Call, 6, Resumed, 4]))}
                end;
            {'DOWN', WR, process, _, WWhy} ->
                {failed, iolist_to_binary(io_lib:format("the dropping worker died: ~0P", [WWhy, 8]))}
        after 6000 ->
            {failed, <<"the dropping worker did not report within 6 s">>}
        end
end.
"#;

/// The parameters of one mailbox clearing.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearMailboxParams {
    /// How many tagged messages the fun queues in the victim before the
    /// drain (the default mode).
    pub messages: i64,
    /// With `--allow-message-loss`: how long the victim is held suspended
    /// so its real traffic queues up before the drop.
    pub window_ms: i64,
    /// With `--allow-message-loss`: the most real messages dropped.
    pub max_drop: i64,
}

impl TypedOperation<BeamTarget> for ClearMailbox {
    type Params = ClearMailboxParams;

    fn name(&self) -> &'static str {
        "clear_mailbox"
    }

    fn category(&self) -> Category {
        Category::State
    }

    fn describe(&self) -> &'static str {
        "drain an OTP process's mailbox from inside it: the monkey's own tagged messages, or with --allow-message-loss its real ones; confirmed by the count removed"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> ClearMailboxParams {
        let (low, high) = match profile {
            Profile::Demo => (50, 500),
            Profile::Aggressive => (200, 5_000),
        };
        let messages = rng.range_inclusive(low, high) as i64;
        ClearMailboxParams {
            messages,
            window_ms: ms(rng, 50, 500) as i64,
            max_drop: rng.range_inclusive(1, 1_000) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: ClearMailboxParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let count = p.messages;
            let want = Want {
                otp_only: true,
                state_fun: true,
                ..Want::default()
            };
            if ctx.safety.allow_message_loss && ctx.profile == Profile::Aggressive {
                if !crate::compiled::runs_compiled(&ctx.client, LOSS) {
                    return Outcome::skipped(
                        "real message loss runs only as compiled code: this run is interpreted \
                         (--no-compile, or no compiler application on the node), and an \
                         interpreted receive inside the victim once crashed OTP 25's emulator",
                    );
                }
                let (window, max_drop) = (int(p.window_ms.clamp(1, 2_000)), int(p.max_drop.max(1)));
                let out = ctx
                    .on_victim(want, |v| {
                        let b = [
                            ("Victim", Term::from(v.pid.clone())),
                            ("WindowMs", window.clone()),
                            ("MaxDrop", max_drop.clone()),
                        ];
                        async move { (ctx.reply(LOSS, &b).await, None) }
                    })
                    .await;
                let dropped = out.measurements.get("dropped").and_then(Value::as_u64);
                if let (Status::Confirmed, Some(n), Some(v)) = (out.status, dropped, &out.victim) {
                    ctx.note_message_loss(v, n, out.measurements["dropped_kinds"].clone());
                }
                return out;
            }
            ctx.on_victim(want, |v| async move {
                let reply = ctx
                    .reply(
                        SNIPPET,
                        &[("Victim", v.pid.clone().into()), ("Count", int(count))],
                    )
                    .await;
                (reply, None)
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of `text`, Erlang-ish.
    fn words(text: &str) -> Vec<&str> {
        text.split(|c: char| !c.is_alphanumeric() && c != '_')
            .collect()
    }

    /// The harmless drain runs inside the victim in interpreted runs too: an
    /// interpreted `receive` there is `prim_eval:'receive'/2` (see the module
    /// docs). It drains with `erlang:demonitor/2`'s flush instead.
    #[test]
    fn the_harmless_drain_never_receives_inside_the_victim() {
        let start = SNIPPET.find("Drain = fun(S)").expect("the fun run inside");
        let end = SNIPPET.find("Call = try sys:replace_state").unwrap();
        let inside = &SNIPPET[start..end];
        assert!(!words(inside).contains(&"receive"), "{inside}");
        assert!(inside.contains("erlang:demonitor(Ref, [flush])"));
        // The loss mode's drop does receive: it is gated on compiled code.
        assert!(words(LOSS).contains(&"receive"));
    }
}
