%% reach — how many processes the safety rules let chaos touch, per
%% application, and how many each rule leaves out (evaluated on the target;
%% not a module; follows safety_rules). The same rules as `candidates`.
%% Bindings: IncludeOtpApps (bool), IncludeNoApp (bool), Exclude ([pid()]),
%%           MaxScan (integer).
%% Answers #{total, scanned, eligible => [[App, N]], excluded => [[Rule, N]]};
%% on a node with more than MaxScan processes the counts are of a random
%% sample of MaxScan of them.
Apps = [A || {A, _, _} <- application:which_applications()],
Masters = maps:from_list([{M, A} || A <- Apps, is_pid(M = application_controller:get_master(A))]),
DistOwners = [Owner || {_, Port} <- erlang:system_info(dist_ctrl), is_port(Port),
                       {connected, Owner} <- [erlang:port_info(Port, connected)]],
Own = maps:from_list([{P, true} || P <- [self() | DistOwners ++ Exclude]]),
{Total, Scanned} = ProcessSample(MaxScan),
Rule = fun(P) ->
    Info = erlang:process_info(P, [group_leader, registered_name, priority, dictionary, initial_call]),
    IsSystem = try erts_internal:is_system_process(P) catch _:_ -> false end,
    case Info of
        undefined -> gone;
        _ when IsSystem -> <<"ERTS system processes">>;
        _ ->
            [{group_leader, G}, {registered_name, N}, {priority, Prio}, {dictionary, D}, {initial_call, IC0}] = Info,
            App = maps:get(G, Masters, none),
            Init = case lists:keyfind('$initial_call', 1, D) of {_, IC} -> IC; false -> IC0 end,
            if
                is_map_key(P, Masters) -> <<"application masters">>;
                is_map_key(P, Own) -> <<"distribution and the monkey's own processes">>;
                App =:= none, not IncludeNoApp -> <<"processes of no application (--include-no-app)">>;
                App =/= none ->
                    case lists:member(App, AlwaysProtectedApps) of
                        true -> <<"processes of kernel, stdlib, sasl, compiler and logger">>;
                        false ->
                            case IsOtpApp(App) andalso not IncludeOtpApps of
                                true -> <<"processes of Erlang/OTP's and Elixir's own applications (--include-otp-apps)">>;
                                false -> {App, Prio, N, Init}
                            end
                    end;
                true -> {none, Prio, N, Init}
            end
    end
end,
Classify = fun(P) ->
    case Rule(P) of
        {App, Prio, N, Init} ->
            case ProcessRule(Prio, N, Init) of
                worker -> {eligible, App};
                supervisor -> <<"supervisors (only kill_supervisor, when allowed)">>;
                Why -> Why
            end;
        Other -> Other
    end
end,
Count = fun(Key, Acc) -> maps:update_with(Key, fun(X) -> X + 1 end, 1, Acc) end,
{Eligible, Excluded} =
    lists:foldl(fun(P, {E, X}) ->
                        case Classify(P) of
                            gone -> {E, X};
                            {eligible, App} -> {Count(App, E), X};
                            Why -> {E, Count(Why, X)}
                        end
                end, {#{}, #{}}, Scanned),
Name = fun(none) -> <<"(no application)">>; (A) -> atom_to_binary(A, utf8) end,
#{total => Total,
  scanned => length(Scanned),
  eligible => [[Name(A), N] || {A, N} <- maps:to_list(Eligible)],
  excluded => [[W, N] || {W, N} <- maps:to_list(Excluded)]}.
