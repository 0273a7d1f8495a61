//! Timing chaos: contend for every scheduler. K busy-looping processes at
//! `high` priority (K = `schedulers_online`, read on the target) spin for
//! 1–50 ms (demo) / 10–500 ms (aggressive), so normal- and low-priority
//! processes get (almost) no CPU for that long; then they exit by themselves.
//!
//! Confirmed by every spinner's `'DOWN'` (each is monitored) carrying its
//! own reduction count, read just before it exits, being above zero.
//! Measurements: `processes`, `busy_ms`, `reductions`. Nothing stays
//! behind: not an effect. Cannot: starve `max`-priority work (the runtime's
//! own), or other nodes.

use super::prelude::*;

/// Keep every scheduler busy at high priority for a moment.
pub struct SchedulerContention;

pub(crate) const SNIPPET: &str = r#"
%% Bindings: BusyMs, Priority (the scenarios' cpu_saturation spins at normal).
K = erlang:system_info(schedulers_online),
Spin = fun() ->
    End = erlang:monotonic_time(millisecond) + BusyMs,
    Loop = fun L(N) ->
        case N rem 256 =:= 0 andalso erlang:monotonic_time(millisecond) >= End of
            true -> ok;
            false -> L(N + 1)
        end
    end,
    Loop(1),
    {reductions, R} = erlang:process_info(self(), reductions),
    exit({chaos_monkey_spun, R})
end,
Started = erlang:monotonic_time(millisecond),
Mons = maps:from_list([begin
                           {P, M} = erlang:spawn_opt(Spin, [{priority, Priority}, monitor]),
                           {M, P}
                       end || _ <- lists:seq(1, K)]),
Collect = fun C(Left, Acc) when map_size(Left) =:= 0 -> {ok, Acc};
              C(Left, Acc) ->
                  receive
                      {'DOWN', M, process, _, Why} when is_map_key(M, Left) ->
                          C(maps:remove(M, Left), [Why | Acc])
                  after BusyMs + 3000 ->
                      {timeout, Left}
                  end
          end,
case Collect(Mons, []) of
    {ok, Whys} ->
        Elapsed = erlang:monotonic_time(millisecond) - Started,
        Reds = [R || {chaos_monkey_spun, R} <- Whys],
        Total = lists:sum(Reds),
        M = #{processes => K, busy_ms => BusyMs, reductions => Total, elapsed_ms => Elapsed},
        case length(Reds) =:= K andalso lists:all(fun(R) -> R > 0 end, Reds) of
            true ->
                {confirmed, iolist_to_binary(io_lib:format(
                    "~b ~p-priority spinners (one per online scheduler) busy for ~b ms, all exited "
                    "(~b reductions in total, ~b ms until the last 'DOWN')", [K, Priority, BusyMs, Total, Elapsed])), M};
            false ->
                {unconfirmed, iolist_to_binary(io_lib:format(
                    "~b spinners ended, but not all reported reductions: ~0P", [K, Whys, 8]))}
        end;
    {timeout, Left} ->
        _ = [erlang:exit(P, kill) || P <- maps:values(Left)],
        {failed, iolist_to_binary(io_lib:format(
            "~b of ~b spinners had not exited after ~b ms; killed", [map_size(Left), K, BusyMs + 3000]))}
end.
"#;

/// The parameters of one scheduler contention.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerContentionParams {
    /// How long the spinners keep the schedulers busy.
    pub busy_ms: i64,
}

impl TypedOperation<BeamTarget> for SchedulerContention {
    type Params = SchedulerContentionParams;

    fn name(&self) -> &'static str {
        "scheduler_contention"
    }

    fn category(&self) -> Category {
        Category::Timing
    }

    fn describe(&self) -> &'static str {
        "keep every scheduler busy with high-priority spinners for 1–500 ms; confirmed by their exits"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> SchedulerContentionParams {
        let (low, high) = match profile {
            Profile::Demo => (1, 50),
            Profile::Aggressive => (10, 500),
        };
        SchedulerContentionParams {
            busy_ms: ms(rng, low, high) as i64,
        }
    }

    fn run<'a>(
        &'a self,
        ctx: &'a BeamTarget,
        p: SchedulerContentionParams,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let busy = p.busy_ms;
            ctx.reply(
                SNIPPET,
                &[("BusyMs", int(busy)), ("Priority", atom("high"))],
            )
            .await
            .outcome()
        })
    }
}
