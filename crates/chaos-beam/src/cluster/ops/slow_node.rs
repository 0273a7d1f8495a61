//! Timing chaos on a whole node: saturate its schedulers for a while with
//! busy processes (one per online scheduler in the demo profile, two in
//! aggressive), at normal priority so the node still answers. Confirmed by
//! the node's own scheduling latency (time for a fresh process to run and
//! answer, the median of five), measured before and while slowed: at least
//! double and at least 5 µs more. A helper holds the busy
//! processes (linked: they die with it) and stops them when released, at
//! its deadline, or when the monkey's lease on the node ends.

use super::super::on_node::on_node;
use super::super::ClusterTarget;
use crate::chaos::helper::DEADLINE_MARGIN;
use crate::dist::term::int;
use chaos_engine::{Category, Outcome, Profile, SeededRng, TypedOperation};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Saturate one node's schedulers.
pub struct SlowNode;

pub(crate) const SNIPPET: &str = r#"
Latency = fun() ->
    Me = self(),
    Ts = [begin
              T0 = erlang:monotonic_time(microsecond),
              erlang:spawn(fun() -> Me ! {chaos_latency, erlang:monotonic_time(microsecond) - T0} end),
              receive {chaos_latency, D} -> D after 5000 -> 5000000 end
          end || _ <- lists:seq(1, 5)],
    lists:nth(3, lists:sort(Ts))
end,
Before = Latency(),
Parent = self(),
Helper = erlang:spawn(fun() ->
    LeaseRef = erlang:monitor(process, Lease),
    Until = erlang:monotonic_time(millisecond) + DeadlineMs,
    Spin = fun S(0) -> case erlang:monotonic_time(millisecond) > Until of
                           true -> ok;
                           false -> S(10000)
                       end;
               S(N) -> S(N - 1)
           end,
    Count = PerScheduler * erlang:system_info(schedulers_online),
    Hogs = [erlang:spawn_link(fun() -> Spin(10000) end) || _ <- lists:seq(1, Count)],
    Parent ! {slowed, self(), Count},
    receive release -> ok; {'DOWN', LeaseRef, process, _, _} -> ok after DeadlineMs -> ok end,
    [erlang:exit(H, kill) || H <- Hogs],
    exit({undone, ok})
end),
receive
    {slowed, Helper, Count} ->
        receive after 100 -> ok end,
        During = Latency(),
        M = #{busy_processes => Count, latency_before_us => Before, latency_during_us => During},
        Detail = iolist_to_binary(io_lib:format(
            "~b busy processes for ~b ms; scheduling latency ~b us -> ~b us",
            [Count, HoldMs, Before, During])),
        %% A rise, not noise: at least double and at least 5 us more (one
        %% busy process per scheduler puts a fresh process behind a time
        %% slice: 1-2 us idle, about 10 us slowed, on a 2-core machine).
        case During >= 2 * Before andalso During - Before >= 5 of
            true -> {confirmed, Detail, M, Helper};
            false -> {unconfirmed, <<Detail/binary, "; not a clear rise (at least double and 5 us more)">>, M, Helper}
        end
after 5000 ->
    erlang:exit(Helper, kill),
    {failed, <<"the slowing helper did not report within 5 s">>}
end.
"#;

/// The parameters of one slowed node.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowNodeParams {
    /// How long the node stays saturated.
    pub hold_ms: i64,
    /// How many busy processes per online scheduler.
    pub per_scheduler: i64,
}

impl TypedOperation<ClusterTarget> for SlowNode {
    type Params = SlowNodeParams;

    fn name(&self) -> &'static str {
        "slow_node"
    }

    fn category(&self) -> Category {
        Category::Timing
    }

    fn describe(&self) -> &'static str {
        "saturate one node's schedulers with busy processes for a while; confirmed by its scheduling latency"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> SlowNodeParams {
        let (low, high, per) = match profile {
            Profile::Demo => (1_000, 5_000, 1),
            Profile::Aggressive => (2_000, 15_000, 2),
        };
        SlowNodeParams {
            hold_ms: rng.range_inclusive(low, high) as i64,
            per_scheduler: per,
        }
    }

    fn run<'a>(&'a self, ctx: &'a ClusterTarget, p: SlowNodeParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let hold = p.hold_ms;
            let Some(node) = ctx.pick() else {
                return Outcome::skipped("no reachable member with a weight above 0");
            };
            let reply = node
                .target
                .reply(
                    SNIPPET,
                    &[
                        ("HoldMs", int(hold)),
                        ("PerScheduler", int(p.per_scheduler.max(1))),
                        ("DeadlineMs", int(hold + DEADLINE_MARGIN.as_millis() as i64)),
                    ],
                )
                .await;
            let effect = reply.helper().map(|h| {
                node.target
                    .held_by(
                        h,
                        Duration::from_millis(hold as u64),
                        format!("{} slowed", node.name),
                    )
                    .ends_with_helper()
            });
            let mut outcome = reply.outcome();
            if let Some(e) = effect {
                outcome = outcome.with_effect(Box::new(e));
            }
            on_node(outcome, &node.name)
        })
    }
}
