//! Memory chaos: a helper allocates a 1–10 MB refc binary on the target and
//! holds it for 0.5–20 s. Confirmed by `process_info(Helper, binary)` listing
//! a binary of exactly that size (the off-heap binary memory the node
//! reports). The helper drops it and exits `{undone, ok}` when released or at
//! its own deadline; the runtime frees the binary whenever the helper dies.

use super::prelude::*;

/// Hold a large binary for a while.
pub struct HoldBinary;

pub(crate) const SNIPPET: &str = concat!(
    r#"
Parent = self(),
NodeBefore = erlang:memory(binary),
Helper = erlang:spawn(fun() ->
    Held = binary:copy(<<16#C4>>, SizeBytes),
    Parent ! {holding, self()},
    "#,
    crate::hold_until_released!(),
    r#",
    _ = byte_size(Held),
    exit({undone, ok})
end),
receive
    {holding, Helper} ->
        case erlang:process_info(Helper, binary) of
            {binary, Bins} ->
                case [B || {_, Sz, _} = B <- Bins, Sz =:= SizeBytes] of
                    [_ | _] ->
                        NodeNow = erlang:memory(binary),
                        {confirmed,
                         iolist_to_binary(io_lib:format("holding a ~b-byte binary for ~b ms (node binary memory ~b -> ~b bytes)",
                                                        [SizeBytes, HoldMs, NodeBefore, NodeNow])),
                         #{bytes => SizeBytes, hold_ms => HoldMs,
                           node_binary_before => NodeBefore, node_binary_after => NodeNow},
                         Helper};
                    [] ->
                        erlang:exit(Helper, kill),
                        {unconfirmed,
                         iolist_to_binary(io_lib:format("the helper holds no ~b-byte binary (it holds ~0p)",
                                                        [SizeBytes, [S || {_, S, _} <- Bins]]))}
                end;
            undefined ->
                {failed, <<"the helper died right after allocating">>}
        end
after 3000 ->
    erlang:exit(Helper, kill),
    {failed, <<"the helper did not allocate within 3 s">>}
end.
"#
);

/// The parameters of one held binary.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBinaryParams {
    /// The size of the binary, in bytes.
    pub bytes: i64,
    /// How long the helper holds it.
    pub hold_ms: i64,
}

impl TypedOperation<BeamTarget> for HoldBinary {
    type Params = HoldBinaryParams;

    fn name(&self) -> &'static str {
        "hold_binary"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn describe(&self) -> &'static str {
        "a helper holds a 1–10 MB binary for 0.5–20 s; confirmed by process_info(Helper, binary)"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> HoldBinaryParams {
        const MB: u64 = 1024 * 1024;
        let (max_bytes, min_hold, max_hold) = match profile {
            Profile::Demo => (5 * MB, 500, 5_000),
            Profile::Aggressive => (10 * MB, 1_000, 20_000),
        };
        HoldBinaryParams {
            bytes: rng.range_inclusive(MB, max_bytes) as i64,
            hold_ms: ms(rng, min_hold, max_hold) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: HoldBinaryParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let bytes = p.bytes;
            let hold = p.hold_ms;
            let deadline = hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
            let reply = ctx
                .reply(
                    SNIPPET,
                    &[
                        ("SizeBytes", int(bytes)),
                        ("HoldMs", int(hold)),
                        ("DeadlineMs", int(deadline)),
                    ],
                )
                .await;
            let effect = reply.helper().map(|h| {
                Box::new(
                    ctx.held_by(
                        h,
                        Duration::from_millis(hold as u64),
                        format!("{bytes}-byte binary held"),
                    )
                    .ends_with_helper(),
                ) as Box<dyn Effect>
            });
            let out = reply.outcome();
            match effect {
                Some(e) => out.with_effect(e),
                None => out,
            }
        })
    }
}
