//! Process chaos: spawn a chain of 3–10 processes, each linked to the one
//! before it, and crash the tail with `exit(Tail, chaos_test)`: the crash
//! travels the links to the head. Confirmed by monitoring the whole chain and
//! receiving every `'DOWN'`. In both profiles the chain's head is linked to
//! a random worker where the supervision budgets allow it (the
//! restart-budget gate, per victim, and one kill from the kills-per-second
//! cap), so the crash reaches a real process (a kill when it dies, survival
//! when it traps exits); when no worker may be hit (every one guarded, none
//! eligible, the cap reached) the chain is the monkey's own processes only.
//! The detail starts with which it was ("linked to a real victim" / "own
//! processes only", with why), and `real_victim` says it too. Chain
//! processes live at most 5 s; when the chain
//! cannot be built they are told to stop with reason `normal`, which does not
//! travel the links, so a half-built chain never hurts the linked worker.

use super::prelude::*;

/// Crash a chain of linked processes.
pub struct LinkCrashChain;

pub(crate) const SNIPPET: &str = gated_kill!(
    "LinkTo",
    "chaos_test",
    r#"
Parent = self(),
VictimMon = case LinkTo of
                none -> none;
                _ -> erlang:monitor(process, LinkTo)
            end,
case LinkTo =/= none andalso not erlang:is_process_alive(LinkTo) of
    true -> erlang:demonitor(VictimMon, [flush]), gone;
    false ->
        Grow = fun Build(0, _, Acc) -> {ok, Acc};
                   Build(Left, Prev, Acc) ->
                       {Pid, Mon} = erlang:spawn_monitor(fun() ->
                           Linked = case Prev of
                                        none -> true;
                                        _ -> try erlang:link(Prev) catch error:noproc -> false end
                                    end,
                           Parent ! {chained, self(), Linked},
                           receive chain_stop -> ok after ChainWaitMs -> ok end
                       end),
                       receive
                           {chained, Pid, true} -> Build(Left - 1, Pid, [{Pid, Mon} | Acc]);
                           {chained, Pid, false} -> {broken, [{Pid, Mon} | Acc]};
                           {'DOWN', Mon, process, Pid, _} -> {broken, Acc}
                       after 1000 -> {broken, [{Pid, Mon} | Acc]}
                       end
               end,
        {Built, Chain} = Grow(Length, LinkTo, []),
        case Chain of
            [{Tail, _} | _] when Built =:= ok ->
                erlang:exit(Tail, chaos_test),
                Deadline = erlang:monotonic_time(millisecond) + 3000,
                Await = fun Wait(Pending, Reasons) ->
                    case map_size(Pending) of
                        0 -> {Pending, Reasons};
                        _ ->
                            Remaining = max(0, Deadline - erlang:monotonic_time(millisecond)),
                            receive
                                {'DOWN', DownRef, process, _, DownWhy} when is_map_key(DownRef, Pending) ->
                                    Wait(maps:remove(DownRef, Pending), [DownWhy | Reasons])
                            after Remaining -> {Pending, Reasons}
                            end
                    end
                end,
                {Missing, Why} = Await(maps:from_list([{M, true} || {_, M} <- Chain]), []),
                Died = Length - map_size(Missing),
                AllTest = lists:all(fun(W) -> W =:= chaos_test end, Why),
                VictimFate = case VictimMon of
                                 none -> none;
                                 _ ->
                                     receive
                                         {'DOWN', VictimMon, process, _, VWhy} -> {died, VWhy}
                                     after 300 ->
                                         erlang:demonitor(VictimMon, [flush]),
                                         case erlang:process_info(LinkTo, trap_exit) of
                                             {trap_exit, true} -> trapped;
                                             {trap_exit, false} -> alive;
                                             undefined -> {died, unknown}
                                         end
                                 end
                             end,
                Measurements = #{chain_length => Length, died => Died,
                                 victim_died => case VictimFate of {died, _} -> true; _ -> false end},
                VictimText = case VictimFate of
                                 none -> "";
                                 {died, VW} -> io_lib:format("; the linked worker died with ~0p", [VW]);
                                 trapped -> "; the linked worker traps exits and is still alive";
                                 alive -> "; the linked worker is still alive"
                             end,
                case Missing =:= #{} andalso AllTest andalso VictimFate =/= alive of
                    true ->
                        {confirmed,
                         iolist_to_binary(io_lib:format("crashed the tail of a ~b-process link chain; all ~b died with chaos_test~s",
                                                        [Length, Died, VictimText])),
                         Measurements};
                    false ->
                        [P ! chain_stop || {P, _} <- Chain],
                        {unconfirmed,
                         iolist_to_binary(io_lib:format("crashed the tail of a ~b-process link chain; ~b died, reasons ~0p~s",
                                                        [Length, Died, lists:usort(Why), VictimText]))}
                end;
            _ ->
                [P ! chain_stop || {P, _} <- Chain],
                case VictimMon of
                    none -> {failed, <<"could not build the link chain">>};
                    _ ->
                        erlang:demonitor(VictimMon, [flush]),
                        case erlang:is_process_alive(LinkTo) of
                            false -> gone;
                            true -> {failed, <<"could not build the link chain">>}
                        end
                end
        end
