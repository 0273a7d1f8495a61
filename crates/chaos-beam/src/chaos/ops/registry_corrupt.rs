//! State chaos: take a process's registry entry away for 0.2–3 s (demo) /
//! 1–10 s (aggressive), in one of four registries drawn in `plan`:
//!
//! * `local` — its registered name (`whereis`);
//! * `global` — a `global` name it holds (`global:whereis_name`);
//! * `pg` — its membership of a `pg` group, in any scope (every membership
//!   it has in that group; scopes are found by their process's initial call);
//! * `elixir_registry` — a key it holds in an Elixir `Registry` (a registry
//!   is recognised by its structure: a named table owned by the process of
//!   the same name, holding the registry's description under the key `-1`;
//!   its public API then does the work, `Registry.unregister/2` and
//!   `Registry.register/3` run inside the victim, an OTP process, with
//!   `sys:replace_state`, since they act for the caller).
//!
//! When the node has no entry of the drawn registry owned by an eligible
//! process, a local name is taken instead (`measurements.drawn` says what
//! was drawn). Each in one of two modes:
//!
//! * `unregister` — the entry is simply gone: calls and sends by name fail
//!   (`noproc`, `badarg`), a group or registry lookup misses the process;
//! * `decoy` — the helper takes the entry itself and swallows every
//!   message (including `'$gen_call'`s: callers wait).
//!
//! A decoy's end reaches every caller waiting on it (they monitor the decoy:
//! `gen:call` exits with the decoy's exit reason), which the restart-budget
//! gate cannot see — the fifth RabbitMQ run lost connection supervisors
//! (restart intensity 0) to readers that died with `{{undone,ok},…}`. So
//! unless collapse is allowed the decoy holds the entry below the default
//! 5 s call timeout, and on release hands what it swallowed back to the
//! victim in order: calls (`'$gen_call'`, `system`, a gen_event manager's)
//! are relayed, and each waiting caller gets the victim's answer from the
//! decoy before the decoy goes (late, not lost). With `--allow-collapse`
//! the decoy swallows for good and its end takes its waiting callers down.
//!
//! Confirmed by the registry itself, read after the take: `whereis`,
//! `global:whereis_name`, `pg:get_local_members`, `Registry.lookup` no
//! longer return the victim (and return the decoy in decoy mode). On
//! release, at its own deadline, or at once when the monkey's lease ends
//! (the janitor: the monkey killed, frozen or cut off), the helper gives up
//! the decoy entry and puts the victim's back if the victim is alive and
//! the entry free (a pg membership as many times as it was there; a
//! Registry key with each of its values). If the victim died meanwhile, the
//! decoy frees the entry at once (so its supervisor can register the
//! replacement), and whoever holds it at release time (a restarted
//! replacement) is left alone. The helper traps exits so only a `kill` can
//! stop it before it has put the entry back; if it is killed, the entry
//! stays missing. Every entry taken is held in the run's ledger under its
//! application ([`crate::chaos::HeldNames`]: no kill there while it is
//! away) until given back.

use super::prelude::*;
use crate::chaos::Candidate;

/// Unregister a process's name, or hijack it with a decoy.
pub struct RegistryCorrupt;

/// The registries an entry can be taken from, as drawn.
const REGISTRIES: [&str; 4] = ["local", "global", "pg", "elixir_registry"];

/// The entries of one registry (`Kind`: global, pg or elixir_registry)
/// owned by the eligible processes (`Pids`), sorted: `{Pid, Entry, Label}`.
pub(crate) const ENTRIES: &str = r#"
Eligible = maps:from_list([{P, true} || P <- Pids]),
InitialCall = fun(P) ->
    case erlang:process_info(P, dictionary) of
        {dictionary, D} -> proplists:get_value('$initial_call', D);
        _ -> undefined
    end
end,
Text = fun(T) -> iolist_to_binary(io_lib:format("~0p", [T])) end,
IsRegistry = fun(T) ->
    try ets:lookup(T, -1) of
        [{-1, Info}] when is_tuple(Info), tuple_size(Info) >= 3 ->
            lists:member(element(1, Info), [unique, duplicate]);
        _ -> false
    catch _:_ -> false
    end
