%% supervision — the live supervision model (evaluated on the target after
%% safety_rules.erl, budget_read.erl and sup_read.erl, whose SrText,
%% SrPidText and SrWithin it uses: CallMs is every call's deadline; not a
%% module). Binds SvApps(ChildLimit,
%% CallMs): for every running application its start type (a permanent or
%% transient application that stops halts the node), its supervision tree —
%% each supervisor with its restart budget (strategy, intensity, period,
%% restarts in the current window, auto_shutdown) read inside the supervisor,
%% each child with its id, pid, type, restart type, shutdown and
%% significant flag — and the registered processes of the application that
%% no supervisor restarts. Supervisors are recognised by what they are
%% (IsSupervisorInit), never by a product's module names.
SvName = fun(P) when is_pid(P) ->
                 case erlang:process_info(P, registered_name) of
                     {registered_name, N} -> N;
                     _ -> null
                 end;
            (_) -> null
         end,
%% What the supervisor's state says about its children, read inside it (like
%% BgBudget): restart type, shutdown and significant flag by child id for
%% static children, the template's for dynamic ones (at most Limit read).
SvSpecs = fun(St, Limit) ->
    case St of
        _ when is_tuple(St), tuple_size(St) >= 11, is_integer(element(6, St)) ->
            Recs = [BgChildFields(R) || R <- lists:sublist(BgRecords(St), Limit),
                                        is_tuple(R), tuple_size(R) >= 8],
            Mapped = [{Id, #{restart => SrText(Rs), shutdown => SrText(Sh), significant => Sg}}
                      || {_, Id, Rs, Sh, Sg} <- Recs],
            case element(3, St) of
                simple_one_for_one -> [{dynamic, M} || {_, M} <- Mapped];
                _ -> Mapped
            end;
        #{children := Kids} when is_map(Kids) ->
            case [V || {_, V} <- lists:sublist(maps:to_list(Kids), 1)] of
                [Spec | _] when is_tuple(Spec), tuple_size(Spec) >= 3 ->
                    [{dynamic, #{restart => SrText(element(2, Spec)), shutdown => SrText(element(3, Spec)),
                                 significant => false}}];
                _ -> []
            end;
        _ -> []
    end
end,
SvInside = fun(S, Limit, Ms) ->
    Read = fun(St) -> {BgRead(St, none), SvSpecs(St, Limit)} end,
    Inside = try sys:replace_state(S, fun(St) -> throw({chaos_budget, Read(St)}) end, Ms) of
                 _ -> failed
             catch
                 error:{callback_failed, _, {throw, {chaos_budget, Got}}} -> {ok, Got};
                 exit:{timeout, _} -> timeout;
                 _:_ -> failed
             end,
    case Inside of
        {ok, R} -> R;
        timeout -> {unknown, []};
        failed -> try Read(sys:get_state(S, Ms)) catch _:_ -> {unknown, []} end
    end
end,
SvCall = fun(Sup, Req, Ms) ->
    case SrWithin(fun() -> gen:call(Sup, '$gen_call', Req, infinity) end) of
        {ok, {ok, Reply}} -> {ok, Reply};
        timeout -> timeout;
        _ -> error
    end
end,
SvTree = fun Tree(Sup, Id, Depth, Limit, Ms) ->
    Answer = SvCall(Sup, count_children, Ms),
    Counts = case Answer of {ok, CL} when is_list(CL) -> maps:from_list(CL); _ -> null end,
    {Budget, Specs} = case Answer of timeout -> {unknown, []}; _ -> SvInside(Sup, Limit, Ms) end,
    Module = case BgInitialCall(Sup) of {M, _, _} -> M; _ -> null end,
    BudgetOut = case Budget of
                    #{strategy := Strat, intensity := I, period := P, in_window := N, auto_shutdown := AS} ->
                        #{strategy => Strat, intensity => I, period_s => P, restarts_in_window => N,
                          auto_shutdown => AS};
                    _ -> null
                end,
    Dynamic = case Budget of #{dynamic := Dyn} -> Dyn; _ -> false end,
    Template = proplists:get_value(dynamic, Specs, null),
    Base = #{id => SrText(Id), pid => SrPidText(Sup), registered_name => SvName(Sup), kind => supervisor,
             module => Module, counts => Counts, budget => BudgetOut, dynamic => Dynamic,
             spec => null},
    Child = fun(CId, Pid, Type, Mods, Spec) ->
        #{id => SrText(CId), pid => SrPidText(Pid), registered_name => SvName(Pid), kind => Type,
          modules => SrText(Mods), spec => Spec}
    end,
    case Counts of
        null -> Base#{children => [], truncated => false, responsive => Answer =/= timeout};
        #{active := Active} when Active > Limit ->
            Base#{children => [], truncated => true, responsive => true, template => Template};
        _ ->
            case SvCall(Sup, which_children, Ms) of
                {ok, Children} when is_list(Children) ->
                    Kids = [begin
                                Spec = case Dynamic of
                                           true -> Template;
                                           false -> proplists:get_value(CId, Specs, null)
                                       end,
                                case Pid of
                                    _ when Type =:= supervisor, is_pid(Pid), Depth < 12 ->
                                        (Tree(Pid, CId, Depth + 1, Limit, Ms))#{spec => Spec};
                                    _ -> Child(CId, Pid, Type, Mods, Spec)
                                end
                            end || {CId, Pid, Type, Mods} <- Children],
                    Base#{children => Kids, truncated => false, responsive => true, template => Template};
                _ -> Base#{children => [], truncated => false, responsive => false}
            end
    end
end,
SvApps = fun(Limit, Ms) ->
    Started = try proplists:get_value(started, application_controller:info(), [])
              catch _:_ -> [] end,
    Running = application:which_applications(),
    Tops = [{A, case application_controller:get_master(A) of
                    Master when is_pid(Master) ->
                        case SrWithin(fun() -> application_master:get_child(Master) end) of
                            {ok, {TopSup, _Mod}} when is_pid(TopSup) -> {Master, TopSup};
                            _ -> {Master, null}
                        end;
                    _ -> {null, null}
                end} || {A, _, _} <- Running],
    MasterOf = maps:from_list([{M, A} || {A, {M, _}} <- Tops, is_pid(M)]),
    TopPids = [T || {_, {_, T}} <- Tops, is_pid(T)],
    %% Registered processes of an application that nobody restarts.
    Lone = [{A, P, N} || N <- erlang:registered(), is_pid(P = erlang:whereis(N)),
                         {group_leader, GL} <- [erlang:process_info(P, group_leader)],
                         A <- [maps:get(GL, MasterOf, none)], A =/= none,
                         not lists:member(P, TopPids),
                         not maps:is_key(P, MasterOf),
                         not IsSupervisorInit(BgInitialCall(P)),
                         case BgInitialCall(P) of {application_master, _, _} -> false; _ -> true end,
                         BgSupOf(P) =:= none],
    [#{name => A, description => list_to_binary(D), version => list_to_binary(V),
       start_type => proplists:get_value(A, Started, null),
       runtime => IsOtpApp(A),
       supervision_tree => case proplists:get_value(A, Tops) of
                               {_, T} when is_pid(T) -> SvTree(T, A, 0, Limit, Ms);
                               _ -> null
                           end,
       unsupervised => [#{pid => SrPidText(P), registered_name => N} || {A1, P, N} <- Lone, A1 =:= A]}
     || {A, D, V} <- Running]
end,
