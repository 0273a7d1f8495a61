//! Network chaos on the node, without a proxy: delay the reads of an
//! application's TCP connection by 1 ms–1 s (demo) / 1 ms–10 s
//! (aggressive) each, with the `message_delay` hook installed in the
//! process that owns the connection and delaying only its socket messages
//! (`{tcp, S, Data}`, `{tcp_closed, S}`, ...): every chunk the peer sends
//! reaches the application that much later. The owner is found on the node:
//! an OTP process among the candidates (it answers `sys`) that owns a
//! connected `tcp_inet` port which is not a listening socket (never
//! distribution, epmd or a listener). It works on sockets in active mode
//! (`{active, true | once | N}`), which deliver data as messages; a
//! process that reads with `gen_tcp:recv/2` is not slowed (the hook sees no
//! message) and the operation says so (unconfirmed: no socket message).
//!
//! Confirmed as `message_delay` is: the owner's answer time to a system
//! request, measured before and while the hook delays one of its socket
//! messages, rose by at least half the delay. Undone the same way.

use super::message_delay::{delay_victim, plan_delay, Delayed};
use super::prelude::*;

/// Delay the reads of one application TCP connection.
pub struct SocketDelay;

/// The owners of connected, non-listening TCP ports among `Candidates`:
/// `[{Owner, Port, Peer, Active}]`, sorted (`Active`: the socket's
/// `active` option now; `{active, once}` reads `false` between a message
/// and the owner re-arming it).
pub(crate) const OWNERS: &str = r#"
DistPorts = [P || {_, P} <- erlang:system_info(dist_ctrl), is_port(P)],
Owners = maps:from_list([{O, true} || O <- Candidates]),
lists:sort([{Owner, P, case inet:peername(P) of {ok, PN} -> PN; _ -> unknown end,
             case inet:getopts(P, [active]) of {ok, [{active, A}]} -> A; _ -> unknown end}
            || P <- erlang:ports(),
               erlang:port_info(P, name) =:= {name, "tcp_inet"},
               not lists:member(P, DistPorts),
               {connected, Owner} <- [erlang:port_info(P, connected)],
               maps:is_key(Owner, Owners),
               case prim_inet:getstatus(P) of
                   {ok, St} -> lists:member(connected, St) andalso not lists:member(listen, St);
                   _ -> false
               end]).
"#;

/// The parameters of one socket delay.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketDelayParams {
    /// How long each message of the socket waits before the owner handles it.
    pub delay_ms: i64,
    /// How long the hook stays installed.
    pub hold_ms: i64,
    /// Picks the connection among the eligible ones (modulo their number).
    pub pick: i64,
}

impl TypedOperation<BeamTarget> for SocketDelay {
    type Params = SocketDelayParams;

    fn name(&self) -> &'static str {
        "socket_delay"
    }

    fn category(&self) -> Category {
        Category::Network
    }

    fn describe(&self) -> &'static str {
        "delay the reads of an application TCP connection (1 ms–10 s each) inside its owner; confirmed by the owner's answer time"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> SocketDelayParams {
        let (delay_ms, hold_ms) = plan_delay(rng, profile);
        SocketDelayParams {
            delay_ms,
            hold_ms,
            pick: rng.range_inclusive(0, 1_000_000_000) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: SocketDelayParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let candidates = match ctx.candidates().await {
                Ok(c) => c,
                Err(e) => return Outcome::failed(format!("could not list victims: {e}")),
            };
            // No list of them is kept across the wait: at 10^6 processes,
            // 10,000 references per operation in flight add up.
            let eligible = |c: &&Candidate| c.otp && !c.supervisor && !ctx.is_affected(&c.pid_text);
            let pids =
                super::super::candidate::owner_pids(candidates.iter().filter(eligible), |c| {
                    c.owns_ports
                });
            let reply = match ctx.exec(OWNERS, &[("Candidates", pids)]).await {
                Ok(t) => t,
                Err(e) => return Outcome::failed(format!("could not list connections: {e}")),
            };
            let owners = reply.as_list().unwrap_or_default();
            if owners.is_empty() {
                return Outcome::skipped(
                    "no open TCP connection owned by an OTP process of an eligible application",
                );
            }
            let chosen = &owners[(p.pick as usize) % owners.len()];
            let owner = chosen.as_tuple().and_then(|t| t.first()?.as_pid().cloned());
            let Some(v) = candidates
                .iter()
                .filter(eligible)
                .find(|c| Some(&c.pid) == owner.as_ref())
            else {
                return Outcome::failed("the connection's owner is not among the candidates");
            };
            if !ctx.app_share_ok(v).await {
                return Outcome::skipped("blast-radius cap: too many of this application's processes are already affected");
            }
            let peer = chosen
                .as_tuple()
                .and_then(|t| t.get(2).map(crate::dist::term::show))
                .unwrap_or_default();
            let (reply, effect) =
                delay_victim(ctx, v, Delayed::Socket, p.delay_ms, p.hold_ms).await;
            let mut out = match reply {
                Reply::Gone => Outcome::skipped("the connection's owner died before the operation"),
                r => r.outcome(),
            };
            let active = chosen
                .as_tuple()
                .and_then(|t| t.get(3).map(crate::dist::term::show))
                .unwrap_or_default();
            out.detail = format!(
                "{} (connection to {peer}, active mode {active})",
                out.detail
            );
            if out.status == Status::Unconfirmed && active == "false" {
                out.detail.push_str(
                    "; in passive mode the owner reads with gen_tcp:recv, which no debug hook sees",
                );
            }
            if let Some(m) = out.measurements.as_object_mut() {
                m.insert("connections".into(), json!(owners.len()));
            }
            out = out.with_victim(Some(v.victim()));
            if let Some(e) = effect {
                out = out.with_effect(e);
            }
            out
        })
    }
}