end,
Entries = case Kind of
    global ->
        [{P, {global, N}, Text(N)}
         || N <- global:registered_names(), P <- [global:whereis_name(N)],
            is_pid(P), is_map_key(P, Eligible)];
    pg ->
        Scopes = [S || S <- erlang:registered(), SP <- [whereis(S)], is_pid(SP),
                       InitialCall(SP) =:= {pg, init, 1}],
        [{P, {pg, S, G}, Text({S, G})}
         || S <- Scopes, G <- lists:sort(try pg:which_groups(S) catch _:_ -> [] end),
            P <- lists:usort(pg:get_local_members(S, G)), is_map_key(P, Eligible)];
    elixir_registry ->
        case code:is_loaded('Elixir.Registry') of
            false -> [];
            _ ->
                Regs = [T || T <- ets:all(), is_atom(T), W <- [whereis(T)], is_pid(W),
                             ets:info(T, owner) =:= W, IsRegistry(T)],
                [{P, {elixir_registry, R, K}, Text({R, K})}
                 || R <- lists:sort(Regs),
                    {K, P} <- try 'Elixir.Registry':select(R, [{{'$1', '$2', '_'}, [], [{{'$1', '$2'}}]}])
                              catch _:_ -> [] end,
                    is_map_key(P, Eligible)]
        end
end,
lists:sublist(lists:usort(Entries), 10000).
"#;

pub(crate) const SNIPPET: &str = r#"
Text = fun(F, A) -> iolist_to_binary(io_lib:format(F, A)) end,
Resolved = case Entry of
    local -> case erlang:process_info(Victim, registered_name) of
                 {registered_name, LN0} -> {local, LN0};
                 _ -> gone  %% dead ([] would mean no name any more: gone as well)
             end;
    _ -> Entry
end,
%% What the registry holds for the entry now (pids).
Holders = fun() ->
    case Resolved of
        {local, LN} -> case whereis(LN) of LP when is_pid(LP) -> [LP]; _ -> [] end;
        {global, GN} -> case global:whereis_name(GN) of GP when is_pid(GP) -> [GP]; _ -> [] end;
        {pg, PS, PG} -> pg:get_local_members(PS, PG);
        {elixir_registry, RR, RK} -> [RP || {RP, _} <- 'Elixir.Registry':lookup(RR, RK)]
    end
end,
Count = fun(CP) -> length([X || X <- Holders(), X =:= CP]) end,
%% The registry's API acts for its caller: run F inside the victim.
InVictim = fun(F) ->
    try sys:replace_state(Victim, fun(St) -> _ = F(), St end, 5000) of
        _ -> ok
    catch C:R0 -> {failed, Text("~0p inside ~0p: ~0p:~0p", [Resolved, Victim, C, R0])}
    end
end,
%% Take the entry away (in the helper, Me); what to put back later.
Take = fun(Me) ->
    case Resolved of
        {local, LN} ->
            case whereis(LN) of
                Victim ->
                    try unregister(LN) of
                        true -> case Mode of
                                    decoy -> try register(LN, Me) of true -> {decoy, none}
                                             catch error:badarg -> {lost, none} end;
                                    _ -> {unregistered, none}
                                end
                    catch error:badarg -> {gone, none}
                    end;
                _ -> {gone, none}
            end;
        {global, GN} ->
            case global:whereis_name(GN) of
                Victim ->
                    _ = global:unregister_name(GN),
                    case Mode of
                        decoy -> case global:register_name(GN, Me) of
                                     yes -> {decoy, none};
                                     no -> {lost, none}
                                 end;
                        _ -> {unregistered, none}
                    end;
                _ -> {gone, none}
            end;
        {pg, PS, PG} ->
            case Count(Victim) of
                0 -> {gone, 0};
                PN ->
                    ok = pg:leave(PS, PG, lists:duplicate(PN, Victim)),
                    case Mode of
                        decoy -> ok = pg:join(PS, PG, Me), {decoy, PN};
                        _ -> {unregistered, PN}
                    end
            end;
        {elixir_registry, RR, RK} ->
            case [V || {RP, V} <- 'Elixir.Registry':lookup(RR, RK), RP =:= Victim] of
                [] -> {gone, []};
                RVals ->
                    case InVictim(fun() -> 'Elixir.Registry':unregister(RR, RK) end) of
                        ok ->
                            case Mode of
                                decoy -> case 'Elixir.Registry':register(RR, RK, hd(RVals)) of
                                             {ok, _} -> {decoy, RVals};
                                             _ -> {lost, RVals}
                                         end;
                                _ -> {unregistered, RVals}
                            end;
                        RFailed -> {RFailed, RVals}
                    end
            end;
        gone -> {gone, none}
    end
