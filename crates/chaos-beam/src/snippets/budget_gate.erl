%% budget_gate — the start of every snippet that may end a process (evaluated
%% on the target after safety_rules.erl and budget_read.erl; not a module). Before a kill it works
%% out, from the supervisors' own live state, what the kill costs the
%% supervision tree: which processes die with the victim (it, and the
%% processes linked to one of them that do not trap exits: the signal travels
%% the links), which supervisor restarts each of them, and whether that
%% restart fits in the supervisor's restart budget (OTP gives up on the
%% restart that makes more than `intensity' restarts within `period' seconds).
%% Bindings: BudgetMargin (restarts every budget must keep after the kill: 1
%% by default, 0 with --edge), AllowCollapse (true: a kill that exhausts a
%% budget goes ahead, and its prediction is checked), Causes (the run's
%% report collector, causes.erl, or none: supervisors that reported a
%% failed restart within their period are charged no kill).
%% Only funs are bound here, with names no operation uses.
%%
%% GatedKill(Victim, Signal, Act): Act() when the kill fits; otherwise
%% {guarded, Why} (the caller tries another victim), or, with AllowCollapse,
%% Act() with the prediction and its outcome added to the measurements.
%% The processes that die with Victim (at most 64 followed): those linked
%% to a dying one that do not trap exits, and a dying one's parent (the
%% head of its '$ancestors') when the two are linked and the parent is no
%% supervisor — it traps exits, but whether it survives its helper's
%% 'EXIT' is its own code's business, so it is counted as dying.
BgDying = fun(Victim, Signal) ->
    Trapping = fun(P) -> erlang:process_info(P, trap_exit) =/= {trap_exit, false} end,
    LinkedParent = fun(P, Ls) ->
        case erlang:process_info(P, dictionary) of
            {dictionary, D} ->
                case lists:keyfind('$ancestors', 1, D) of
                    {_, [H0 | _]} ->
                        H = case is_atom(H0) of true -> erlang:whereis(H0); false -> H0 end,
                        case is_pid(H) andalso lists:member(H, Ls)
                             andalso not IsSupervisorInit(BgInitialCall(H)) of
                            true -> [H];
                            false -> []
                        end;
                    _ -> []
                end;
            _ -> []
        end
    end,
    Walk = fun W([], Seen) -> Seen;
               W([P | Rest], Seen) ->
                   case maps:is_key(P, Seen) orelse map_size(Seen) >= 64 of
                       true -> W(Rest, Seen);
                       false ->
                           Next = case erlang:process_info(P, links) of
                                      {links, Ls} -> [L || L <- Ls, is_pid(L), node(L) =:= node(),
                                                           not Trapping(L)]
                                                     ++ LinkedParent(P, Ls);
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
%% Supervisors whose restarts failed lately: [{SupText, AgeMs, Reason}].
BgFragile = fun() when is_pid(Causes) ->
                    Ref = erlang:make_ref(),
                    Causes ! {fragile, self(), Ref},
                    receive {Ref, L} -> L after 500 -> [] end;
               () -> []
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
            %% A supervisor that gives up exits with `shutdown': only a
            %% permanent one is restarted (a transient or temporary one is
            %% lost with its subtree, and its parent is charged nothing).
            case BgBudget(Parent, S) of
                #{restart := permanent, intensity := I, in_window := N} = B when N + 1 > I ->
                    Esc(Parent, [["then ", BgBudgetText(Parent, B), " gives up"] | Chain]);
                #{restart := R} when R =:= transient; R =:= temporary ->
                    {lists:reverse([io_lib:format("~s is not restarted (~0p): its subtree is lost",
                                                  [BgShow(S), R]) | Chain]), none, false};
                unknown ->
                    Esc(Parent, [["then maybe ", BgBudgetText(Parent, unknown), " gives up"] | Chain]);
                B ->
                    {lists:reverse([["then ", BgBudgetText(Parent, B), " restarts it"] | Chain]), none, false}
            end
    end
end,
%% How "nobody brings P back" is checked: its registered name, taken again
%% by nobody; a process with no name leaves nothing to watch.
BgNameCheck = fun(P) ->
    case erlang:process_info(P, registered_name) of
        {registered_name, N} -> {name, N};
        _ -> {unchecked, <<"it has no registered name to watch">>}
    end
end,
%% {ok, Charges} | {guarded, Why} | {collapse, Prediction, App, Halts, Check}
BudgetGate = fun(Victim, _Signal) when not is_pid(Victim) -> {ok, []};
                (Victim, Signal) ->
    Dying = BgDying(Victim, Signal),
    IsDying = fun(P) -> lists:member(P, Dying) end,
    Charged = [{S, D} || D <- Dying, S <- [BgSupOf(D)], S =/= none, not IsDying(S)],
    %% process_info(P, registered_name) is [] when P has no name.
    Lost = [D || D <- Dying, BgSupOf(D) =:= none,
                 is_tuple(erlang:process_info(D, registered_name))],
    Sups = lists:usort([S || {S, _} <- Charged]),
    %% Shared state that dies with them: ETS tables other processes can
    %% read (public or protected) with no heir to take them over.
    Dies = maps:from_list([{D, true} || D <- Dying]),
    Tables = case Dying of
                 [] -> [];
                 _ -> [T || T <- ets:all(), is_map_key(ets:info(T, owner), Dies),
                            ets:info(T, protection) =/= private, ets:info(T, heir) =:= none]
             end,
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
                    _ -> {fits, S, B0#{in_window => N + Used}}
                end
        end
    end || S <- Sups],
    %% A failed restart within a supervisor's period: its budget burns
    %% faster than it counts (each failed attempt is a restart).
    Fragile = case Sups of [] -> []; _ -> BgFragile() end,
    Failed = [{S, Age, Why} || {fits, S, #{period := P}} <- Verdicts,
                               {Key, Age, Why} <- Fragile,
                               Key =:= iolist_to_binary(BgShow(S)), Age =< P * 1000],
    Worst = [V || V <- Verdicts, element(1, V) =/= fits],
    Exhausts = [V || {exhausts, _, _} = V <- Worst],
    Temporary = [V || {temporary, _, _} = V <- Worst],
    Unreadable = [V || {unreadable, _, _} = V <- Worst],
    %% What the kill spends, per supervisor charged: the report's peak use.
    Charges = [#{supervisor => iolist_to_binary(BgShow(S)), intensity => I, period_s => P, used => U}
               || {fits, S, #{intensity := I, period := P, in_window := U}} <- Verdicts],
    Name = BgShow(Victim),
    %% State a restart does not bring back: an event manager's handlers
    %% (others add them after its start; a restarted manager has none).
    Volatile = [io_lib:format("~s loses its ~b event handler(s)", [BgShow(D), length(Hs)])
                || D <- Dying, {gen_event, _, _} <- [BgInitialCall(D)],
                   Hs <- [catch gen_event:which_handlers(D)], is_list(Hs), Hs =/= []],
    case {Lost, Worst} of
        _ when Volatile =/= [], not AllowCollapse ->
            {guarded, iolist_to_binary(io_lib:format(
                "shared state: a restart does not bring it back: ~s", [hd(Volatile)]))};
        {_, []} when Failed =/= [], not AllowCollapse ->
            [{FS, FAge, FWhy} | _] = Failed,
            {guarded, iolist_to_binary(io_lib:format(
                "restart budget: a restart under ~s failed ~.1f s ago (~s); no kill is charged to it within its period",
                [BgShow(FS), FAge / 1000, FWhy]))};
        _ when Tables =/= [], not AllowCollapse ->
            {guarded, iolist_to_binary(io_lib:format(
                "shared state: killing ~s destroys ~b ETS table(s) other processes can read, such as ~0p (no heir)",
                [Name, length(Tables), hd(Tables)]))};
        {[], []} -> {ok, Charges};
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
        %% Past the budgets: what is predicted, and how it is checked
        %% (BgCheck): an application's stop, a supervisor's giving up, or
        %% a registered name that nobody takes again.
        _ when Exhausts =/= [] ->
            [{exhausts, S, B} | _] = Exhausts,
            {Chain, App, Halts} = BgEscalate(S, []),
            {collapse, iolist_to_binary(io_lib:format("killing ~s: ~s gives up; ~s",
                                                      [Name, BgBudgetText(S, B), lists:join("; ", Chain)])),
             App, Halts, case App of none -> {gives_up, S}; _ -> {app, App} end};
        _ when Temporary =/= [] ->
            [{temporary, S, _} | _] = Temporary,
            {collapse, iolist_to_binary(io_lib:format("killing ~s: ~s loses it for good", [Name, BgShow(S)])),
             none, false, BgNameCheck(Victim)};
        {[L | _], _} ->
            {collapse, iolist_to_binary(io_lib:format("killing ~s: ~s is gone for good", [Name, BgShow(L)])),
             none, false, BgNameCheck(L)};
        _ when Unreadable =/= [] ->
            [{unreadable, S, _} | _] = Unreadable,
            {collapse, iolist_to_binary(io_lib:format("killing ~s: ~s may give up (its budget cannot be read)",
                                                      [Name, BgShow(S)])),
             none, false, {gives_up, S}};
        %% Only last restarts spent: the kill fits, at the edge.
        _ -> {ok, Charges}
    end
end,
%% Did the prediction come true within 10 s (inside the snippet limit of
%% 15 s)? #{predicted, application, came_true, after_ms, unchecked}; Check
%% is what BudgetGate said to watch: {app, App} (its application master
%% exits: read from the controller's table, never by a call — the
%% controller is busy while an application stops, and busier while the
%% node halts), {gives_up, S} (the supervisor exits), {name, N} (no
%% process but its holder before the kill registers it: true after 10 s),
%% or {unchecked, Why} (came_true null, and why).
BgCheck = fun(Text, _App, {unchecked, Why}, _T0) ->
                  #{predicted => Text, application => null, came_true => null, after_ms => null,
                    unchecked => Why};
             (Text, App, Check, T0) ->
    Deadline = T0 + 10000,
    Watched = case Check of
                  {gives_up, S0} when is_atom(S0) -> erlang:whereis(S0);
                  {gives_up, S0} -> S0;
                  {app, A0} -> application_controller:get_master(A0);
                  {name, N0} -> erlang:whereis(N0);   %% its holder before the kill
                  _ -> none
              end,
    Mon = case Check of
              {name, _} -> none;
              _ when is_pid(Watched) -> erlang:monitor(process, Watched);
              _ -> none
          end,
    %% {true | false, AfterMs} once decided, else undecided.
    Seen = fun() ->
        Now = erlang:monotonic_time(millisecond) - T0,
        case Check of
            {name, N} ->
                case erlang:whereis(N) of
                    undefined -> undecided;
                    Watched -> undecided;        %% not yet gone
                    _ -> {false, null}           %% someone took it again
                end;
            %% Nothing to watch any more (no master, no supervisor): gone already.
            _ when Mon =:= none -> {true, Now};
            _ ->
                receive {'DOWN', Mon, process, _, _} -> {true, Now} after 0 -> undecided end
        end
    end,
    Poll = fun Loop() ->
        case Seen() of
            undecided ->
                case erlang:monotonic_time(millisecond) >= Deadline of
                    %% Nobody took the name within the window: gone for good.
                    true when element(1, Check) =:= name -> {true, null};
                    true -> {false, null};
                    false -> receive after 10 -> Loop() end
                end;
            Decided -> Decided
        end
    end,
    {Came, After} = Poll(),
    _ = is_reference(Mon) andalso erlang:demonitor(Mon, [flush]),
    #{predicted => Text, application => case App of none -> null; _ -> App end,
      came_true => Came, after_ms => After}
end,
%% The check runs beside the kill, from just before it (so how fast it
%% came true is measured, not the kill's own wait for a restart): a watcher
%% that answers when asked, after the kill. An answer that does not come is
%% a prediction NOT checked.
BgWatch = fun(Text, App, Check, T0) ->
    Asker = self(),
    {W, WMon} = erlang:spawn_monitor(fun() ->
        Result = BgCheck(Text, App, Check, T0),
        AskerMon = erlang:monitor(process, Asker),
        receive
            {bg_collect, Asker, Tag} -> Asker ! {Tag, Result};
            {'DOWN', AskerMon, process, _, _} -> ok
        after 30000 -> ok
        end
    end),
    fun() ->
        Tag = erlang:make_ref(),
        W ! {bg_collect, Asker, Tag},
        Wait = max(500, T0 + 10500 - erlang:monotonic_time(millisecond)),
        Got = receive
                  {Tag, R} -> R;
                  {'DOWN', WMon, process, _, Why} ->
                      #{predicted => Text, application => null, came_true => null, after_ms => null,
                        unchecked => iolist_to_binary(io_lib:format("the check failed: ~0p", [Why]))}
              after Wait ->
                  exit(W, kill),
                  #{predicted => Text, application => null, came_true => null, after_ms => null,
                    unchecked => <<"the check did not answer in time">>}
              end,
        erlang:demonitor(WMon, [flush]),
        Got
    end
end,
GatedKill = fun(Victim, Signal, Act) ->
    case BudgetGate(Victim, Signal) of
        {ok, []} -> Act();
        {ok, Charges} ->
            case Act() of
                {confirmed, Detail, M} when is_map(M) -> {confirmed, Detail, M#{charged => Charges}};
                {confirmed, Detail} -> {confirmed, Detail, #{charged => Charges}};
                Other -> Other
            end;
        {guarded, Why} -> {guarded, Why};
        {collapse, Text, App, _Halts, Check} ->
            Collect = BgWatch(Text, App, Check, erlang:monotonic_time(millisecond)),
            Result = Act(),
            Prediction = Collect(),
            case Result of
                {confirmed, Detail, M} when is_map(M) -> {confirmed, Detail, M#{prediction => Prediction}};
                {confirmed, Detail} -> {confirmed, Detail, #{prediction => Prediction}};
                Other -> Other
            end
    end
end,
