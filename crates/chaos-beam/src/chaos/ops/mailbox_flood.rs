//! Memory chaos: flood a random OTP worker's mailbox with 500–10000 tagged
//! messages `{'$chaos_monkey_flood', Ref, N}` (a bounded count; OTP
//! processes drop unknown messages in their `handle_info`). Confirmed by the
//! victim's `message_queue_len`, sampled while sending and right after (it
//! may already have consumed some: the peak observed is reported), or by its
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
        Peak0 = lists:foldl(
            fun(I, PeakAcc) ->
                Victim ! {'$chaos_monkey_flood', Tag, I},
                case I rem SampleEvery of
                    0 -> max(PeakAcc, QueueLen());
                    _ -> PeakAcc
                end
            end, 0, lists:seq(1, Count)),
        Peak = max(Peak0, QueueLen()),
        %% Until the queue is drained or the process died of it (a
        %% process that stops on unknown messages dies at the first one).
        SettleBy = erlang:monotonic_time(millisecond) + 2000,
        Settle = fun S() ->
            receive
                {'DOWN', R, process, _, SWhy} -> {died, SWhy}
            after 10 ->
                case QueueLen() =:= 0 orelse erlang:monotonic_time(millisecond) >= SettleBy of
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
        case Settled of
            {died, Why} ->
                {confirmed,
                 iolist_to_binary(io_lib:format("sent ~b messages; the process died under the flood with ~0p (peak queue ~b)",
                                                [Count, Why, Peak])),
                 #{sent => Count, queue_len => Peak, died => true}};
            alive ->
                erlang:demonitor(R, [flush]),
                case Peak of
                    0 ->
                        {unconfirmed,
                         iolist_to_binary(io_lib:format("sent ~b messages, but its queue was empty at every sample", [Count]))};
                    _ ->
                        {confirmed,
                         iolist_to_binary(io_lib:format("sent ~b messages; queue peaked at ~b observed (now ~b)",
                                                        [Count, Peak, QueueLen()])),
                         #{sent => Count, queue_len => Peak, died => false}}
                end
        end
end
"#
);

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
        "send 500–10000 tagged messages to a random OTP worker; confirmed by its message_queue_len"
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
                                ("SampleEvery", int(100)),
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