end,
%% The decoy (Me) lets go of the entry.
FreeDecoy = fun(Me) ->
    _ = case Resolved of
            {local, LN} -> whereis(LN) =:= Me andalso unregister(LN);
            {global, GN} -> global:whereis_name(GN) =:= Me andalso global:unregister_name(GN);
            {pg, PS, PG} -> Count(Me) > 0 andalso pg:leave(PS, PG, lists:duplicate(Count(Me), Me));
            {elixir_registry, RR, RK} -> Count(Me) > 0 andalso 'Elixir.Registry':unregister(RR, RK)
        end,
    ok
end,
%% Put the victim's entry back (Saved: what Take kept) when the victim is
%% alive and the entry free; a replacement holding it is left alone.
GiveBack = fun(Saved) ->
    case erlang:is_process_alive(Victim) of
        false -> ok;  %% died; nothing to give the entry back to
        true ->
            case Resolved of
                {local, LN} ->
                    case whereis(LN) of
                        undefined ->
                            try register(LN, Victim) of
                                true -> ok
                            catch error:badarg ->
                                case erlang:process_info(Victim, registered_name) of
                                    {registered_name, LN} -> ok;
                                    {registered_name, Other} ->
                                        {failed, Text("~0p now has another name, ~0p", [Victim, Other])};
                                    _ -> ok
                                end
                            end;
                        _ -> ok
                    end;
                {global, GN} ->
                    case global:whereis_name(GN) of
                        undefined ->
                            case global:register_name(GN, Victim) of
                                yes -> ok;
                                no -> {failed, Text("global name ~0p could not be registered for ~0p again", [GN, Victim])}
                            end;
                        _ -> ok
                    end;
                {pg, PS, PG} ->
                    case Saved - Count(Victim) of
                        Missing when Missing > 0 -> pg:join(PS, PG, lists:duplicate(Missing, Victim));
                        _ -> ok
                    end;
                {elixir_registry, RR, RK} ->
                    case lists:member(RK, 'Elixir.Registry':keys(RR, Victim)) of
                        true -> ok;
                        false -> InVictim(fun() -> [_ = 'Elixir.Registry':register(RR, RK, V) || V <- Saved] end)
                    end
            end
    end
end,
%% How the entry is named, and how the registry is asked about it.
{Label, Where} = case Resolved of
    {local, LN1} -> {Text("~0p", [LN1]), <<"whereis">>};
    {global, GN1} -> {Text("global name ~0p", [GN1]), <<"global:whereis_name">>};
    {pg, PS1, PG1} -> {Text("pg group ~0p (scope ~0p)", [PG1, PS1]), <<"pg:get_local_members">>};
    {elixir_registry, RR1, RK1} -> {Text("Registry ~0p key ~0p", [RR1, RK1]), <<"Registry.lookup">>};
    gone -> {<<>>, <<>>}
end,
Shown = fun(Ps) ->
    case Resolved of
        {local, _} -> case Ps of [] -> undefined; [P1] -> P1 end;
        {global, _} -> case Ps of [] -> undefined; [P1] -> P1 end;
        _ -> Ps
    end