end
"#
);

/// The parameters of one crashed chain.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCrashChainParams {
    /// How many linked processes the chain has.
    pub chain_length: i64,
    /// Whether the chain is also linked to a real victim (where the budgets
    /// allow), which then dies with it; planned `true` in both profiles.
    pub link_victim: bool,
}

impl TypedOperation<BeamTarget> for LinkCrashChain {
    type Params = LinkCrashChainParams;

    fn name(&self) -> &'static str {
        "link_crash_chain"
    }

    fn category(&self) -> Category {
        Category::Process
    }

    fn describe(&self) -> &'static str {
        "crash the tail of a chain of 3–10 linked processes; confirmed by every one's 'DOWN'"
    }

    fn plan(&self, rng: &mut SeededRng, _profile: Profile) -> LinkCrashChainParams {
        let length = rng.range_inclusive(3, 10);
        LinkCrashChainParams {
            chain_length: length as i64,
            link_victim: true,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: LinkCrashChainParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let length = int(p.chain_length);
            let bindings = |link_to: Term| {
                [
                    ("Length", length.clone()),
                    ("LinkTo", link_to),
                    ("ChainWaitMs", int(5_000)),
                ]
            };
            let own = |why: String| async move {
                let mut out = ctx.reply(SNIPPET, &bindings(atom("none"))).await.outcome();
                out.detail = format!("own processes only ({why}): {}", out.detail);
                if let Some(m) = out.measurements.as_object_mut() {
                    m.insert("real_victim".into(), Value::Bool(false));
                }
                out
            };
            if !p.link_victim {
                return own("a real victim was not planned".into()).await;
            }
            if !ctx.take_kill() {
                return own("blast-radius cap: maximum kills per second reached".into()).await;
            }
            let out = ctx
                .on_victim(Want::KILL, |v| {
                    let b = bindings(v.pid.clone().into());
                    async move { (ctx.reply(SNIPPET, &b).await, None) }
                })
                .await;
            ctx.victim_gone().await;
            if out.victim.is_none() && out.status == Status::Skipped {
                // Every worker guarded, or none eligible: the own chain, saying why.
                let guarded = out.budget.clone();
                let mut own_out = own(out.detail.clone()).await;
                if let Some(note) = guarded {
                    own_out = own_out.with_budget(note);
                }
                return own_out;
            }
            let died = out.measurements.get("victim_died") == Some(&Value::Bool(true));
            let mut out = out;
            out.detail = format!("linked to a real victim: {}", out.detail);
            if let Some(m) = out.measurements.as_object_mut() {
                m.insert("real_victim".into(), Value::Bool(true));
            }
            if out.status == Status::Confirmed && died {
                ctx.killed(out)
            } else {
                out
            }
        })
    }
}
