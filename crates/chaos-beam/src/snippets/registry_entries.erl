%% registry_entries — evaluated on the target by erl_eval; not a module.
%% The entries of one registry (Kind: global, pg or elixir_registry) owned
%% by the eligible processes (Pids, or `all': the caller filters), sorted:
%% {Pid, Entry, Label}.
Eligible = case Pids of all -> all; _ -> maps:from_list([{P, true} || P <- Pids]) end,
IsEligible = fun(P) -> Eligible =:= all orelse is_map_key(P, Eligible) end,
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
            is_pid(P), IsEligible(P)];
    pg ->
        Scopes = [S || S <- erlang:registered(), SP <- [whereis(S)], is_pid(SP),
                       InitialCall(SP) =:= {pg, init, 1}],
        [{P, {pg, S, G}, Text({S, G})}
         || S <- Scopes, G <- lists:sort(try pg:which_groups(S) catch _:_ -> [] end),
            P <- lists:usort(pg:get_local_members(S, G)), IsEligible(P)];
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
                    IsEligible(P)]
        end
end,
lists:sublist(lists:usort(Entries), 10000).