end,
Kind = case Resolved of gone -> gone; _ -> element(1, Resolved) end,
case Resolved of
    gone -> gone;
    _ ->
        Parent = self(),
        Helper = erlang:spawn(fun() ->
            process_flag(trap_exit, true),
            Me = self(),
            Deadline = erlang:monotonic_time(millisecond) + DeadlineMs,
            Mon = erlang:monitor(process, Victim),
            {Took, Saved} = try Take(Me) catch TC:TR -> {{failed, Text("~0p:~0p", [TC, TR])}, none} end,
            Parent ! {took, Me, Took},
            %% The janitor: if the monkey's lease ends, give the entry back at once.
            LeaseRef = erlang:monitor(process, Lease),
            %% What the decoy swallowed (newest first), kept to hand back.
            Loop = fun L(Kept) ->
                Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
                receive
                    release -> Kept;
                    {'DOWN', LeaseRef, process, _, _} -> Kept;
                    {'DOWN', Mon, process, _, _} ->
                        %% the victim died: free the entry for its replacement
                        _ = FreeDecoy(Me),
                        L(Kept);
                    {'EXIT', _, _} -> L(Kept);  %% a link of the decoy's own (a Registry partition)
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
                    fun({CLabel, {P, _} = From, Req}, Acc)
                          when is_pid(P), (CLabel =:= '$gen_call' orelse CLabel =:= system
                                           orelse is_pid(CLabel)) ->
                            R = erlang:make_ref(),
                            Victim ! {case is_pid(CLabel) of true -> Me; false -> CLabel end,
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
                {failed, _} -> exit(normal);
                _ ->
                    Kept = Loop([]),
                    _ = FreeDecoy(Me),
                    Undone = try GiveBack(Saved) catch GC:GR -> {failed, Text("~0p:~0p", [GC, GR])} end,
                    _ = Kept =/= [] andalso erlang:is_process_alive(Victim)
                        andalso HandOver(lists:reverse(Kept)),
                    exit({undone, Undone})
            end
        end),
        receive
            {took, Helper, gone} -> gone;
            {took, Helper, {failed, Why}} -> {failed, Why};
            {took, Helper, Took} ->
                Now = Holders(),
                Measured = #{registry => Kind},
                case {Took, lists:member(Victim, Now), lists:member(Helper, Now)} of
                    {unregistered, false, _} when Kind =:= pg; Kind =:= elixir_registry; Now =:= [] ->
                        {confirmed, Text("~s unregistered from ~0p, ~s returns ~0p; registered again after ~b ms",
                                         [Label, Victim, Where, Shown(Now), HoldMs]), Measured, Helper};
                    {decoy, false, true} when HandBack ->
                        {confirmed, Text("~s taken from ~0p by the decoy ~0p (holds every message), ~s returns ~0p; "
                                         "given back after ~b ms, with what the decoy held",
                                         [Label, Victim, Helper, Where, Shown(Now), HoldMs]), Measured, Helper};
                    {decoy, false, true} ->
                        {confirmed, Text("~s taken from ~0p by the decoy ~0p (swallows every message), ~s returns ~0p; "
                                         "given back after ~b ms", [Label, Victim, Helper, Where, Shown(Now), HoldMs]),
                         Measured, Helper};
                    _ ->
                        Helper ! release,
                        {unconfirmed, Text("~s: mode ~0p, but ~s returns ~0p; released at once",
                                           [Label, Took, Where, Shown(Now)])}
                end
        after 7000 ->
            erlang:exit(Helper, kill),
            {failed, <<"the registry helper did not report within 7 s">>}
        end
end.
"#;

/// The parameters of one registry corruption.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCorruptParams {
    /// How the entry is taken away: `unregister` or `decoy`.
    pub mode: String,
    /// How long it stays away before it is given back.
    pub hold_ms: i64,
    /// Which registry: `local`, `global`, `pg` or `elixir_registry` (a
    /// local name when the node has no such entry). Plans from before it
    /// was drawn read as `local`.
    #[serde(default = "local")]
    pub registry: String,
    /// Which of that registry's entries, by position among those of the
    /// eligible processes (sorted on the node).
    #[serde(default)]
    pub entry_pick: u64,
}

fn local() -> String {
    "local".to_string()
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
        "take a registered name, global name, pg membership or Elixir Registry key away or hijack it with a decoy, then give it back; confirmed by the registry"
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
        let hold_ms = ms(rng, low, high) as i64;
        let registry = REGISTRIES[rng.range_inclusive(0, REGISTRIES.len() as u64 - 1) as usize];
        RegistryCorruptParams {
            mode: mode.to_string(),
            hold_ms,
            registry: registry.to_string(),
            entry_pick: rng.range_inclusive(0, 1 << 20),
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
            let take = Take {
                ctx,
                mode,
                hold,
                hand_back,
            };
            let why_local = match p.registry.as_str() {
                "local" => None,
                kind @ ("global" | "pg" | "elixir_registry") => {
                    match take.entry(kind, p.entry_pick).await {
                        Ok(outcome) => return outcome,
                        Err(why) => Some((kind, why)),
                    }
                }
                other => return Outcome::failed(format!("unknown registry {other:?}")),
            };
            let want = Want {
                named_only: true,
                ..Want::default()
            };
            let mut out = ctx
                .on_victim(want, |v| async move {
                    let name = v.name.clone().unwrap_or_default();
                    let what = format!("name {name}");
                    take.run(&v, atom("local"), name, what).await
                })
                .await;
            if let Some((drawn, why)) = why_local {
                if let Some(m) = out.measurements.as_object_mut() {
                    m.insert("drawn".into(), json!(drawn));
                    m.insert("why_local".into(), json!(why));
                }
            }
            out
        })
    }
}

