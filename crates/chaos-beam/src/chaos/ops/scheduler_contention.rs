//! Timing chaos: contend for every scheduler. K busy-looping processes at
//! `high` priority (K = `schedulers_online`, read on the target) spin for
//! 1–50 ms (demo) / 10–500 ms (aggressive), so normal- and low-priority
//! processes get (almost) no CPU for that long; then they exit by themselves.
//!
//! Confirmed by the node's scheduling latency, measured: before, the median
//! time a fresh normal-priority process waits before it runs (5 in a row);
//! during, the longest wait of a normal-priority process each spinner spawns
//! as it starts. Confirmed when the wait rose by at least half the burst
//! (`busy_ms` × 500 µs): normal work really waited for the spinners; else
//! unconfirmed with both latencies. The spinners having run proves nothing.
//! Measurements: `processes`, `busy_ms`, `latency_before_us`,
//! `latency_during_us`, `rise_us`. Nothing stays behind: not an effect (each
//! spinner is monitored; one still running at the deadline is killed).
//! Cannot: starve `max`-priority work (the runtime's own), or other nodes.
//!
//! [`SNIPPET`] is the spinners alone, confirmed by their exits: the
//! `cpu_saturation` scenario spins at normal priority with it and measures
//! the service's own latency.

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

/// The operation's snippet: the spinners, and the scheduling latency of
/// normal-priority work before and while they spin.
pub(crate) const MEASURED: &str = r#"
%% Bindings: BusyMs, Priority.
Me = self(),
Tag = erlang:make_ref(),
Probe = fun() ->
    T0 = erlang:monotonic_time(microsecond),
    erlang:spawn_opt(fun() -> Me ! {Tag, erlang:monotonic_time(microsecond) - T0} end, [{priority, normal}])
end,
Median = fun(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)) end,
Before = Median([begin
                     P = Probe(),
                     receive {Tag, D} -> D after 5000 -> erlang:exit(P, kill), 5000000 end
                 end || _ <- lists:seq(1, 5)]),
K = erlang:system_info(schedulers_online),
Spin = fun() ->
    %% First a normal-priority process that has to wait for the spinners.
    _ = Probe(),
    End = erlang:monotonic_time(millisecond) + BusyMs,
    Loop = fun L(N) ->
        case N rem 256 =:= 0 andalso erlang:monotonic_time(millisecond) >= End of
            true -> ok;
            false -> L(N + 1)
        end
    end,
    Loop(1),
    exit(chaos_monkey_spun)
end,
Mons = maps:from_list([begin
                           {P, M} = erlang:spawn_opt(Spin, [{priority, Priority}, monitor]),
                           {M, P}
                       end || _ <- lists:seq(1, K)]),
Collect = fun C(Left, Waits) when map_size(Left) =:= 0, length(Waits) >= K -> {ok, Waits};
              C(Left, Waits) ->
                  receive
                      {'DOWN', M, process, _, _} when is_map_key(M, Left) -> C(maps:remove(M, Left), Waits);
                      {Tag, D} -> C(Left, [D | Waits])
                  after BusyMs + 3000 ->
                      {timeout, Left}
                  end
          end,
case Collect(Mons, []) of
    {ok, Waits} ->
        %% The longest wait: a probe spawned as the first spinner starts may
        %% run on a scheduler the next spinner has not reached yet (with two
        %% schedulers the median of two is the shorter).
        During = lists:max(Waits),
        Rise = During - Before,
        Need = BusyMs * 500,
        M = #{processes => K, busy_ms => BusyMs, latency_before_us => Before,
              latency_during_us => During, rise_us => Rise},
        Detail = iolist_to_binary(io_lib:format(
            "~b ~p-priority spinners (one per online scheduler) for ~b ms; scheduling latency of "
            "normal-priority work ~b us before, ~b us while they spun", [K, Priority, BusyMs, Before, During])),
        case Rise >= Need of
            true -> {confirmed, Detail, M};
            false ->
                {unconfirmed, iolist_to_binary(io_lib:format(
                    "~s: a rise of ~b us, below the ~b us (half the burst) that shows normal work waited",
                    [Detail, Rise, Need]))}
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
    /// How long the spinners keep the schedulers busy (at least 1).
    pub busy_ms: i64,
    /// The spinners' priority: `high` (planned: normal work waits for them),
    /// `normal` or `low` (they share the schedulers; the latency hardly
    /// rises, so the operation is then rarely confirmed).
    #[serde(default = "high")]
    pub priority: String,
}

fn high() -> String {
    "high".into()
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
        "keep every scheduler busy with high-priority spinners for 1–500 ms; confirmed by a measured rise in scheduling latency"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> SchedulerContentionParams {
        let (low, high) = match profile {
            Profile::Demo => (1, 50),
            Profile::Aggressive => (10, 500),
        };
        SchedulerContentionParams {
            busy_ms: ms(rng, low, high) as i64,
            priority: self::high(),
        }
    }

    fn run<'a>(
        &'a self,
        ctx: &'a BeamTarget,
        p: SchedulerContentionParams,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if p.busy_ms < 1 {
                return Outcome::failed(format!("busy_ms must be at least 1, got {}", p.busy_ms));
            }
            if !["high", "normal", "low"].contains(&p.priority.as_str()) {
                return Outcome::failed(format!(
                    "priority must be high, normal or low, got {:?}",
                    p.priority
                ));
            }
            ctx.reply(
                MEASURED,
                &[("BusyMs", int(p.busy_ms)), ("Priority", atom(&p.priority))],
            )
            .await
            .outcome()
        })
    }
}
