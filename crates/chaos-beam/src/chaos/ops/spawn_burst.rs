//! Process chaos: spawn a burst of 100–1000 short-lived processes on the
//! target, each living a random 0–50 ms in steps of 10 ms (lifetimes come
//! from a seed drawn in `plan`, so the same seed gives the same burst). No
//! victim: the load on the scheduler and the process table is the fault.
//! Confirmed by monitoring every process and receiving every `'DOWN'`
//! within a deadline.
//!
//! Why steps: each distinct timeout wakes the node's schedulers, which then
//! spin before they sleep again. A burst of 200 with lifetimes of any
//! millisecond cost a 10^6-process node 19.0 ms of CPU, in six steps 8.2 ms
//! (`bench/node_costs`), for the same processes started and ended.

use super::prelude::*;

/// Spawn a burst of short-lived processes.
pub struct SpawnBurst;

pub(crate) const SNIPPET: &str = r#"
Started = erlang:monotonic_time(microsecond),
{Mons, _} = lists:foldl(
    fun(_, {MonAcc, RandState}) ->
        {Step, RandNext} = rand:uniform_s(MaxLifeMs div LifeStepMs + 1, RandState),
        LifeMs = (Step - 1) * LifeStepMs,
        {_, MonRef} = erlang:spawn_monitor(fun() -> receive after LifeMs -> ok end end),
        {[MonRef | MonAcc], RandNext}
    end,
    {[], rand:seed_s(exsss, Seed)},
    lists:seq(1, Count)),
Spawned = length(Mons),
Deadline = erlang:monotonic_time(millisecond) + 3000,
Await = fun Wait(Pending) ->
    case map_size(Pending) of
        0 -> Pending;
        _ ->
            Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
            receive
                {'DOWN', DownRef, process, _, _} when is_map_key(DownRef, Pending) ->
                    Wait(maps:remove(DownRef, Pending))
            after Left -> Pending
            end
    end
end,
Missing = Await(maps:from_list([{M, true} || M <- Mons])),
ElapsedMs = (erlang:monotonic_time(microsecond) - Started) div 1000,
Exited = Spawned - map_size(Missing),
Measurements = #{spawned => Spawned, exited => Exited, elapsed_ms => ElapsedMs},
case map_size(Missing) of
    0 ->
        {confirmed,
         iolist_to_binary(io_lib:format("spawned ~b processes living 0-~b ms (~b ms steps); all ~b exited ('DOWN') in ~b ms",
                                        [Spawned, MaxLifeMs, LifeStepMs, Exited, ElapsedMs])),
         Measurements};
    _ ->
        [erlang:demonitor(M, [flush]) || M <- maps:keys(Missing)],
        {unconfirmed,
         iolist_to_binary(io_lib:format("spawned ~b processes but only ~b 'DOWN' within 3 s",
                                        [Spawned, Exited]))}
end.
"#;

/// Lifetimes are multiples of this (see the module docs: fewer distinct
/// timeouts, fewer scheduler wake-ups).
const LIFE_STEP_MS: i64 = 10;

/// The parameters of one spawn burst.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpawnBurstParams {
    /// How many processes are spawned.
    pub count: i64,
    /// The longest any of them lives.
    pub max_life_ms: i64,
    /// Seeds their lifetimes.
    pub seed: i64,
}

impl TypedOperation<BeamTarget> for SpawnBurst {
    type Params = SpawnBurstParams;

    fn name(&self) -> &'static str {
        "spawn_burst"
    }

    fn category(&self) -> Category {
        Category::Process
    }

    fn describe(&self) -> &'static str {
        "spawn 100–1000 processes living 0–50 ms each; confirmed by every one's 'DOWN'"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> SpawnBurstParams {
        let max = match profile {
            Profile::Demo => 300,
            Profile::Aggressive => 1_000,
        };
        let count = rng.range_inclusive(100, max);
        let seed = rng.range_inclusive(1, 1 << 40);
        SpawnBurstParams {
            count: count as i64,
            max_life_ms: 50,
            seed: seed as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: SpawnBurstParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            ctx.reply(
                SNIPPET,
                &[
                    ("Count", int(p.count)),
                    ("MaxLifeMs", int(p.max_life_ms)),
                    ("LifeStepMs", int(LIFE_STEP_MS)),
                    ("Seed", int(p.seed)),
                ],
            )
            .await
            .outcome()
        })
    }
}
