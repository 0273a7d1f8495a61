//! Memory chaos: force a garbage collection of a random process with
//! `erlang:garbage_collect(Pid)`. Confirmed by the BIF answering `true`;
//! measures `process_info(Pid, memory)` before and after.

use super::prelude::*;

/// Force one process to collect its garbage.
pub struct ForceGc;

pub(crate) const SNIPPET: &str = r#"
case erlang:process_info(Victim, memory) of
    undefined -> gone;
    {memory, Before} ->
        case erlang:garbage_collect(Victim) of
            false -> gone;
            true ->
                After = case erlang:process_info(Victim, memory) of
                            {memory, M} -> M;
                            undefined -> null
                        end,
                {confirmed,
                 iolist_to_binary(io_lib:format("garbage collected: memory ~b -> ~0p bytes", [Before, After])),
                 #{memory_before => Before, memory_after => After}}
        end
end.
"#;

impl TypedOperation<BeamTarget> for ForceGc {
    type Params = NoParams;

    fn name(&self) -> &'static str {
        "force_gc"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn describe(&self) -> &'static str {
        "force a garbage collection of a random process; confirmed by garbage_collect/1's true"
    }

    fn plan(&self, _rng: &mut SeededRng, _profile: Profile) -> NoParams {
        NoParams {}
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, _p: NoParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            ctx.on_victim(Want::default(), |v| async move {
                (
                    ctx.reply(SNIPPET, &[("Victim", v.pid.clone().into())])
                        .await,
                    None,
                )
            })
            .await
        })
    }
}
