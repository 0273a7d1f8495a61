//! State chaos: clear messages out of an OTP process's mailbox.
//!
//! No BIF clears another process's mailbox, so this is the honest
//! equivalent: a fun run *inside* the victim with `sys:replace_state/3`
//! (state returned unchanged) receives and throws away messages from its own
//! mailbox. To have something there to lose, the fun first lets a flooder
//! process send 50–500 (demo) / 200–5000 (aggressive) tagged messages
//! `{'$chaos_monkey_flood', Ref, N}` while the victim is busy running it,
//! waits for the flooder's end marker, then drains every
//! `{'$chaos_monkey_flood', _, _}` message with a `receive … after 0` loop.
//! It reports the queue length before and after the drain and how many
//! messages it removed; confirmed when it removed at least one.
//!
//! What it can and cannot do:
//! * it only ever removes the monkey's own tagged messages, never the
//!   application's (those would be real data loss with no undo);
//! * it only works on processes that answer system messages (`otp_only`)
//!   within 1 s; a busy victim gets `{failed, …}` and the late fun does
//!   nothing (it checks a deadline), so the flood is never sent;
//! * messages the process already consumed are gone — a plain
//!   "send, then drain" would find nothing, since a gen_server handles the
//!   messages queued before the system message first; hence the flood is
//!   sent only while the fun runs inside the victim.
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
        Flooder = erlang:spawn(fun() ->
            receive
                {go, Ref, To} ->
                    _ = [To ! {'$chaos_monkey_flood', Ref, I} || I <- lists:seq(1, Count)],
                    To ! {'$chaos_monkey_flood', Ref, done}
            after 1500 -> ok
            end
        end),
        Drain = fun(S) ->
            case erlang:monotonic_time(millisecond) < Until of
                false -> S;  %% the call timed out: do nothing
                true ->
                    Flooder ! {go, Ref, self()},
                    Arrived = receive {'$chaos_monkey_flood', Ref, done} -> true after 500 -> false end,
                    {message_queue_len, Before} = erlang:process_info(self(), message_queue_len),
                    Removed = (fun D(C) ->
                                   receive {'$chaos_monkey_flood', _, _} -> D(C + 1) after 0 -> C end
                               end)(0),
                    {message_queue_len, After} = erlang:process_info(self(), message_queue_len),
                    Self ! {drained, Ref, Arrived, Before, Removed, After},
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
        erlang:exit(Flooder, kill),
        receive
            {drained, Ref, Arrived, Before, Removed, After} ->
                M = #{sent => Count, removed => Removed, queue_before => Before, queue_after => After},
                Detail = iolist_to_binary(io_lib:format(
                    "~b tagged messages sent while ~0p ran our fun; ~b removed from inside it "
                    "(queue ~b before the drain, ~b after)~s",
                    [Count, Victim, Removed, Before, After,
                     case Arrived of true -> ""; false -> ", the flood did not all arrive within 500 ms" end])),
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

/// The parameters of one mailbox clearing.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearMailboxParams {
    /// How many tagged messages the flooder sends before the drain.
    pub messages: i64,
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
        "flood an OTP process with tagged messages and drain them from inside it; confirmed by the count removed"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> ClearMailboxParams {
        let (low, high) = match profile {
            Profile::Demo => (50, 500),
            Profile::Aggressive => (200, 5_000),
        };
        ClearMailboxParams {
            messages: rng.range_inclusive(low, high) as i64,
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
