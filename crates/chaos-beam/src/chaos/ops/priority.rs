//! Timing chaos: change an OTP process's scheduling priority for 0.5–5 s
//! (demo: `low`) / 1–20 s (aggressive: `low` or `high`).
//!
//! A process's priority can only be set by the process itself, so a helper
//! has the victim run `process_flag(priority, New)` from inside with
//! `sys:replace_state/3` (state returned unchanged); the previous priority
//! comes back to the helper as a message rather than being left in the
//! victim's dictionary. Confirmed by `process_info(Victim, priority)`. On
//! release, or at its own deadline, the helper restores the previous
//! priority the same way — only if the victim still has the priority the
//! monkey gave it.
//!
//! Cannot: reach processes that do not answer system messages within 1 s
//! (`{failed, …}`; the late fun checks a deadline and does nothing). If the
//! helper is killed, the priority stays changed.

use super::prelude::*;

/// Lower (or raise) an OTP process's priority for a while.
pub struct Priority;

/// How long the monkey waits for the helper's restore: the helper waits up
/// to 20 s for the victim's turn, then says so (killing it at 5 s, the
/// default, reported a victim slow to restore as a helper that timed out).
const RESTORE_WAIT: Duration = Duration::from_secs(25);

pub(crate) const SNIPPET: &str = concat!(
    r#"
case erlang:is_process_alive(Victim) of
    false -> gone;
    true ->
        Parent = self(),
        Helper = erlang:spawn(fun() ->
            Me = self(),
            Ref = make_ref(),
            Until = erlang:monotonic_time(millisecond) + 900,
            Set = fun(S) ->
                case erlang:monotonic_time(millisecond) < Until of
                    true -> Me ! {prev, Ref, process_flag(priority, New)}, S;
                    false -> Me ! {late, Ref}, S  %% the call (nearly) timed out: do nothing
                end
            end,
            Call = try sys:replace_state(Victim, Set, 1000) of
                       _ -> ok
                   catch
                       exit:{noproc, _} -> gone;
                       exit:{timeout, _} -> timeout;
                       exit:{Why, _} -> {exited, Why}
                   end,
            Res = receive {prev, Ref, Prev} -> {ok, Prev}; {late, Ref} -> late after 50 -> Call end,
            Parent ! {set, Me, Res},
            case Res of
                {ok, Old} ->
                    "#,
    crate::hold_until_released!(),
    r#",
                    Restore = fun(S) ->
                        _ = erlang:process_info(self(), priority) =:= {priority, New}
                            andalso process_flag(priority, Old),
                        S
                    end,
                    %% One request, waited for up to 20 s: a victim at low
                    %% priority on a busy node (a run's end releasing
                    %% hundreds of effects on 10^6 processes) can wait
                    %% seconds for a turn, and a second request would only
                    %% queue behind it.
                    Undo = fun U(Tries) ->
                        try sys:replace_state(Victim, Restore, 20000) of
                            _ -> ok
                        catch
                            exit:{noproc, _} -> ok;  %% died: nothing to restore
                            exit:{timeout, _} ->
                                {failed, <<"the process did not answer within 20 s; the restore stays queued as a system message">>};
                            exit:_ when Tries > 1 -> U(Tries - 1);
                            exit:{Reason, _} ->
                                case erlang:is_process_alive(Victim) of
                                    false -> ok;
                                    true -> {failed, Reason}
                                end
                        end
                    end,
                    exit({undone, Undo(2)});
                _ ->
                    exit(normal)
            end
        end),
        receive
            {set, Helper, {ok, Old}} ->
                case erlang:process_info(Victim, priority) of
                    {priority, New} ->
                        {confirmed, iolist_to_binary(io_lib:format(
                            "priority of ~0p set from ~0p to ~0p (process_info confirms); restored after ~b ms",
                            [Victim, Old, New, HoldMs])), #{previous => Old, set => New}, Helper};
                    undefined ->
                        Helper ! release,
                        {unconfirmed, <<"the process died right after its priority was changed">>};
                    {priority, Other} ->
                        Helper ! release,
                        {unconfirmed, iolist_to_binary(io_lib:format(
                            "priority set to ~0p but process_info shows ~0p; released at once", [New, Other]))}
                end;
            {set, Helper, gone} -> gone;
            {set, Helper, timeout} ->
                {failed, <<"the process did not answer the system message within 1000 ms">>};
            {set, Helper, late} ->
                {failed, <<"the process ran the fun only after 900 ms (its own deadline): priority unchanged">>};
            {set, Helper, Other} ->
                case erlang:is_process_alive(Victim) of
                    false -> gone;
                    true -> {failed, iolist_to_binary(io_lib:format("sys:replace_state failed: ~0P", [Other, 8]))}
                end
        after 3000 ->
            erlang:exit(Helper, kill),
            {failed, <<"the priority helper did not report within 3 s">>}
        end
end.
"#
);

/// The parameters of one priority change.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityParams {
    /// The priority the process is given: `low` or `high`.
    pub priority: String,
    /// How long it keeps it before it is restored.
    pub hold_ms: i64,
}

impl TypedOperation<BeamTarget> for Priority {
    type Params = PriorityParams;

    fn name(&self) -> &'static str {
        "priority"
    }

    fn category(&self) -> Category {
        Category::Timing
    }

    fn describe(&self) -> &'static str {
        "change an OTP process's priority from inside it, then restore it; confirmed by process_info"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> PriorityParams {
        let (low, high, priority) = match profile {
            Profile::Demo => (500, 5_000, "low"),
            Profile::Aggressive => (
                1_000,
                20_000,
                if rng.range_inclusive(0, 1) == 0 {
                    "low"
                } else {
                    "high"
                },
            ),
        };
        PriorityParams {
            priority: priority.to_string(),
            hold_ms: ms(rng, low, high) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: PriorityParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let hold = p.hold_ms;
            let new = p.priority.as_str();
            let want = Want {
                otp_only: true,
                state_fun: true,
                ..Want::default()
            };
            ctx.on_victim(want, |v| async move {
                let deadline = hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
                let reply = ctx
                    .reply(
                        SNIPPET,
                        &[
                            ("Victim", v.pid.clone().into()),
                            ("New", atom(new)),
                            ("HoldMs", int(hold)),
                            ("DeadlineMs", int(deadline)),
                        ],
                    )
                    .await;
                let effect = reply.helper().map(|h| {
                    Box::new(
                        ctx.held_by(
                            h,
                            Duration::from_millis(hold.max(0) as u64),
                            format!("{} at priority {new}", v.pid_text),
                        )
                        .clearing(ctx.affect(&v), &v.pid_text)
                        .patient(RESTORE_WAIT),
                    ) as Box<dyn Effect>
                });
                // What it had and what it was given, for the after-run audit.
                if let Reply::Confirmed(_, m, _) = &reply {
                    if let (Some(had), Some(set)) = (m["previous"].as_str(), m["set"].as_str()) {
                        ctx.priority_changed(&v.pid, had, set);
                    }
                }
                (reply, effect)
            })
            .await
        })
    }
}
