%% supervision_keeper — evaluated on the target after sup_read.erl; starts
%% the run's supervision keeper: a helper that keeps the health sample's
%% view of every supervisor (steady.erl) current incrementally. It keeps
%% each supervisor's last read (SrRead) and monitors the supervisor and
%% its static children; a read is taken again only when one of them exits
%% (a restart, a supervisor that gave up), when it did not answer, or when
%% it is older than RecheckMs (children added by start_child are seen
%% then). A dynamic supervisor's child count (O(1) to read) is read again
%% when older than CountMs. A health sample then costs the node no call to
%% a supervisor that did not change, and nothing that grows with the
%% number of dynamic children.
%% Answers {supervisors, From, Ref, [{Master, App}]} with
%% {supervisors, Ref, Views}: the views SrWalk gives, application by
%% application. Exits with the lease, or on `release'.
%% Bindings: Lease (pid), RecheckMs, CountMs (integers), and sup_read.erl's.
erlang:spawn(fun() ->
    LeaseRef = erlang:monitor(process, Lease),
    Now = fun() -> erlang:monotonic_time(millisecond) end,
    %% K = {Reads, Watch}: Reads #{Key => {At, Read, MonitorRefs}} (Key a
    %% supervisor, or {top, Master}), Watch #{MonitorRef => Key}.
    Forget = fun(Key, {Reads, Watch} = K) ->
        case maps:take(Key, Reads) of
            {{_, _, Refs}, Rest} ->
                [erlang:demonitor(R, [flush]) || R <- Refs],
                {Rest, maps:without(Refs, Watch)};
            error -> K
        end
    end,
    Keep = fun(Key, Read, Watched, {Reads, Watch}) ->
        Refs = [erlang:monitor(process, P) || P <- Watched],
        {Reads#{Key => {Now(), Read, Refs}}, maps:merge(Watch, maps:from_list([{R, Key} || R <- Refs]))}
    end,
    Fresh = fun(Key, MaxAge, {Reads, _}) ->
        case maps:find(Key, Reads) of
            {ok, {At, Read, _}} when is_integer(MaxAge) ->
                case Now() - At < MaxAge of true -> {ok, Read}; false -> stale end;
            _ -> stale
        end
    end,
    %% A supervisor's read, kept until it or a static child exits, or it
    %% gets too old (a dynamic supervisor's count sooner); a supervisor that
    %% did not answer is read again next time.
    Read = fun(Sup, K0) ->
        MaxAge = case Fresh(Sup, RecheckMs, K0) of
                     {ok, #{dynamic := true}} -> CountMs;
                     _ -> RecheckMs
                 end,
        case Fresh(Sup, MaxAge, K0) of
            {ok, Old} -> {Old, K0};
            stale ->
                K1 = Forget(Sup, K0),
                case SrRead(Sup) of
                    #{answered := true, kids := Kids} = New ->
                        {New, Keep(Sup, New, [Sup | [P || {_, P, _} <- Kids, is_pid(P)]], K1)};
                    New -> {New, K1}
                end
        end
    end,
    Top = fun(Master, K0) ->
        case Fresh({top, Master}, RecheckMs, K0) of
            {ok, T} -> {T, K0};
            stale ->
                K1 = Forget({top, Master}, K0),
                case SrTop(Master) of
                    none -> {none, K1};
                    T -> {T, Keep({top, Master}, T, [Master, T], K1)}
                end
        end
    end,
    %% Every exit already signalled forgets what it invalidates.
    Drain = fun Drain({_, Watch} = K) ->
        receive
            {'DOWN', R, process, _, _} when is_map_key(R, Watch) -> Drain(Forget(maps:get(R, Watch), K))
        after 0 -> K
        end
    end,
    Loop = fun Loop(K0) ->
        receive
            {supervisors, From, Ref, Masters} when is_pid(From), is_list(Masters) ->
                {Views, K} = lists:foldl(
                    fun({M, App}, {Acc, KA}) ->
                            case Top(M, KA) of
                                {none, KB} -> {Acc, KB};
                                {T, KB} ->
                                    {Vs, KC} = SrWalk(Read, T, App, atom_to_binary(App, utf8), 0, KB),
                                    {[Vs | Acc], KC}
                            end
                    end, {[], Drain(K0)}, Masters),
                From ! {supervisors, Ref, lists:append(lists:reverse(Views))},
                Loop(K);
            {'DOWN', LeaseRef, process, _, _} -> exit(normal);
            {'DOWN', R, process, _, _} ->
                {_, Watch} = K0,
                Loop(case maps:find(R, Watch) of
                         {ok, Key} -> Forget(Key, K0);
                         error -> K0
                     end);
            release -> exit(normal)
        end
    end,
    Loop({#{}, #{}})
end).
