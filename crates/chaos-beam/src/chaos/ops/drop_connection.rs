//! Network chaos on the node: drop a random TCP connection that belongs to
//! one of the target's applications, the way the network drops it — both
//! directions shut down (`gen_tcp:shutdown/2` on a `tcp_inet` port,
//! `socket:shutdown/2` on a NIF socket), so the peer sees the end of the
//! stream and the owner sees `{tcp_closed, S}` (active) or `{error, closed}`
//! (its next read), as when the peer goes away. Never `port_close` from
//! outside: the owner is not told of that, and a connection process waiting
//! for its socket's messages would wait for ever — a leak the monkey itself
//! made. Never the distribution connections, listening sockets, epmd's
//! connection, connections already shut down (no peer any more), or anything
//! owned by a process outside the eligible applications (the owner must be
//! one of the chaos candidates). Confirmed by the shutdown succeeding; the
//! detail says whether the owner has closed the socket yet.

use super::prelude::*;

/// Drop one application TCP connection.
pub struct DropConnection;

pub(crate) const SNIPPET: &str = r#"
DistPorts = [P || {_, P} <- erlang:system_info(dist_ctrl), is_port(P)],
Owners = maps:from_list([{O, true} || O <- Candidates]),
Ports = [{port, P, Owner, Peer} || P <- erlang:ports(),
            erlang:port_info(P, name) =:= {name, "tcp_inet"},
            not lists:member(P, DistPorts),
            {connected, Owner} <- [erlang:port_info(P, connected)],
            maps:is_key(Owner, Owners),
            case prim_inet:getstatus(P) of {ok, St} -> lists:member(connected, St) andalso not lists:member(listen, St); _ -> false end,
            {ok, Peer} <- [inet:peername(P)]],
Sockets = try [{socket, S, maps:get(owner, I), Peer} || S <- socket:which_sockets(tcp),
                   I <- [socket:info(S)],
                   maps:is_key(maps:get(owner, I, none), Owners),
                   not lists:member(listen, maps:get(rstates, I, [])),
                   {ok, Peer} <- [socket:peername(S)]]
          catch _:_ -> [] end,
All = Ports ++ Sockets,
case All of
    [] -> {skipped, <<"no open TCP connection owned by an eligible application process">>};
    _ ->
        {Kind, Conn, Owner, Peer} = lists:nth(1 + Pick rem length(All), All),
        Shut = case Kind of
                   port -> catch gen_tcp:shutdown(Conn, read_write);
                   socket -> catch socket:shutdown(Conn, read_write)
               end,
        IsClosed = fun() -> case Kind of
                               port -> erlang:port_info(Conn) =:= undefined;
                               socket -> not lists:member(Conn, socket:which_sockets())
                           end end,
        %% An owner in active mode closes within a millisecond or so; one
        %% that reads later closes then. Look for up to 50 ms, no longer.
        WaitClosed = fun Wait(0) -> IsClosed();
                         Wait(N) -> IsClosed() orelse begin receive after 5 -> ok end, Wait(N - 1) end
                     end,
        Closed = Shut =:= ok andalso WaitClosed(10),
        Detail = iolist_to_binary(io_lib:format("shut down ~s ~0p (peer ~0p) owned by ~0p", [Kind, Conn, Peer, Owner])),
        case Shut of
            ok ->
                Then = case Closed of
                           true -> <<"; the owner has closed it">>;
                           false -> <<"; open until its owner reads">>
                       end,
                {confirmed, <<Detail/binary, Then/binary>>,
                 #{open_connections => length(All), owner => list_to_binary(erlang:pid_to_list(Owner))}};
            Other -> {unconfirmed, iolist_to_binary(io_lib:format("~s, but the shutdown answered ~0p", [Detail, Other]))}
        end
end.
"#;

/// The parameters of one dropped connection.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropConnectionParams {
    /// Picks the connection among the eligible ones (modulo their number).
    pub pick: i64,
}

impl TypedOperation<BeamTarget> for DropConnection {
    type Params = DropConnectionParams;

    fn name(&self) -> &'static str {
        "drop_connection"
    }

    fn category(&self) -> Category {
        Category::Network
    }

    fn describe(&self) -> &'static str {
        "drop a random TCP connection owned by an application process (both directions shut down, as when the peer goes away); confirmed by the shutdown"
    }

    fn plan(&self, rng: &mut SeededRng, _profile: Profile) -> DropConnectionParams {
        DropConnectionParams {
            pick: rng.range_inclusive(0, 1_000_000_000) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: DropConnectionParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let candidates = match ctx.candidates().await {
                Ok(c) => c,
                Err(e) => return Outcome::failed(format!("could not list victims: {e}")),
            };
            let pids = super::super::candidate::owner_pids(candidates.iter(), |c| c.owns_ports);
            let reply = ctx
                .reply(SNIPPET, &[("Candidates", pids), ("Pick", int(p.pick))])
                .await;
            let victim = match &reply {
                Reply::Confirmed(_, m, _) => m
                    .get("owner")
                    .and_then(Value::as_str)
                    .and_then(|o| candidates.iter().find(|c| c.pid_text == o))
                    .map(|c| c.victim()),
                _ => None,
            };
            reply.outcome().with_victim(victim)
        })
    }
}
