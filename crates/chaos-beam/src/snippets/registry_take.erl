%% registry_take — evaluated on the target by erl_eval; not a module.
%% Takes one registry entry of Victim (see registry_corrupt.rs for the
%% bindings and what it answers).
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
