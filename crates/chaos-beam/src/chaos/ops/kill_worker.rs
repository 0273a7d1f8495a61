//! Process chaos: kill a random worker (`exit(Pid, kill)`); confirmed by its `'DOWN'`.

use super::prelude::*;

/// Kill one worker process.
pub struct KillWorker;

const SNIPPET: &str = r#"
R = erlang:monitor(process, Victim),
case erlang:is_process_alive(Victim) of
    false -> erlang:demonitor(R, [flush]), gone;
    true ->
        erlang:exit(Victim, kill),
        receive
            {'DOWN', R, process, _, Why} ->
                {confirmed, iolist_to_binary(io_lib:format("killed, 'DOWN' with ~0p", [Why])), #{}}
        after 2000 ->
            erlang:demonitor(R, [flush]),
            {unconfirmed, <<"kill sent, but no 'DOWN' within 2 s">>}
        end
end.
"#;

impl Operation<BeamTarget> for KillWorker {
    fn name(&self) -> &'static str {
        "kill_worker"
    }

    fn category(&self) -> Category {
        Category::Process
    }

    fn describe(&self) -> &'static str {
        "kill a random worker process; confirmed by its 'DOWN'"
    }

    fn plan(&self, _rng: &mut SeededRng, _profile: Profile) -> Value {
        json!({})
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, _params: &'a Value) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if !ctx.take_kill() {
                return Outcome::skipped("blast-radius cap: maximum kills per second reached");
            }
            let out = ctx
                .on_victim(Want::default(), |v| async move {
                    (
                        ctx.reply(SNIPPET, &[("Victim", v.pid.clone().into())])
                            .await,
                        None,
                    )
                })
                .await;
            ctx.invalidate().await;
            if out.status == Status::Confirmed {
                out.killing()
            } else {
                out
            }
        })
    }
}
