//! Timing chaos: inject a delay into an OTP process with `sys:suspend/2` for
//! 1 ms–2 s (demo) / 1 ms–10 s (aggressive; capped at 4.5 s, below the
//! default call timeout, unless `--allow-collapse`). Unlike `suspend`, the process
//! keeps running its system loop: it still answers system messages but
//! handles no calls, casts or other messages until resumed. A full stop:
//! `message_delay` is the slow process (each message handled, late).
//!
//! A helper suspends the victim (after checking, with `sys:get_status/2`,
//! that it is not suspended already — someone else's suspension is never
//! taken over) and resumes it with `sys:resume/2` on release or at its own
//! deadline. Confirmed by `sys:get_status/2` showing `suspended` as the sys
//! state. A process that does not answer system messages within 1000 ms
//! gives `{failed, …}`; the helper then queues a `sys:resume` right behind
//! the pending suspend request so the process is not left suspended when it
//! gets to them.
//!
//! Cannot: reach processes that never read system messages. The runtime
//! does not lift a `sys` suspension when the helper dies, so a killed
//! helper leaves the victim suspended (reported as "may not have been
//! undone").

use super::prelude::*;

/// Suspend an OTP process's message handling for a while.
pub struct SysSuspend;

pub(crate) const SNIPPET: &str = concat!(
    r#"
case erlang:is_process_alive(Victim) of
    false -> gone;
    true ->
        Parent = self(),
        SysCall = fun(F) ->
            try F() of
                Value -> {ok, Value}
            catch
                exit:{noproc, _} -> gone;
                exit:{timeout, _} -> timeout;
                exit:{Why, _} ->
                    case erlang:is_process_alive(Victim) of
                        false -> gone;
                        true -> {exited, Why}
                    end
            end
        end,
        Helper = erlang:spawn(fun() ->
            Res = case SysCall(fun() -> sys:get_status(Victim, 1000) end) of
                      {ok, {status, _, _, [_, suspended | _]}} ->
                          already;
                      {ok, _} ->
                          case SysCall(fun() -> sys:suspend(Victim, 1000) end) of
                              {ok, ok} -> ok;
                              timeout ->
                                  %% the suspend request is still queued: queue the
                                  %% resume right behind it (timeout 0: send, do not wait)
                                  _ = SysCall(fun() -> sys:resume(Victim, 0) end),
                                  timeout;
                              Other -> Other
                          end;
                      Other -> Other
                  end,
            Parent ! {suspended, self(), Res},
            case Res of
                ok ->
                    "#,
    crate::hold_until_released!(),
    r#",
                    %% The victim may be busy in a fun another operation runs inside it
                    %% (sys:replace_state): try a few times; a resume that timed out stays
                    %% queued and takes effect when the victim gets to it.
                    Resume = fun Resume(Tries) ->
                        case SysCall(fun() -> sys:resume(Victim, 1000) end) of
                            {ok, _} -> ok;
                            gone -> ok;
                            timeout when Tries > 1 ->
                                case SysCall(fun() -> sys:get_status(Victim, 1000) end) of
                                    {ok, {status, _, _, [_, running | _]}} -> ok;
                                    gone -> ok;
                                    _ -> Resume(Tries - 1)
                                end;
                            timeout -> {failed, <<"sys:resume got no answer in 3 tries of 1000 ms">>};
                            {exited, Why} -> {failed, Why}
                        end
                    end,
                    Undone = Resume(3),
                    exit({undone, Undone});
                _ ->
                    exit(normal)
            end
        end),
        receive
            {suspended, Helper, ok} ->
                case SysCall(fun() -> sys:get_status(Victim, 1000) end) of
                    {ok, {status, _, _, [_, suspended | _]}} ->
                        {confirmed, iolist_to_binary(io_lib:format(
                            "~0p sys-suspended (sys:get_status shows suspended); resumed after ~b ms",
                            [Victim, HoldMs])), #{}, Helper};
                    Status ->
                        Helper ! release,
                        {unconfirmed, iolist_to_binary(io_lib:format(
                            "suspend accepted but sys:get_status gives ~0P; released at once", [Status, 10]))}
                end;
            {suspended, Helper, already} ->
                {skipped, <<"the process is already sys-suspended by someone else">>};
            {suspended, Helper, gone} -> gone;
            {suspended, Helper, timeout} ->
                {failed, <<"the process did not answer system messages within 1000 ms (a resume is queued behind the suspend)">>};
            {suspended, Helper, {exited, Why}} ->
                {failed, iolist_to_binary(io_lib:format("sys call failed: ~0P", [Why, 8]))}
        after 4000 ->
            erlang:exit(Helper, kill),
            {failed, <<"the suspending helper did not report within 4 s">>}
        end
end.
"#
);

/// The parameters of one sys suspension.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysSuspendParams {
    /// How long the process stays suspended.
    pub hold_ms: i64,
}

impl TypedOperation<BeamTarget> for SysSuspend {
    type Params = SysSuspendParams;

    fn name(&self) -> &'static str {
        "sys_suspend"
    }

    fn category(&self) -> Category {
        Category::Timing
    }

    fn describe(&self) -> &'static str {
        "sys:suspend an OTP process for 1 ms–10 s, then resume it; confirmed by sys:get_status"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> SysSuspendParams {
        let max = match profile {
            Profile::Demo => 2_000,
            Profile::Aggressive => 10_000,
        };
        SysSuspendParams {
            hold_ms: ms(rng, 1, max) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: SysSuspendParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let hold = ctx.suspension_cap(p.hold_ms);
            let want = Want {
                otp_only: true,
                ..Want::default()
            };
            ctx.on_victim(want, |v| async move {
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
                // Even a failed suspend may have left its request queued in the victim.
                ctx.touch_sys_state(&v);
                let effect = reply.helper().map(|h| {
                    Box::new(
                        ctx.held_by(
                            h,
                            Duration::from_millis(hold as u64),
                            format!("{} sys-suspended", v.pid_text),
                        )
                        .clearing(ctx.affect(&v), &v.pid_text),
                    ) as Box<dyn Effect>
                });
                (reply, effect)
            })
            .await
        })
    }
}