/// One take of a registry entry, with the op's settings.
#[derive(Clone, Copy)]
struct Take<'a> {
    ctx: &'a BeamTarget,
    mode: &'a str,
    hold: i64,
    hand_back: bool,
}

impl Take<'_> {
    /// Take an entry of registry `kind` (not local): the eligible
    /// processes' entries are listed on the node and one is drawn; `Err`
    /// (why) when there is none, so a local name is taken instead.
    async fn entry(self, kind: &str, pick: u64) -> Result<Outcome, String> {
        let ctx = self.ctx;
        let all = ctx
            .candidates()
            .await
            .map_err(|e| format!("could not list victims: {e}"))?;
        let affected: Vec<String> = ctx
            .budget
            .affected
            .lock()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        // Workers only (a supervisor's entry is its restarts' business); a
        // Registry key is moved by code run inside its owner (sys).
        let eligible: Vec<&Candidate> = all
            .iter()
            .filter(|c| !c.supervisor && !affected.contains(&c.pid_text))
            .filter(|c| {
                kind != "elixir_registry" || (c.otp && !c.initial_call.starts_with("gen_event:"))
            })
            .collect();
        let t = ctx
            .exec(
                ENTRIES,
                &[
                    ("Kind", atom(kind)),
                    (
                        "Pids",
                        list(eligible.iter().map(|c| c.pid.clone().into()).collect()),
                    ),
                ],
            )
            .await
            .map_err(|e| format!("could not list the {kind} entries: {e}"))?;
        let entries = t.as_list().unwrap_or_default();
        if entries.is_empty() {
            return Err(format!("no {kind} entry held by an eligible process"));
        }
        let Some([pid, entry, label]) = entries[(pick % entries.len() as u64) as usize].as_tuple()
        else {
            return Err(format!("unexpected {kind} entry"));
        };
        let Some(victim) = eligible
            .iter()
            .find(|c| Some(&c.pid) == pid.as_pid())
            .map(|c| (*c).clone())
        else {
            return Err(format!("the {kind} entry's owner is no candidate"));
        };
        if !ctx.app_share_ok(&victim).await {
            return Ok(Outcome::skipped(
                "blast-radius cap: too many of this application's processes are already affected",
            ));
        }
        let held = format!("{kind} {}", label.as_text().unwrap_or_default());
        let (reply, effect) = self.run(&victim, entry.clone(), held.clone(), held).await;
        let mut out = reply.outcome().with_victim(Some(victim.victim()));
        if let Some(effect) = effect {
            out = out.with_effect(effect);
        }
        Ok(out)
    }

    /// Take `entry` (`local`, or a listed entry) of `victim` away; `held`
    /// names it in the run's ledger of held names until it is given back,
    /// `what` in the effect's description.
    async fn run(
        self,
        v: &Candidate,
        entry: Term,
        held: String,
        what: String,
    ) -> (Reply, Option<Box<dyn Effect>>) {
        let ctx = self.ctx;
        let deadline = self.hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
        // Held from before it is taken: a kill drawn meanwhile sees it.
        let names = ctx.hold_name(&held, v.app.as_deref());
        let reply = ctx
            .reply(
                SNIPPET,
                &[
                    ("Victim", v.pid.clone().into()),
                    ("Entry", entry),
                    ("Mode", atom(self.mode)),
                    ("HoldMs", int(self.hold)),
                    ("DeadlineMs", int(deadline)),
                    (
                        "HandBack",
                        atom(if self.hand_back { "true" } else { "false" }),
                    ),
                ],
            )
            .await;
        let Some(h) = reply.helper() else {
            names.lock().unwrap().release(&held);
            return (reply, None);
        };
        let effect = Box::new(
            ctx.held_by(
                h,
                Duration::from_millis(self.hold.max(0) as u64),
                format!("{what} of {} taken away ({})", v.pid_text, self.mode),
            )
            .clearing(ctx.affect(v), &v.pid_text)
            .releasing_name(names, &held),
        ) as Box<dyn Effect>;
        (reply, Some(effect))
    }
}
