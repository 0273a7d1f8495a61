//! Network chaos on the node: find the applications' listening TCP ports and
//! send one of them malformed data from a helper on the node itself (the
//! traffic stays on the node's loopback): random bytes, an overlong line,
//! half a frame then silence, or a valid-looking prefix then garbage. The
//! answer (an error line, or the server closing the connection) is recorded;
//! confirmed when the data was delivered and the server reacted — for half
//! a frame, silence confirms only when the server accepted the connection
//! (its own socket for it exists) and still listens.

use super::prelude::*;

/// Send malformed input to an application's listener.
pub struct MalformedData;

pub(crate) const SNIPPET: &str = concat!(
    listeners!(),
    r#"
case Listeners of
    [] -> {skipped, <<"no application listens on TCP">>};
    _ ->
        Port = lists:nth(1 + Pick rem length(Listeners), Listeners),
        _ = rand:seed(exsss, {Seed, Seed + 1, Seed + 2}),
        Garbage = fun(N) -> list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, N)]) end,
        {Payload, Then} = case Kind of
            random_bytes -> {Garbage(Size), read};
            overlong_line -> {<<(binary:copy(<<"A">>, Size))/binary, "\n">>, read};
            half_frame -> {<<"PUT chaos_monkey_half_frame">>, silence};
            prefix_then_garbage -> {<<"PUT chaos_monkey_key ", (Garbage(Size))/binary, "\n">>, read}
        end,
        case gen_tcp:connect({127,0,0,1}, Port, [binary, {active, false}, {packet, raw}, {nodelay, true}], 2000) of
            {error, Why} ->
                {failed, iolist_to_binary(io_lib:format("could not connect to port ~b: ~0p", [Port, Why]))};
            {ok, S} ->
                %% Our end's address now: a server that closes at once makes it unreadable later.
                Mine = case inet:sockname(S) of {ok, {_, MyPort}} -> MyPort; _ -> none end,
                Sent = gen_tcp:send(S, Payload),
                Wait = case Then of read -> 1500; silence -> SilenceMs end,
                Answer = case gen_tcp:recv(S, 0, Wait) of
                    {ok, Data} -> {answered, binary:part(Data, 0, min(120, byte_size(Data)))};
                    {error, closed} -> closed;
                    {error, timeout} -> no_answer;
                    {error, E} -> {error, E}
                end,
                %% Silence means something only if the server took the connection
                %% (its own socket for it exists) and still listens.
                TcpPorts = [P || P <- erlang:ports(), erlang:port_info(P, name) =:= {name, "tcp_inet"}],
                Accepted = lists:any(fun(P) -> inet:peername(P) =:= {ok, {{127,0,0,1}, Mine}} end, TcpPorts),
                StillListening = lists:any(fun(P) ->
                                               case {inet:sockname(P), prim_inet:getstatus(P)} of
                                                   {{ok, {_, Port}}, {ok, St}} -> lists:member(listen, St);
                                                   _ -> false
                                               end
                                           end, TcpPorts),
                gen_tcp:close(S),
                Detail = iolist_to_binary(io_lib:format("sent ~s (~b bytes) to port ~b: ~0p", [Kind, byte_size(Payload), Port, Answer])),
                M = #{port => Port, bytes => byte_size(Payload),
                      answer => case Answer of {answered, A} -> A; Other -> iolist_to_binary(io_lib:format("~0p", [Other])) end},
                case {Sent, Answer} of
                    {ok, {answered, _}} -> {confirmed, Detail, M};
                    {ok, closed} -> {confirmed, Detail, M};
                    {ok, no_answer} when Then =:= silence, Accepted, StillListening -> {confirmed, Detail, M};
                    {ok, no_answer} when Then =:= silence, not Accepted ->
                        {unconfirmed, <<Detail/binary, "; the server never accepted the connection">>};
                    {ok, no_answer} when Then =:= silence ->
                        {unconfirmed, <<Detail/binary, "; the listener is gone">>};
                    {ok, _} -> {unconfirmed, Detail};
                    {{error, SE}, _} -> {unconfirmed, iolist_to_binary(io_lib:format("~s; send failed: ~0p", [Detail, SE]))}
                end
        end
end.
"#
);

const KINDS: [&str; 4] = [
    "random_bytes",
    "overlong_line",
    "half_frame",
    "prefix_then_garbage",
];

/// The parameters of one malformed send.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MalformedDataParams {
    /// What is sent: one of `random_bytes`, `overlong_line`, `half_frame`, `prefix_then_garbage`.
    pub kind: String,
    /// How many bytes are sent.
    pub size: i64,
    /// How long to wait for an answer after half a frame (the other kinds wait 1.5 s).
    pub silence_ms: i64,
    /// Picks the listener among the eligible ones (modulo their number).
    pub pick: i64,
    /// Seeds the random bytes.
    pub seed: i64,
}

impl TypedOperation<BeamTarget> for MalformedData {
    type Params = MalformedDataParams;

    fn name(&self) -> &'static str {
        "malformed_data"
    }

    fn category(&self) -> Category {
        Category::Network
    }

    fn describe(&self) -> &'static str {
        "send random bytes, an overlong line, half a frame or garbage after a valid prefix to an application's listener"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> MalformedDataParams {
        let kind = KINDS[rng.range_inclusive(0, KINDS.len() as u64 - 1) as usize];
        let max = match profile {
            Profile::Demo => 16 * 1024,
            Profile::Aggressive => 1024 * 1024,
        };
        MalformedDataParams {
            kind: kind.to_string(),
            size: rng.range_inclusive(16, max) as i64,
            silence_ms: rng.range_inclusive(50, 1000) as i64,
            pick: rng.range_inclusive(0, 1_000_000_000) as i64,
            seed: rng.range_inclusive(1, 1_000_000_000) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: MalformedDataParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let candidates = match ctx.candidates().await {
                Ok(c) => c,
                Err(e) => return Outcome::failed(format!("could not list victims: {e}")),
            };
            let pids = super::super::candidate::owner_pids(candidates.iter(), |c| c.owns_ports);
            let kind = p.kind.as_str();
            ctx.reply(
                SNIPPET,
                &[
                    ("Candidates", pids),
                    ("Pick", int(p.pick)),
                    ("Kind", atom(kind)),
                    ("Size", int(p.size)),
                    ("SilenceMs", int(p.silence_ms)),
                    ("Seed", int(p.seed)),
                ],
            )
            .await
            .outcome()
        })
    }
}
