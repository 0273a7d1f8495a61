//! Memory chaos: flood a random OTP worker's mailbox with 500–10000 tagged
//! messages `{'$chaos_monkey_flood', Ref, N}` (a bounded count; OTP
//! processes drop unknown messages in their `handle_info`). Confirmed by the
//! victim's own queue holding this flood's messages: its queue is read
//! (`process_info(Victim, messages)`, when at most 50,000 long) at every
//! sample while sending until some are found, and right after the last
//! send, and the messages carrying this flood's reference counted
//! (`ours_in_queue`, the most seen at once;
//! a queue too long to read confirms by its growth above its length before
//! the flood) — a queue that was merely non-empty, with the victim's own
//! traffic, confirms nothing. Or confirmed by the victim's
//! death under the flood, which then counts as a kill (it waits up to 2 s
//! for the queue to drain: processes that stop on unknown messages, such as
//! some gen_server look-alikes, die at the first). Behind the restart-budget
//! gate like a kill, for that reason.

use super::prelude::*;

/// Flood one worker's mailbox.
pub struct MailboxFlood;

pub(crate) const SNIPPET: &str = gated_kill!(
    "kill",
    r#"
R = erlang:monitor(process, Victim),
case erlang:is_process_alive(Victim) of
    false -> erlang:demonitor(R, [flush]), gone;
    true ->
        Tag = erlang:make_ref(),
        QueueLen = fun() ->
            case erlang:process_info(Victim, message_queue_len) of
                {message_queue_len, QL} -> QL;
                undefined -> 0
            end
        end,
        Before = QueueLen(),
        Most = fun(unknown, B) -> B; (A, unknown) -> A; (A, B) -> max(A, B) end,
        %% A look at the queue. Until some of this flood's messages were
        %% found in it, and after the last send, its messages are read and
        %% ours counted — in the same snapshot as its length (a fast consumer
        %% empties it between two calls) — unless it was last seen longer
        %% than MaxRead (too long to copy); otherwise only its length.
        Look = fun({PeakAcc, HeldAcc, LastLen}, Last) ->
            Found = is_integer(HeldAcc) andalso HeldAcc > 0,
            case (Last orelse not Found) andalso LastLen =< MaxRead of
                true ->
                    case erlang:process_info(Victim, messages) of
                        {messages, Ms} ->
                            QL = length(Ms),
                            N = length([x || {'$chaos_monkey_flood', T, _} <- Ms, T =:= Tag]),
                            {max(PeakAcc, QL), Most(HeldAcc, N), QL};
                        undefined -> {PeakAcc, HeldAcc, LastLen}
                    end;
                false ->
                    QL = QueueLen(),
                    {max(PeakAcc, QL), HeldAcc, QL}
            end
        end,
        Looked = lists:foldl(
            fun(I, Acc) ->
                Victim ! {'$chaos_monkey_flood', Tag, I},
                case I rem SampleEvery of
                    0 -> Look(Acc, false);
                    _ -> Acc
                end
            end, {Before, unknown, Before}, lists:seq(1, Count)),
        {Peak, Held, _} = Look(Looked, true),
        %% Until the queue is drained or the process died of it (a
        %% process that stops on unknown messages dies at the first one).
        SettleBy = erlang:monotonic_time(millisecond) + 2000,
        Settle = fun S() ->
            receive
                {'DOWN', R, process, _, SWhy} -> {died, SWhy}
            after 10 ->
                case QueueLen() =< Before orelse erlang:monotonic_time(millisecond) >= SettleBy of
                    true -> alive;
                    false -> S()
                end
            end
        end,
        %% A drained queue may still hide a death at the last message: one more look.
        Settled = case Settle() of
                      alive -> receive {'DOWN', R, process, _, LWhy} -> {died, LWhy} after 20 -> alive end;
                      Died -> Died
                  end,
        M0 = #{sent => Count, queue_before => Before, queue_len => Peak,
               ours_in_queue => case Held of unknown -> null; _ -> Held end},
        Seen = iolist_to_binary(case Held of
            unknown -> io_lib:format("its queue went from ~b to a peak of ~b (too long to read)", [Before, Peak]);
            _ -> io_lib:format("~b of them were in its queue (~b before the flood, peak ~b)", [Held, Before, Peak])
        end),
        case Settled of
            {died, Why} ->
                {confirmed,
                 iolist_to_binary(io_lib:format("sent ~b messages; ~s; the process died under the flood with ~0p",
                                                [Count, Seen, Why])),
                 M0#{died => true}};
            alive ->
                erlang:demonitor(R, [flush]),
                %% Confirmed by this flood's own messages in the victim's own
                %% queue; when the queue is too long to read, by its growth
                %% above its length before the flood.
                Flooded = case Held of
                              unknown -> Peak > Before;
                              _ -> Held > 0
                          end,
                case Flooded of
                    false ->
                        {unconfirmed,
                         iolist_to_binary(io_lib:format("sent ~b messages, but none was seen in its queue: ~s", [Count, Seen]))};
                    true ->
                        {confirmed,
                         iolist_to_binary(io_lib:format("sent ~b messages; ~s (now ~b)", [Count, Seen, QueueLen()])),
                         M0#{died => false}}
                end
        end
end
"#
);

/// The longest queue whose messages are read to count the flood's own
/// (a copy of the queue on the node).
const MAX_READ: i64 = 50_000;

/// The parameters of one mailbox flood.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxFloodParams {
    /// How many tagged messages are sent.
    pub count: i64,
}

impl TypedOperation<BeamTarget> for MailboxFlood {
    type Params = MailboxFloodParams;

    fn name(&self) -> &'static str {
        "mailbox_flood"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn describe(&self) -> &'static str {
        "send 500–10000 tagged messages to a random OTP worker; confirmed by those messages in its own queue"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> MailboxFloodParams {
        let (low, high) = match profile {
            Profile::Demo => (500, 2_000),
            Profile::Aggressive => (1_000, 10_000),
        };
        MailboxFloodParams {
            count: rng.range_inclusive(low, high) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: MailboxFloodParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let count = int(p.count);
            let count = &count;
            let want = Want {
                otp_only: true,
                ..Want::KILL
            };
            let out = ctx
                .on_victim(want, |v| async move {
                    (
                        ctx.reply(
                            SNIPPET,
                            &[
                                ("Victim", v.pid.clone().into()),
                                ("Count", count.clone()),
                                // Looks are slow (the queue is copied): one every
                                // 1,000 sends, so a quick consumer cannot drain
                                // between every look.
                                ("SampleEvery", int(1000)),
                                ("MaxRead", int(MAX_READ)),
                            ],
                        )
                        .await,
                        None,
                    )
                })
                .await;
            let died = out.measurements.get("died") == Some(&Value::Bool(true));
            if out.status == Status::Confirmed && died {
                ctx.victim_gone().await;
                ctx.killed(out)
            } else {
                out
            }
        })
    }
}
