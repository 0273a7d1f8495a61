//! State chaos: take a registered application process's name away for
//! 0.2–3 s (demo) / 1–10 s (aggressive), in one of two modes drawn in `plan`:
//!
//! * `unregister` — the name is simply gone: calls and sends by name fail
//!   (`noproc`, `badarg`);
//! * `decoy` — the helper registers itself under the name and swallows every
//!   message (including `'$gen_call'`s: callers wait).
//!
//! A decoy's end reaches every caller waiting on it (they monitor the decoy:
//! `gen:call` exits with the decoy's exit reason), which the restart-budget
//! gate cannot see — the fifth RabbitMQ run lost connection supervisors
//! (restart intensity 0) to readers that died with `{{undone,ok},…}`. So
//! unless collapse is allowed the decoy holds the name below the default
//! 5 s call timeout, and on release hands what it swallowed back to the
//! victim in order: calls (`'$gen_call'`, `system`, a gen_event manager's)
//! are relayed, and each waiting caller gets the victim's answer from the
//! decoy before the decoy goes (late, not lost). With `--allow-collapse`
//! the decoy swallows for good and its end takes its waiting callers down.
//!
//! Confirmed by `whereis(Name)` returning `undefined` / the decoy. On release,
//! or at its own deadline, the helper gives up the decoy name and registers
//! the original pid again if it is alive and the name is free. If the victim
//! died meanwhile, the decoy frees the name at once (so its supervisor can
//! register the replacement), and whoever holds the name at release time (a
//! restarted replacement) is left alone. The helper traps exits so only a
//! `kill` can stop it before it has put the name back; if it is killed, the
//! name stays missing.

use super::prelude::*;

/// Unregister a process's name, or hijack it with a decoy.
pub struct RegistryCorrupt;

