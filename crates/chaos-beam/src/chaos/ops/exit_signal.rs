//! Process chaos: send the exit signal `exit(Victim, chaos_test)` to a random
//! worker. Confirmed by its `'DOWN'` with reason `chaos_test`, or, when it
//! traps exits, by it still being alive afterwards (the detail says so). Only
//! a victim that died counts as a kill.

use super::prelude::*;

/// Send an exit signal to one worker.
pub struct ExitSignal;

// Gated as a kill: a victim that traps exits gets an 'EXIT' message it
// may not handle (and crash on).
pub(crate) const SNIPPET: &str = gated_kill!(
    "kill",
    r#"
R = erlang:monitor(process, Victim),
case erlang:is_process_alive(Victim) of
    false -> erlang:demonitor(R, [flush]), gone;
    true ->
        TrapBefore = case erlang:process_info(Victim, trap_exit) of
                         {trap_exit, TB} -> TB;
                         undefined -> false
                     end,
        erlang:exit(Victim, chaos_test),
        receive
            {'DOWN', R, process, _, noproc} -> gone;
            {'DOWN', R, process, _, chaos_test} ->
                {confirmed, <<"exit signal chaos_test sent, 'DOWN' with chaos_test">>,
                 #{died => true, trap_exit => TrapBefore}};
            {'DOWN', R, process, _, Why} when TrapBefore =:= true ->
                {confirmed,
                 iolist_to_binary(io_lib:format("exit signal chaos_test sent; it traps exits and stopped with ~0p", [Why])),
                 #{died => true, trap_exit => TrapBefore}};
            {'DOWN', R, process, _, Why} ->
                {unconfirmed,
                 iolist_to_binary(io_lib:format("exit signal chaos_test sent, but it died with ~0p", [Why]))}
        after 300 ->
            case erlang:process_info(Victim, trap_exit) of
                {trap_exit, true} ->
                    erlang:demonitor(R, [flush]),
                    {confirmed, <<"exit signal chaos_test sent; it traps exits and is still alive">>,
                     #{died => false, trap_exit => true}};
                {trap_exit, false} ->
                    erlang:demonitor(R, [flush]),
                    {unconfirmed, <<"exit signal chaos_test sent, yet it is alive and does not trap exits">>};
                undefined ->
                    receive
                        {'DOWN', R, process, _, LateWhy} ->
                            {confirmed,
                             iolist_to_binary(io_lib:format("exit signal chaos_test sent, 'DOWN' with ~0p", [LateWhy])),
                             #{died => true, trap_exit => TrapBefore}}
                    after 2000 ->
                        erlang:demonitor(R, [flush]),
                        {unconfirmed, <<"exit signal chaos_test sent; it is gone but no 'DOWN' arrived">>}
                    end
            end
        end
end
"#
);

impl TypedOperation<BeamTarget> for ExitSignal {
    type Params = NoParams;

    fn name(&self) -> &'static str {
        "exit_signal"
    }

    fn category(&self) -> Category {
        Category::Process
    }

    fn describe(&self) -> &'static str {
        "send exit(Pid, chaos_test) to a random worker; confirmed by its 'DOWN' (or its survival when it traps exits)"
    }

    fn plan(&self, _rng: &mut SeededRng, _profile: Profile) -> NoParams {
        NoParams {}
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, _p: NoParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if !ctx.take_kill() {
                return Outcome::skipped("blast-radius cap: maximum kills per second reached");
            }
            let out = ctx
                .on_victim(Want::KILL, |v| async move {
                    (
                        ctx.reply(SNIPPET, &[("Victim", v.pid.clone().into())])
                            .await,
                        None,
                    )
                })
                .await;
            ctx.victim_gone().await;
            let died = out.measurements.get("died") == Some(&Value::Bool(true));
            if out.status == Status::Confirmed && died {
                ctx.killed(out)
            } else {
                out
            }
        })
    }
}
