%% candidates — evaluated on the target by erl_eval; not a module.
%% Lists the processes chaos may touch, with what the safety rules need.
%% Bindings: IncludeOtpApps (bool), IncludeNoApp (bool), Exclude ([pid()]).
%% Never included: ERTS system processes, the processes of kernel, stdlib,
%% sasl, compiler and logger, well-known system names, application masters
%% (group leaders) and their start_it helpers, high/max priority processes, owners of distribution
%% ports, this evaluation, and pids in Exclude (the monkey's own helpers).
Root = code:root_dir(),
IsOtpApp = fun(A) ->
    case code:lib_dir(A) of
        Dir when is_list(Dir) -> lists:prefix(Root, Dir);
        _ -> false
    end
end,
AlwaysProtectedApps = [kernel, stdlib, sasl, compiler, logger],
SystemNames = [init, code_server, application_controller, rex, net_kernel, global_name_server,
               erl_prim_loader, user, user_drv, standard_error, logger, erl_signal_server,
               kernel_sup, global_group, inet_db, file_server_2, auth, erl_epmd,
               erts_code_purger, socket_registry, kernel_refc, kernel_config, timer_server],
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
            case Prio =:= high orelse Prio =:= max orelse lists:member(Name, SystemNames) of
                true -> [];
                false ->
                    {dictionary, Dict} = lists:keyfind(dictionary, 1, Info),
                    {Init, Otp} = case lists:keyfind('$initial_call', 1, Dict) of
                                      {_, IC} -> {IC, true};
                                      false -> {element(2, lists:keyfind(initial_call, 1, Info)), false}
                                  end,
                    Kind = case Init of
                               {erpc, execute_call, _} -> rpc;
                               {application_master, _, _} -> rpc;  %% the master's own helper process
                               {supervisor, _, _} -> supervisor;
                               {supervisor_bridge, _, _} -> supervisor;
                               _ -> worker
                           end,
                    {trap_exit, Trap} = lists:keyfind(trap_exit, 1, Info),
                    case Kind of
                        rpc -> [];  %% remote calls (ours included) and application masters' helpers
                        _ -> [{P, App, Name, Mfa(Init), Kind, Otp, Trap, list_to_binary(erlang:pid_to_list(P))}]
                    end
            end
    end
end,
lists:append(
  [case maps:is_key(P, Skip) orelse IsSystem(P) of
       true -> [];
       false ->
           case erlang:process_info(P, group_leader) of
               {group_leader, GL} ->
                   case maps:find(GL, Eligible) of
                       {ok, App} -> Describe(P, App);
                       error when IncludeNoApp, not is_map_key(GL, Masters) -> Describe(P, null);
                       error -> []
                   end;
               undefined -> []
           end
   end || P <- erlang:processes()]).