pub(crate) const SNIPPET: &str = r#"
case erlang:process_info(Victim, registered_name) of
    {registered_name, Name} ->
        Parent = self(),
        Helper = erlang:spawn(fun() ->
            process_flag(trap_exit, true),
            Me = self(),
            Deadline = erlang:monotonic_time(millisecond) + DeadlineMs,
            Mon = erlang:monitor(process, Victim),
            Took = case whereis(Name) of
                       Victim ->
                           try unregister(Name) of
                               true ->
                                   case Mode of
                                       decoy -> try register(Name, Me) of true -> decoy catch error:badarg -> lost end;
                                       _ -> unregistered
                                   end
                           catch error:badarg -> gone
                           end;
                       _ -> gone
                   end,
            Parent ! {took, Me, Took},
            %% The janitor: if the monkey's lease ends, give the name back at once.
            LeaseRef = erlang:monitor(process, Lease),
            %% What the decoy swallowed (newest first), kept to hand back.
            Loop = fun L(Kept) ->
                Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
                receive
                    release -> Kept;
                    {'DOWN', LeaseRef, process, _, _} -> Kept;
                    {'DOWN', Mon, process, _, _} ->
                        %% the victim died: free the name for its replacement
                        _ = whereis(Name) =:= Me andalso unregister(Name),
                        L(Kept);
                    Msg when HandBack -> L([Msg | Kept]);
                    _ -> L(Kept)
                after Left -> Kept
                end
            end,
            %% Hand the swallowed messages back to the victim, in order. A
            %% call is relayed under the decoy's own tag, and the answer
            %% passed on to its caller, who monitors the decoy: the decoy
            %% stays until every answer is in (at most 5 s).
            HandOver = fun(Msgs) ->
                VMon = erlang:monitor(process, Victim),
                Calls = lists:foldl(
                    fun({Label, {P, _} = From, Req}, Acc)
                          when is_pid(P), (Label =:= '$gen_call' orelse Label =:= system
                                           orelse is_pid(Label)) ->
                            R = erlang:make_ref(),
                            Victim ! {case is_pid(Label) of true -> Me; false -> Label end,
                                      {Me, R}, Req},
                            Acc#{R => From};
                       (M, Acc) ->
                            Victim ! M,
                            Acc
                    end, #{}, Msgs),
                Until = erlang:monotonic_time(millisecond) + 5000,
                Answer = fun A(Open) when map_size(Open) =:= 0 -> ok;
                             A(Open) ->
                                 Wait = max(0, Until - erlang:monotonic_time(millisecond)),
                                 receive
                                     {R, Reply} when is_map_key(R, Open) ->
                                         _ = gen:reply(maps:get(R, Open), Reply),
                                         A(maps:remove(R, Open));
                                     {'DOWN', VMon, process, _, _} -> ok
                                 after Wait -> ok
                                 end
                         end,
                _ = Answer(Calls),
                erlang:demonitor(VMon, [flush])
            end,
            case Took of
                gone -> exit(normal);
                _ ->
                    Kept = Loop([]),
                    _ = whereis(Name) =:= Me andalso unregister(Name),
                    Undone = case whereis(Name) of
                                 undefined ->
                                     case erlang:is_process_alive(Victim) of
                                         true ->
                                             try register(Name, Victim) of
                                                 true -> ok
                                             catch error:badarg ->
                                                 case erlang:process_info(Victim, registered_name) of
                                                     {registered_name, Name} -> ok;
                                                     {registered_name, Other} ->
                                                         {failed, iolist_to_binary(io_lib:format(
                                                             "~0p now has another name, ~0p", [Victim, Other]))};
                                                     _ -> ok
                                                 end
                                             end;
                                         false -> ok  %% died; nothing to give the name back to
                                     end;
                                 _ -> ok  %% back already, or held by a replacement: left alone
                             end,
                    _ = Kept =/= [] andalso erlang:is_process_alive(Victim)
                        andalso HandOver(lists:reverse(Kept)),
                    exit({undone, Undone})
            end
        end),
        receive
            {took, Helper, gone} -> gone;
            {took, Helper, Took} ->
                Now = whereis(Name),
                case {Took, Now} of
                    {unregistered, undefined} ->
                        {confirmed, iolist_to_binary(io_lib:format(
                            "~0p unregistered from ~0p, whereis returns undefined; registered again after ~b ms",
                            [Name, Victim, HoldMs])), #{}, Helper};
                    {decoy, Helper} when HandBack ->
                        {confirmed, iolist_to_binary(io_lib:format(
                            "~0p taken from ~0p by the decoy ~0p (holds every message), whereis returns the decoy; "
                            "given back after ~b ms, with what the decoy held", [Name, Victim, Helper, HoldMs])),
                         #{}, Helper};
                    {decoy, Helper} ->
                        {confirmed, iolist_to_binary(io_lib:format(
                            "~0p taken from ~0p by the decoy ~0p (swallows every message), whereis returns the decoy; "
                            "given back after ~b ms", [Name, Victim, Helper, HoldMs])), #{}, Helper};
                    _ ->
                        Helper ! release,
                        {unconfirmed, iolist_to_binary(io_lib:format(
                            "~0p: mode ~0p, but whereis returns ~0p; released at once", [Name, Took, Now]))}
                end
        after 2000 ->
            erlang:exit(Helper, kill),
            {failed, <<"the registry helper did not report within 2 s">>}
        end;
    _ -> gone  %% dead ([] would mean no name any more: gone as well)
end.
"#;

/// The parameters of one registry corruption.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCorruptParams {
    /// How the name is taken away: `unregister` or `decoy`.
    pub mode: String,
    /// How long it stays away before it is given back.
    pub hold_ms: i64,
}

impl TypedOperation<BeamTarget> for RegistryCorrupt {
    type Params = RegistryCorruptParams;

    fn name(&self) -> &'static str {
        "registry_corrupt"
    }

    fn category(&self) -> Category {
        Category::State
    }

    fn describe(&self) -> &'static str {
        "unregister a process's name or hijack it with a decoy, then give it back; confirmed by whereis"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> RegistryCorruptParams {
        let (low, high) = match profile {
            Profile::Demo => (200, 3_000),
            Profile::Aggressive => (1_000, 10_000),
        };
        let mode = if rng.range_inclusive(0, 1) == 0 {
            "unregister"
        } else {
            "decoy"
        };
        RegistryCorruptParams {
            mode: mode.to_string(),
            hold_ms: ms(rng, low, high) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: RegistryCorruptParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let mode = p.mode.as_str();
            // A decoy keeps its callers waiting: below the call timeout
            // unless collapse is allowed (then it swallows for good).
            let hand_back = ctx.safety.budget != crate::chaos::BudgetPolicy::Collapse;
            let hold = match mode {
                "decoy" => ctx.suspension_cap(p.hold_ms),
                _ => p.hold_ms,
            };
            let want = Want {
                named_only: true,
                ..Want::default()
            };
            ctx.on_victim(want, |v| async move {
                let deadline = hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
                let name = v.name.clone().unwrap_or_default();
                // Held from before it is taken: a kill drawn meanwhile sees it.
                let names = ctx.hold_name(&name, v.app.as_deref());
                let reply = ctx
                    .reply(
                        SNIPPET,
                        &[
                            ("Victim", v.pid.clone().into()),
                            ("Mode", atom(mode)),
                            ("HoldMs", int(hold)),
                            ("DeadlineMs", int(deadline)),
                            ("HandBack", atom(if hand_back { "true" } else { "false" })),
                        ],
                    )
                    .await;
                let Some(h) = reply.helper() else {
                    names.lock().unwrap().release(&name);
                    return (reply, None);
                };
                let effect = Box::new(
                    ctx.held_by(
                        h,
                        Duration::from_millis(hold.max(0) as u64),
                        format!("name {name} of {} taken away ({mode})", v.pid_text),
                    )
                    .clearing(ctx.affect(&v), &v.pid_text)
                    .releasing_name(names, &name),
                ) as Box<dyn Effect>;
                (reply, Some(effect))
            })
            .await
        })
    }
}
