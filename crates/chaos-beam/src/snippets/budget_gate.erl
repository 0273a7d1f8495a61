%% budget_gate — the start of every snippet that may end a process (evaluated
%% on the target after safety_rules.erl; not a module). Before a kill it works
%% out, from the supervisors' own live state, what the kill costs the
%% supervision tree: which processes die with the victim (it, and the
%% processes linked to one of them that do not trap exits: the signal travels
%% the links), which supervisor restarts each of them, and whether that
%% restart fits in the supervisor's restart budget (OTP gives up on the
%% restart that makes more than `intensity' restarts within `period' seconds).
%% Bindings: BudgetMargin (restarts every budget must keep after the kill: 1
%% by default, 0 with --edge), AllowCollapse (true: a kill that exhausts a
%% budget goes ahead, and its prediction is checked).
%% Only funs are bound here, with names no operation uses.
%%
%% GatedKill(Victim, Signal, Act): Act() when the kill fits; otherwise
%% {guarded, Why} (the caller tries another victim), or, with AllowCollapse,
%% Act() with the prediction and its outcome added to the measurements.
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
%% is a supervisor and linked to it; none otherwise.
BgSupOf = fun(P) ->
    case erlang:process_info(P, [dictionary, links]) of
        [{dictionary, D}, {links, Links}] ->
            Head = case lists:keyfind('$ancestors', 1, D) of
                       {_, [H | _]} when is_pid(H) -> H;
                       {_, [H | _]} when is_atom(H) -> erlang:whereis(H);
                       _ -> undefined
                   end,
            case is_pid(Head) andalso lists:member(Head, Links)
                 andalso IsSupervisorInit(BgInitialCall(Head)) of
                true -> Head;
                false -> none
            end;
        _ -> none
    end
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
    RestartOf = fun(Rec) when is_tuple(Rec), tuple_size(Rec) >= 8 -> element(5, Rec);
                   (_) -> unknown end,
    SignificantOf = fun(Rec) when is_tuple(Rec), tuple_size(Rec) >= 9 -> element(6, Rec) =:= true;
                       (_) -> false end,
    case St of
        _ when is_tuple(St), tuple_size(St) >= 11, is_integer(element(6, St)),
               is_integer(element(7, St)), is_list(element(8, St)) ->
            Strategy = element(3, St),
            Records = case element(4, St) of
                          {_Ids, Db} when is_map(Db) -> maps:values(Db);
                          L when is_list(L) -> L;
                          _ -> []
                      end,
            Dynamic = Strategy =:= simple_one_for_one,
            Rec = case Dynamic of
                      true -> case Records of [R1 | _] -> R1; [] -> none end;
                      false -> case [R || R <- Records, is_tuple(R), tuple_size(R) >= 8,
                                          element(2, R) =:= Child] of
                                   [R2 | _] -> R2;
                                   [] -> none
                               end
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
              restart => RestartOf(Rec), significant => SignificantOf(Rec),
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
%% The processes that die with Victim (at most 64 followed).
BgDying = fun(Victim, Signal) ->
    Trapping = fun(P) -> erlang:process_info(P, trap_exit) =/= {trap_exit, false} end,
    Walk = fun W([], Seen) -> Seen;
               W([P | Rest], Seen) ->
                   case maps:is_key(P, Seen) orelse map_size(Seen) >= 64 of
                       true -> W(Rest, Seen);
                       false ->
                           Next = case erlang:process_info(P, links) of
                                      {links, Ls} -> [L || L <- Ls, is_pid(L), node(L) =:= node(),
                                                           not Trapping(L)];
                                      _ -> []
                                  end,
                           W(Next ++ Rest, Seen#{P => true})
                   end
           end,
    case Signal =/= kill andalso Trapping(Victim) of
        true -> [];
        false -> maps:keys(Walk([Victim], #{}))
    end
end,
BgBudgetText = fun(S, #{strategy := St, intensity := I, period := P, in_window := N}) ->
                       io_lib:format("~s (~0p, ~b restarts in ~b s, ~b used)", [BgShow(S), St, I, P, N]);
                  (S, unknown) -> io_lib:format("~s (budget unreadable)", [BgShow(S)])
               end,
%% Who restarts a supervisor that gives up, up to the application: the
%% escalation chain as text, the application and whether the node halts.
BgEscalate = fun Esc(S, Chain) ->
    case BgSupOf(S) of
        none ->
            App = case application:get_application(S) of {ok, A} -> A; undefined -> none end,
            Started = try proplists:get_value(started, application_controller:info(), [])
                      catch _:_ -> [] end,
            Type = proplists:get_value(App, Started, temporary),
            Halts = Type =/= temporary,
            Tail = case App of
                       none -> "it has no supervisor above it";
                       _ when Halts -> io_lib:format("application ~0p stops, and the node halts (~0p application)", [App, Type]);
                       _ -> io_lib:format("application ~0p stops", [App])
                   end,
            {lists:reverse([Tail | Chain]), App, Halts};
        Parent ->
            case BgBudget(Parent, S) of
                #{restart := R, intensity := I, in_window := N} = B
                  when (R =:= permanent orelse R =:= transient), N + 1 > I ->
                    Esc(Parent, [["then ", BgBudgetText(Parent, B), " gives up"] | Chain]);
                unknown ->
                    Esc(Parent, [["then maybe ", BgBudgetText(Parent, unknown), " gives up"] | Chain]);
                B ->
                    {lists:reverse([["then ", BgBudgetText(Parent, B), " restarts it"] | Chain]), none, false}
            end
    end
end,
%% ok | {guarded, Why} | {collapse, Prediction, App, Halts}
BudgetGate = fun(Victim, _Signal) when not is_pid(Victim) -> ok;
                (Victim, Signal) ->
    Dying = BgDying(Victim, Signal),
    IsDying = fun(P) -> lists:member(P, Dying) end,
    Charged = [{S, D} || D <- Dying, S <- [BgSupOf(D)], S =/= none, not IsDying(S)],
    %% process_info(P, registered_name) is [] when P has no name.
    Lost = [D || D <- Dying, BgSupOf(D) =:= none,
                 is_tuple(erlang:process_info(D, registered_name))],
    Sups = lists:usort([S || {S, _} <- Charged]),
    Verdicts = [begin
        Kids = [D || {S1, D} <- Charged, S1 =:= S],
        Bs = [BgBudget(S, D) || D <- Kids],
        case lists:member(unknown, Bs) of
            true -> {unreadable, S, unknown};
            false ->
                [#{intensity := I, in_window := N} = B0 | _] = Bs,
                Costs = [case B of
                             #{significant := true, auto_shutdown := AS} when AS =/= never -> stops;
                             #{restart := R} when R =:= permanent; R =:= transient; R =:= unknown -> 1;
                             #{restart := temporary, dynamic := false} -> lost;
                             _ -> 0
                         end || B <- Bs],
                Used = length([C || C <- Costs, C =:= 1]),
                case {lists:member(stops, Costs), lists:member(lost, Costs)} of
                    {true, _} -> {exhausts, S, B0};
                    {_, true} -> {temporary, S, B0};
                    _ when N + Used > I -> {exhausts, S, B0};
                    _ when Used > 0, I - N - Used < BudgetMargin -> {last, S, B0#{in_window => N}};
                    _ -> {fits, S, B0}
                end
        end
    end || S <- Sups],
    Worst = [V || V <- Verdicts, element(1, V) =/= fits],
    Name = BgShow(Victim),
    case {Lost, Worst} of
        {[], []} -> ok;
        {[L | _], _} when not AllowCollapse ->
            {guarded, iolist_to_binary(io_lib:format(
                "single point of failure: ~s has no supervisor; its death is permanent", [BgShow(L)]))};
        {_, [{temporary, S, _} | _]} when not AllowCollapse ->
            {guarded, iolist_to_binary(io_lib:format(
                "single point of failure: ~s is a temporary child of ~s; nobody restarts it",
                [Name, BgShow(S)]))};
        {_, [{last, S, B} | _]} when not AllowCollapse ->
            {guarded, iolist_to_binary(io_lib:format(
                "restart budget: a kill would spend the last restart of ~s", [BgBudgetText(S, B)]))};
        {_, [{unreadable, S, _} | _]} when not AllowCollapse ->
            {guarded, iolist_to_binary(io_lib:format(
                "restart budget: the budget of ~s cannot be read (treated as spent)", [BgShow(S)]))};
        {_, [{exhausts, S, B} | _]} when not AllowCollapse ->
            {guarded, iolist_to_binary(io_lib:format(
                "restart budget: a kill would exhaust ~s", [BgBudgetText(S, B)]))};
        {_, [{exhausts, S, B} | _]} ->
            {Chain, App, Halts} = BgEscalate(S, []),
            {collapse, iolist_to_binary(io_lib:format("killing ~s: ~s gives up; ~s",
                                                      [Name, BgBudgetText(S, B), lists:join("; ", Chain)])),
             App, Halts};
        {_, [{_, S, _} | _]} ->
            {collapse, iolist_to_binary(io_lib:format("killing ~s: ~s loses it for good", [Name, BgShow(S)])),
             none, false};
        {[L | _], []} ->
            {collapse, iolist_to_binary(io_lib:format("killing ~s: ~s is gone for good", [Name, BgShow(L)])),
             none, false}
    end
end,
%% Did the predicted stop come true within 5 s? #{predicted, application, came_true, after_ms}
%% (came_true null when nothing checkable was predicted: no application stops).
BgCheck = fun(Text, none, _T0) ->
                  #{predicted => Text, application => null, came_true => null, after_ms => null};
             (Text, App, T0) ->
    Deadline = T0 + 5000,
    Poll = fun Loop() ->
        case lists:keymember(App, 1, application:which_applications(1000)) of
            false -> {true, erlang:monotonic_time(millisecond) - T0};
            true ->
                case erlang:monotonic_time(millisecond) >= Deadline of
                    true -> {false, null};
                    false -> receive after 10 -> Loop() end
                end
        end
    end,
    {Came, After} = Poll(),
    #{predicted => Text, application => App, came_true => Came, after_ms => After}
end,
GatedKill = fun(Victim, Signal, Act) ->
    case BudgetGate(Victim, Signal) of
        ok -> Act();
        {guarded, Why} -> {guarded, Why};
        {collapse, Text, App, _Halts} ->
            T0 = erlang:monotonic_time(millisecond),
            Result = Act(),
            Prediction = BgCheck(Text, App, T0),
            case Result of
                {confirmed, Detail, M} when is_map(M) -> {confirmed, Detail, M#{prediction => Prediction}};
                {confirmed, Detail} -> {confirmed, Detail, #{prediction => Prediction}};
                Other -> Other
            end
    end
end,
