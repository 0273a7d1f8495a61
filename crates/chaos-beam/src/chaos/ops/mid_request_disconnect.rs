//! Network chaos on the node: open a connection to an application's
//! listener from a helper on the node, send part of a request, and drop the
//! connection abruptly (RST) in the middle of it. Confirmed by what the
//! server side did: its socket for this connection (found on the node by
//! its peer address) was open, with its owner, before the reset, and closed
//! within 300 ms after it; a server that never accepted, or kept its side
//! open, leaves the operation unconfirmed, saying which. The waits are short
//! so the snippet never outlives a monkey that vanished by much.

use super::prelude::*;

/// Drop a connection in the middle of a request.
pub struct MidRequestDisconnect;

pub(crate) const SNIPPET: &str = concat!(
    listeners!(),
    r#"
case Listeners of
    [] -> {skipped, <<"no application listens on TCP">>};
    _ ->
        Port = lists:nth(1 + Pick rem length(Listeners), Listeners),
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
                Request = <<"CALL sleep 200\n">>,
                Part = binary:part(Request, 0, max(1, min(Cut, byte_size(Request)))),
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
                Detail = iolist_to_binary(io_lib:format("sent ~b of ~b request bytes to port ~b, then reset the connection after ~b ms",
                                                        [byte_size(Part), byte_size(Request), Port, PauseMs])),
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
                                   server_closed_us => Us, server_owner => OwnerText}}
                        end
                end
        end
end.
"#
);

/// The parameters of one cut request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MidRequestDisconnectParams {
    /// How many bytes of the request are sent before the reset.
    pub cut: i64,
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
            cut: rng.range_inclusive(1, 15) as i64,
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
            let pids: Vec<Term> = candidates
                .iter()
                .map(|c| Term::from(c.pid.clone()))
                .collect();
            ctx.reply(
                SNIPPET,
                &[
                    ("Candidates", list(pids)),
                    ("Pick", int(p.pick)),
                    ("Cut", int(p.cut)),
                    ("PauseMs", int(p.pause_ms)),
                ],
            )
            .await
            .outcome()
        })
    }
}
