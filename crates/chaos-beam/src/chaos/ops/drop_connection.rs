//! Network chaos on the node: close a random TCP connection that belongs to
//! one of the target's applications — `erlang:port_close/1` on a connected
//! `tcp_inet` port, or `socket:close/1` on a NIF socket. Never the
//! distribution connections, listening sockets, epmd's connection, or
//! anything owned by a process outside the eligible applications (the owner
//! must be one of the chaos candidates). Confirmed by the port or socket
//! being gone.

use super::prelude::*;

/// Close one application TCP connection.
pub struct DropConnection;

pub(crate) const SNIPPET: &str = r#"
DistPorts = [P || {_, P} <- erlang:system_info(dist_ctrl), is_port(P)],
Owners = maps:from_list([{O, true} || O <- Candidates]),
Ports = [{port, P, Owner} || P <- erlang:ports(),
            erlang:port_info(P, name) =:= {name, "tcp_inet"},
            not lists:member(P, DistPorts),
            {connected, Owner} <- [erlang:port_info(P, connected)],
            maps:is_key(Owner, Owners),
            case prim_inet:getstatus(P) of {ok, St} -> lists:member(connected, St) andalso not lists:member(listen, St); _ -> false end],
Sockets = try [{socket, S, maps:get(owner, I)} || S <- socket:which_sockets(tcp),
                   I <- [socket:info(S)],
                   maps:is_key(maps:get(owner, I, none), Owners),
                   not lists:member(listen, maps:get(rstates, I, []))]
          catch _:_ -> [] end,
All = Ports ++ Sockets,
case All of
    [] -> {skipped, <<"no open TCP connection owned by an eligible application process">>};
    _ ->
        {Kind, Conn, Owner} = lists:nth(1 + Pick rem length(All), All),
        Peer = case Kind of
                   port -> case inet:peername(Conn) of {ok, PN} -> PN; _ -> unknown end;
                   socket -> case socket:peername(Conn) of {ok, PN} -> PN; _ -> unknown end
               end,
        case Kind of
            port -> catch erlang:port_close(Conn);
            socket -> catch socket:close(Conn)
        end,
        Gone = case Kind of
                   port -> erlang:port_info(Conn) =:= undefined;
                   socket -> not lists:member(Conn, socket:which_sockets())
               end,
        Detail = iolist_to_binary(io_lib:format("closed ~s ~0p (peer ~0p) owned by ~0p", [Kind, Conn, Peer, Owner])),
        case Gone of
            true -> {confirmed, Detail, #{open_connections => length(All), owner => list_to_binary(erlang:pid_to_list(Owner))}};
            false -> {unconfirmed, <<Detail/binary, ", but it is still open">>}
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
        "close a random TCP connection owned by an application process; confirmed by it being gone"
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
