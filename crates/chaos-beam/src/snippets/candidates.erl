%% candidates — evaluated on the target by erl_eval; not a module.
%% Lists the processes chaos may touch, with what the safety rules need.
%% Bindings: IncludeOtpApps (bool), IncludeNoApp (bool), Exclude ([pid()]),
%%           MaxScan (integer), MaxCandidates (integer), ProcessIndex
%%           (pid or none; index_sample.erl).
%% Never included: ERTS system processes, the processes of kernel, stdlib,
%% sasl, compiler and logger, well-known system names, application masters
%% (group leaders) and their start_it helpers, high/max priority processes, owners of distribution
%% ports, this evaluation, and pids in Exclude (the monkey's own helpers).
Apps = [A || {A, _, _} <- application:which_applications()],
Masters = maps:from_list([{M, A} || A <- Apps, is_pid(M = application_controller:get_master(A))]),
Eligible = maps:from_list([{M, A} || {M, A} <- maps:to_list(Masters),
                                   not lists:member(A, AlwaysProtectedApps),
                                   IncludeOtpApps orelse not IsOtpApp(A)]),
DistOwners = [Owner || {_, Port} <- erlang:system_info(dist_ctrl), is_port(Port),
                       {connected, Owner} <- [erlang:port_info(Port, connected)]],
Skip = maps:from_list([{P, true} || P <- [self() | DistOwners ++ Exclude ++ maps:keys(Masters)]]),
IsSystem = fun(P) -> try erts_internal:is_system_process(P) catch _:_ -> false end end,
Mfa = fun({M, F, A}) when is_atom(M), is_atom(F), is_integer(A) ->
             iolist_to_binary(io_lib:format("~0p:~0p/~b", [M, F, A]));
         (Other) -> iolist_to_binary(io_lib:format("~0p", [Other])) end,
Describe = fun(P, App) ->
    case erlang:process_info(P, [registered_name, priority, dictionary, initial_call, trap_exit]) of
        undefined -> [];
        Info ->
            {priority, Prio} = lists:keyfind(priority, 1, Info),
            Name = case lists:keyfind(registered_name, 1, Info) of {_, []} -> null; {_, N} -> N end,
            {dictionary, Dict} = lists:keyfind(dictionary, 1, Info),
            %% Answers system messages (sys): started by proc_lib with a
            %% named entry point (a behaviour's init, a special process's
            %% start function). proc_lib:spawn of a fun leaves an
            %% anonymous fun's name ('-f/0-fun-0-'): such a process runs
            %% its own receive loop and never answers sys.
            {Init, Otp} = case lists:keyfind('$initial_call', 1, Dict) of
                              {_, {_, F, _} = IC} when is_atom(F) ->
                                  {IC, binary:first(atom_to_binary(F)) =/= $-};
                              {_, IC} -> {IC, true};
                              false -> {element(2, lists:keyfind(initial_call, 1, Info)), false}
                          end,
            case ProcessRule(Prio, Name, Init) of
                Kind when Kind =:= worker; Kind =:= supervisor ->
                    {trap_exit, Trap} = lists:keyfind(trap_exit, 1, Info),
                    [{P, App, Name, Mfa(Init), Kind, Otp, Trap, list_to_binary(erlang:pid_to_list(P))}];
                _LeftOut -> []
            end
    end
end,
%% Scale: on big nodes look at a random sample of at most MaxScan processes
%% (IndexedSample: from the run's process index when there is one); the group-leader filter runs as a
%% compiled match spec, and at most MaxCandidates are described. Every pick
%% is re-validated on the target by the operation itself.
%% Whatever owns a port (a socket) or an ETS table, or has a name, is
%% always looked at, sampled or not, and kept past MaxCandidates: the
%% network and state operations work on those, and on a big node a random
%% sample would miss them. Each candidate says whether it owns ports or
%% tables, so those operations send the node only the owners.
PortOwners = maps:from_list([{O, true} || Pt <- erlang:ports(),
                                          {connected, O} <- [erlang:port_info(Pt, connected)], is_pid(O)]),
TableOwners = maps:from_list([{O, true} || T <- ets:all(), O <- [ets:info(T, owner)], is_pid(O)]),
Named = [P || N <- erlang:registered(), P <- [erlang:whereis(N)], is_pid(P)],
IsOwner = fun(P) -> is_map_key(P, PortOwners) orelse is_map_key(P, TableOwners) end,
{_, Sample0} = IndexedSample(MaxScan),
Sample = lists:usort(Sample0 ++ maps:keys(PortOwners) ++ maps:keys(TableOwners) ++ Named),
GLs = lists:zipwith(fun erlang:process_info/2, Sample, lists:duplicate(length(Sample), group_leader)),
Pairs = lists:zip(GLs, Sample),
ByMaster = case maps:size(Eligible) of
               0 -> [];
               _ -> ets:match_spec_run(Pairs, ets:match_spec_compile(
                        [{{{group_leader, M}, '$1'}, [], [{{'$1', {const, A}}}]} || {M, A} <- maps:to_list(Eligible)]))
           end,
NoApp = case IncludeNoApp of
            false -> [];
            true -> [{P, null} || {{group_leader, G}, P} <- Pairs, not is_map_key(G, Masters)]
        end,
Chosen0 = [{P, A} || {P, A} <- ByMaster ++ NoApp, not maps:is_key(P, Skip)],
Chosen = case length(Chosen0) =< MaxCandidates of
             true -> Chosen0;
             false ->
                 {Keep, Rest} = lists:partition(fun({P, _}) -> IsOwner(P) end, Chosen0),
                 CT = list_to_tuple(Rest), N0 = tuple_size(CT),
                 Keep ++ lists:usort([element(rand:uniform(N0), CT)
                                      || N0 > 0, _ <- lists:seq(1, max(0, MaxCandidates - length(Keep)))])
         end,
lists:append([case IsSystem(P) of
                   true -> [];
                   false -> [erlang:append_element(erlang:append_element(D, is_map_key(P, PortOwners)),
                                                   is_map_key(P, TableOwners))
                             || D <- Describe(P, App)]
               end || {P, App} <- Chosen]).
