//! Memory chaos (behind `--allow-port-exhaustion`): a helper opens N UDP
//! sockets on loopback (`gen_udp:open(0, [{ip, {127,0,0,1}}])`, each a port)
//! and holds them for 0.5–5 s (demo) / 1–10 s (aggressive).
//!
//! The plan draws the number wanted, 20–200 (demo) / 200–2000 (aggressive);
//! the snippet caps it at 2% of the ports still free
//! (`port_limit - port_count`, read on the target). The helper stops at the
//! first error (e.g. `emfile` when the OS file-descriptor limit is lower
//! than the port limit) and reports how many it opened. Confirmed by
//! `port_count` growing by at least that many. The helper closes them on
//! release or at its own deadline; they close anyway when the helper dies
//! (it owns them), so the effect ends with the helper.

use super::prelude::*;

/// Hold many open ports for a while.
pub struct PortExhaustion;

pub(crate) const SNIPPET: &str = concat!(
    r#"
Limit = erlang:system_info(port_limit),
Before = erlang:system_info(port_count),
N = min(Wanted, (Limit - Before) * 2 div 100),
case N < 1 of
    true ->
        {skipped, iolist_to_binary(io_lib:format(
            "port table too full: ~b of ~b used, 2% of the rest is less than one port", [Before, Limit]))};
    false ->
        Parent = self(),
        Helper = erlang:spawn(fun() ->
            Open = fun O(0, Acc) -> {lists:reverse(Acc), ok};
                       O(I, Acc) ->
                           case gen_udp:open(0, [{ip, {127, 0, 0, 1}}]) of
                               {ok, S} -> O(I - 1, [S | Acc]);
                               {error, Why} -> {lists:reverse(Acc), Why}
                           end
                   end,
            {Socks, Stop} = Open(N, []),
            Parent ! {opened, self(), length(Socks), Stop},
            case Socks of
                [] -> exit(normal);
                _ ->
                    "#,
    crate::hold_until_released!(),
    r#",
                    _ = [gen_udp:close(S) || S <- Socks],
                    exit({undone, ok})
            end
        end),
        receive
            {opened, Helper, 0, Why} ->
                {failed, iolist_to_binary(io_lib:format("could not open a single UDP socket: ~0p", [Why]))};
            {opened, Helper, Opened, Stop} ->
                After = erlang:system_info(port_count),
                M = #{ports_opened => Opened, port_count_before => Before, port_count_after => After, port_limit => Limit},
                Detail = iolist_to_binary(io_lib:format(
                    "~b UDP sockets opened on 127.0.0.1 (~b wanted~s), port count ~b -> ~b of ~b; closed after ~b ms",
                    [Opened, N, case Stop of ok -> ""; _ -> io_lib:format(", stopped by ~0p", [Stop]) end,
                     Before, After, Limit, HoldMs])),
                case After - Before >= Opened of
                    true -> {confirmed, Detail, M, Helper};
                    false -> Helper ! release, {unconfirmed, <<Detail/binary, "; the port count did not grow as much, released at once">>}
                end
        after 5000 ->
            erlang:exit(Helper, kill),
            {failed, <<"the port helper did not report within 5 s">>}
        end
end.
"#
);

/// The parameters of one port exhaustion.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortExhaustionParams {
    /// How many ports are wanted (the snippet caps it at 2% of the free ones).
    pub ports: i64,
    /// How long the helper holds them.
    pub hold_ms: i64,
}

impl TypedOperation<BeamTarget> for PortExhaustion {
    type Params = PortExhaustionParams;

    fn name(&self) -> &'static str {
        "port_exhaustion"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn describe(&self) -> &'static str {
        "hold up to 2% of the free ports as loopback UDP sockets for a while; confirmed by the port count"
    }

    fn gate(&self) -> Option<&'static str> {
        Some("while it holds ports, the node may fail to open files and sockets")
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> PortExhaustionParams {
        let (wanted, hold) = match profile {
            Profile::Demo => ((20, 200), (500, 5_000)),
            Profile::Aggressive => ((200, 2_000), (1_000, 10_000)),
        };
        PortExhaustionParams {
            ports: rng.range_inclusive(wanted.0, wanted.1) as i64,
            hold_ms: ms(rng, hold.0, hold.1) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: PortExhaustionParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let hold = p.hold_ms;
            let deadline = hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
            let reply = ctx
                .reply(
                    SNIPPET,
                    &[
                        ("Wanted", int(p.ports)),
                        ("HoldMs", int(hold)),
                        ("DeadlineMs", int(deadline)),
                    ],
                )
                .await;
            let effect = reply.helper().map(|h| {
                ctx.held_by(
                    h,
                    Duration::from_millis(hold.max(0) as u64),
                    "UDP sockets held open",
                )
                .ends_with_helper()
            });
            let mut out = reply.outcome();
            if let Some(effect) = effect {
                out = out.with_effect(Box::new(effect));
            }
            out
        })
    }
}
