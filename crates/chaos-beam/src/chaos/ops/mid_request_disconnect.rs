//! Network chaos on the node: open a connection to an application's
//! listener from a helper on the node, send part of a request, and drop the
//! connection abruptly (RST) in the middle of it. The request is one of the
//! listener's own protocol: the request of the probe configured for its
//! port, else of what it answers to when asked (a line request, HTTP, AMQP's
//! header; see `services::Requests`); a listener that speaks nothing known
//! is skipped, saying so. Confirmed by what the
//! server side did: its socket for this connection (found on the node by
//! its peer address) was open, with its owner, before the reset, and closed
//! within 300 ms after it; a server that never accepted, or kept its side
//! open, leaves the operation unconfirmed, saying which. The waits are short
//! so the snippet never outlives a monkey that vanished by much.

use super::prelude::*;

/// Drop a connection in the middle of a request.
pub struct MidRequestDisconnect;

/// The ports the eligible applications listen on.
pub(crate) const LISTENERS: &str = concat!(listeners!(), "Listeners.\n");

/// Cut `Request` (of `Protocol`) after `Cut` bytes on a new connection to `Port`.
pub(crate) const SNIPPET: &str = r#"
        T0 = erlang:monotonic_time(microsecond),
        case gen_tcp:connect({127,0,0,1}, Port, [binary, {active, false}, {nodelay, true}, {linger, {true, 0}}], 2000) of
            {error, Why} ->
                {failed, iolist_to_binary(io_lib:format("could not connect to port ~b: ~0p", [Port, Why]))};
            {ok, S} ->
                ConnectUs = erlang:monotonic_time(microsecond) - T0,
                {ok, {_, Mine}} = inet:sockname(S),
                %% The server's side: the socket whose peer is ours (accepted a little later, maybe).
                ServerSide = fun Find(Deadline) ->
                    case [P || P <- erlang:ports(), erlang:port_info(P, name) =:= {name, "tcp_inet"},
                               inet:peername(P) =:= {ok, {{127,0,0,1}, Mine}}] of
                        [P | _] -> P;
                        [] -> case erlang:monotonic_time(millisecond) < Deadline of
                                  true -> timer:sleep(2), Find(Deadline);
                                  false -> none
                              end
                    end
                end,
                Theirs = ServerSide(erlang:monotonic_time(millisecond) + 200),
                Owner = case Theirs of
                            none -> none;
                            _ -> case erlang:port_info(Theirs, connected) of {connected, O} -> O; _ -> none end
                        end,
                %% No socket of the server's: it may have accepted and closed at once.
                ClosedByServer = Theirs =:= none andalso gen_tcp:recv(S, 0, 0) =:= {error, closed},
                Part = binary:part(Request, 0, max(1, min(Cut, byte_size(Request) - 1))),
                Sent = gen_tcp:send(S, Part),
                timer:sleep(PauseMs),
                ok = gen_tcp:close(S),
                Reset = erlang:monotonic_time(microsecond),
                Closed = fun Wait(Deadline) ->
                    case erlang:port_info(Theirs) of
                        undefined -> erlang:monotonic_time(microsecond) - Reset;
                        _ -> case erlang:monotonic_time(millisecond) < Deadline of
                                 true -> timer:sleep(2), Wait(Deadline);
                                 false -> open
                             end
                    end
                end,
                Detail = iolist_to_binary(io_lib:format("sent ~b of the ~b bytes of a request in ~s to port ~b, then reset the connection after ~b ms",
                                                        [byte_size(Part), byte_size(Request), Protocol, Port, PauseMs])),
                case {Sent, Theirs} of
                    {{error, E}, _} ->
                        {unconfirmed, iolist_to_binary(io_lib:format("~s; send failed: ~0p", [Detail, E]))};
                    {ok, none} when ClosedByServer ->
                        {unconfirmed, <<Detail/binary, "; the server closed the connection itself before the request (nothing to cut)">>};
                    {ok, none} ->
                        {unconfirmed, <<Detail/binary, "; the server never accepted the connection (no socket of its own for it within 200 ms)">>};
                    {ok, _} ->
                        case Closed(erlang:monotonic_time(millisecond) + 300) of
                            open ->
                                {unconfirmed, <<Detail/binary, "; the server's side was still open 300 ms after the reset">>};
                            Us ->
                                OwnerText = case Owner of none -> <<"?">>; _ -> list_to_binary(pid_to_list(Owner)) end,
                                {confirmed,
                                 iolist_to_binary(io_lib:format("~s; the server's side (owned by ~s) closed ~.3f ms later",
                                                                [Detail, OwnerText, Us / 1000])),
                                 #{port => Port, connect_us => ConnectUs, bytes => byte_size(Part),
                                   request_bytes => byte_size(Request), protocol => Protocol,
                                   server_closed_us => Us, server_owner => OwnerText}}
                        end
                end
        end.
"#;

/// The parameters of one cut request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MidRequestDisconnectParams {
    /// How much of the request is sent before the reset, in thousandths
    /// of its length (at least one byte, never all of it).
    pub cut_permille: i64,
    /// How long to wait between sending them and the reset.
    pub pause_ms: i64,
    /// Picks the listener among the eligible ones (modulo their number).
    pub pick: i64,
}

impl TypedOperation<BeamTarget> for MidRequestDisconnect {
    type Params = MidRequestDisconnectParams;

    fn name(&self) -> &'static str {
        "mid_request_disconnect"
    }

    fn category(&self) -> Category {
        Category::Network
    }

    fn describe(&self) -> &'static str {
        "open a connection to an application's listener, send part of a request, reset it"
    }

    fn plan(&self, rng: &mut SeededRng, _profile: Profile) -> MidRequestDisconnectParams {
        MidRequestDisconnectParams {
            cut_permille: rng.range_inclusive(1, 999) as i64,
            pause_ms: rng.range_inclusive(0, 50) as i64,
            pick: rng.range_inclusive(0, 1_000_000_000) as i64,
        }
    }

    fn run<'a>(
        &'a self,
        ctx: &'a BeamTarget,
        p: MidRequestDisconnectParams,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let candidates = match ctx.candidates().await {
                Ok(c) => c,
                Err(e) => return Outcome::failed(format!("could not list victims: {e}")),
            };
            let pids = super::super::candidate::owner_pids(candidates.iter(), |c| c.owns_ports);
            let ports: Vec<u16> = match ctx.exec(LISTENERS, &[("Candidates", pids)]).await {
                Ok(Term::List(l)) => l
                    .elements
                    .iter()
                    .filter_map(|t| t.as_i64())
                    .filter_map(|p| u16::try_from(p).ok())
                    .collect(),
                Ok(other) => {
                    return Outcome::failed(format!("listeners: unexpected answer {other}"))
                }
                Err(e) => return Outcome::failed(format!("could not list listeners: {e}")),
            };
            if ports.is_empty() {
                return Outcome::skipped("no application listens on TCP");
            }
            let port = ports[p.pick as usize % ports.len()];
            let (protocol, request) = match ctx.requests().for_port(port).await {
                Ok(r) => r,
                Err(why) => return Outcome::skipped(why),
            };
            let cut = (request.len() as i64 * p.cut_permille / 1000).max(1);
            ctx.reply(
                SNIPPET,
                &[
                    ("Port", int(port as i64)),
                    ("Protocol", binary(protocol.as_bytes())),
                    ("Request", binary(&request)),
                    ("Cut", int(cut)),
                    ("PauseMs", int(p.pause_ms)),
                ],
            )
            .await
            .outcome()
        })
    }
}
