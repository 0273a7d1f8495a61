%% budget_read — the start of every snippet that reads supervisors' restart
%% budgets (evaluated on the target after safety_rules.erl; not a module):
%% who supervises a process (BgSupOf), and a supervisor's budget and what it
%% does when one child dies (BgBudget, read inside the supervisor). Used by
%% budget_gate.erl and supervision.erl. Only funs are bound here, with names
%% no operation uses.
BgInitialCall = fun(P) ->
    case erlang:process_info(P, [dictionary, initial_call]) of
        [{dictionary, D}, {initial_call, IC}] ->
            case lists:keyfind('$initial_call', 1, D) of {_, DIC} -> DIC; false -> IC end;
        _ -> undefined
    end
end,
BgShow = fun(P) ->
    case is_pid(P) andalso erlang:process_info(P, registered_name) of
        {registered_name, N} when is_atom(N) -> io_lib:format("~0p", [N]);
        _ -> io_lib:format("~0p", [P])
    end
end,
%% The supervisor that restarts P: the head of its '$ancestors' when that
%% is a supervisor and linked to it; else, for a process started without
%% proc_lib (no '$ancestors': a plain spawn_link by its supervisor's start
%% function), the first supervisor it is linked to; none otherwise.
BgSupOf = fun(P) ->
    case erlang:process_info(P, [dictionary, links]) of
        [{dictionary, D}, {links, Links}] ->
            Head = case lists:keyfind('$ancestors', 1, D) of
                       {_, [H | _]} when is_pid(H) -> H;
                       {_, [H | _]} when is_atom(H) -> erlang:whereis(H);
                       _ -> undefined
                   end,
            IsSup = fun(S) -> is_pid(S) andalso node(S) =:= node()
                                  andalso IsSupervisorInit(BgInitialCall(S)) end,
            case is_pid(Head) andalso lists:member(Head, Links) andalso IsSup(Head) of
                true -> Head;
                false when Head =:= undefined ->
                    case [L || L <- Links, IsSup(L)] of
                        [Linked | _] -> Linked;
                        [] -> none
                    end;
                false -> none
            end;
        _ -> none
    end
end,
%% The child records in a supervisor record's state: OTP's {Ids, Db} map,
%% or the list of older OTP and look-alikes.
BgRecords = fun(St) ->
    case element(4, St) of
        {_Ids, Db} when is_map(Db) -> maps:values(Db);
        L when is_list(L) -> L;
        _ -> []
    end
end,
%% One child record's {Pid, Id, Restart, Shutdown, Significant}: OTP's
%% 9-field record (with `significant'), or the 8-field one of older OTP and
%% look-alikes. Only for tuples of 8 fields or more.
BgChildFields = fun(R) when tuple_size(R) >= 9 ->
                        {element(2, R), element(3, R), element(5, R), element(7, R), element(6, R) =:= true};
                   (R) ->
                        {element(2, R), element(3, R), element(5, R), element(6, R), false}
                end,
%% What a supervisor's state says about its budget and about Child, read
%% from OTP's supervisor record (and look-alikes with its layout: intensity,
%% period and restarts at the same places) or from a map with max_restarts
%% and max_seconds (Elixir's DynamicSupervisor). unknown for other shapes.
BgRead = fun(St, Child) ->
    NowMono = erlang:monotonic_time(second),
    NowSys = erlang:system_time(second),
    Age = fun(R) when is_integer(R) -> NowMono - R;
             ({Mg, Sc, _}) -> NowSys - (Mg * 1000000 + Sc);
             (_) -> 0
          end,
    InWindow = fun(Rs, Period) -> length([R || R <- Rs, Age(R) =< Period]) end,
    case St of
        _ when is_tuple(St), tuple_size(St) >= 11, is_integer(element(6, St)),
               is_integer(element(7, St)), is_list(element(8, St)) ->
            Strategy = element(3, St),
            Dynamic = Strategy =:= simple_one_for_one,
            %% A dynamic supervisor's one record is its children's template.
            {ChildRestart, ChildSignificant} =
                case [{CRs, CSg} || CR <- BgRecords(St), is_tuple(CR), tuple_size(CR) >= 8,
                                    {CPid, _, CRs, _, CSg} <- [BgChildFields(CR)],
                                    Dynamic orelse CPid =:= Child] of
                    [CFound | _] -> CFound;
                    [] -> {unknown, false}
                end,
            AutoShutdown = case tuple_size(St) >= 12 of
                               true -> case element(10, St) of
                                           A when is_atom(A) -> A;
                                           _ -> never
                                       end;
                               false -> never
                           end,
            #{strategy => Strategy, intensity => element(6, St), period => element(7, St),
              in_window => InWindow(element(8, St), element(7, St)),
              restart => ChildRestart, significant => ChildSignificant,
              auto_shutdown => AutoShutdown, dynamic => Dynamic};
        #{max_restarts := I, max_seconds := P} when is_integer(I), is_integer(P) ->
            Children = maps:get(children, St, #{}),
            Restart = case is_map(Children) andalso maps:find(Child, Children) of
                          {ok, Spec} when is_tuple(Spec), tuple_size(Spec) >= 2 -> element(2, Spec);
                          _ -> unknown
                      end,
            Restarts = case maps:get(restarts, St, []) of RL when is_list(RL) -> RL; _ -> [] end,
            #{strategy => maps:get(strategy, St, one_for_one), intensity => I, period => P,
              in_window => InWindow(Restarts, P), restart => Restart, significant => false,
              auto_shutdown => never, dynamic => true};
        _ -> unknown
    end
end,
%% Read inside the supervisor: sys:replace_state with a fun that throws what
%% it read, so the state stays as it was and only a few numbers are copied,
%% however many children it has. Falls back to sys:get_state.
BgBudget = fun(S, Child) ->
    Inside = try sys:replace_state(S, fun(St) -> throw({chaos_budget, BgRead(St, Child)}) end, 1000) of
                 _ -> failed
             catch
                 error:{callback_failed, _, {throw, {chaos_budget, Got}}} -> {ok, Got};
                 _:_ -> failed
             end,
    case Inside of
        {ok, B} -> B;
        failed -> try BgRead(sys:get_state(S, 1000), Child) catch _:_ -> unknown end
    end
end,
