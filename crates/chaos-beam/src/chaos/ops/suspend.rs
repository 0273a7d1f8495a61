//! Timing chaos: suspend a process for 1 ms–2 s (demo) / 1 ms–10 s
//! (aggressive; capped at 4.5 s, below the default call timeout, unless
//! `--allow-collapse`) with `erlang:suspend_process/1`;
//! confirmed by its status. A helper holds the suspension: it resumes the
//! victim when released or at its own deadline, and the runtime resumes the
//! victim anyway if the helper dies.

use super::prelude::*;

/// Suspend one process for a while.
pub struct Suspend;

pub(crate) const SNIPPET: &str = concat!(
    r#"
case erlang:is_process_alive(Victim) of
    false -> gone;
    true ->
        Parent = self(),
        Helper = erlang:spawn(fun() ->
            Ok = try erlang:suspend_process(Victim) catch error:badarg -> false end,
            Parent ! {suspended, self(), Ok},
            "#,
    crate::hold_until_released!(),
    r#",
            Resumed = try erlang:resume_process(Victim), ok catch error:badarg -> ok end,
            exit({undone, Resumed})
        end),
        receive
            {suspended, Helper, true} ->
                case erlang:process_info(Victim, status) of
                    {status, suspended} ->
                        {confirmed, iolist_to_binary(io_lib:format("suspended for ~b ms", [HoldMs])), #{}, Helper};
                    {status, Other} ->
                        {unconfirmed, iolist_to_binary(io_lib:format("suspend accepted but status is ~p", [Other])), #{}, Helper};
                    undefined -> gone
                end;
            {suspended, Helper, false} -> gone
        after 2000 ->
            erlang:exit(Helper, kill),
            {failed, <<"the suspending helper did not report within 2 s">>}
        end
end.
"#
);

/// The parameters of one suspension.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspendParams {
    /// How long the victim stays suspended.
    pub hold_ms: i64,
}

impl TypedOperation<BeamTarget> for Suspend {
    type Params = SuspendParams;

    fn name(&self) -> &'static str {
        "suspend"
    }

    fn category(&self) -> Category {
        Category::Timing
    }

    fn describe(&self) -> &'static str {
        "suspend a process for 1 ms–10 s, then resume it; confirmed by its status"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> SuspendParams {
        let max = match profile {
            Profile::Demo => 2_000,
            Profile::Aggressive => 10_000,
        };
        SuspendParams {
            hold_ms: ms(rng, 1, max) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: SuspendParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let hold = ctx.suspension_cap(p.hold_ms);
            ctx.on_victim(Want::default(), |v| async move {
                let deadline = hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
                let reply = ctx
                    .reply(
                        SNIPPET,
                        &[
                            ("Victim", v.pid.clone().into()),
                            ("HoldMs", int(hold)),
                            ("DeadlineMs", int(deadline)),
                        ],
                    )
                    .await;
                let effect = reply.helper().map(|h| {
                    Box::new(
                        ctx.held_by(
                            h,
                            Duration::from_millis(hold as u64),
                            format!("{} suspended", v.pid_text),
                        )
                        .ends_with_helper()
                        .clearing(ctx.affect(&v), &v.pid_text),
                    ) as Box<dyn Effect>
                });
                (reply, effect)
            })
            .await
        })
    }
}
