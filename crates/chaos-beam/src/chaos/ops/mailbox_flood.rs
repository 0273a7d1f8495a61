//! Memory chaos: flood a random OTP worker's mailbox with 500–10000 tagged
//! messages `{'$chaos_monkey_flood', Ref, N}` (a bounded count; OTP
//! processes drop unknown messages in their `handle_info`). Confirmed by the
//! victim's `message_queue_len`, sampled while sending and right after (it
//! may already have consumed some: the peak observed is reported), or by its
//! death under the flood, which then counts as a kill.

use super::prelude::*;

/// Flood one worker's mailbox.
pub struct MailboxFlood;

pub(crate) const SNIPPET: &str = r#"
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
        receive
            {'DOWN', R, process, _, Why} ->
                {confirmed,
                 iolist_to_binary(io_lib:format("sent ~b messages; the process died under the flood with ~0p (peak queue ~b)",
                                                [Count, Why, Peak])),
                 #{sent => Count, queue_len => Peak, died => true}}
        after 50 ->
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
end.
"#;

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
                ..Default::default()
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
                crate::chaos::reply::killed(out)
            } else {
                out
            }
        })
    }
}
