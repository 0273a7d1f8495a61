%% steady — evaluated on the target by erl_eval; not a module.
%% The steady state of the node's own applications, cheap enough to take
%% every second: running applications, each supervisor of their trees with
%% its active children (static supervisors also list children that are
%% missing), registered names and their owners, named ETS tables of the
%% applications, processes whose message queue is over the threshold, and
%% resource counts with their limits.
%% Bindings: IncludeOtpApps (bool), MailboxThreshold (integer),
%%           Tables ([atom()], named tables to check), CallMs (integer),
%%           Owners ([binary()], pids of the baseline's name owners),
%%           MaxScan (integer), ProcessIndex (pid or none;
%%           index_sample.erl), Shapes ([{Table, Arity, Tags}], the
%%           baseline's table shapes), ShapeMaxRows (integer),
%%           SupervisionKeeper (pid or none; supervision_keeper.erl).
Apps = [A || {A, _, _} <- application:which_applications()],
Own = [A || A <- Apps, not lists:member(A, AlwaysProtectedApps), IncludeOtpApps orelse not IsOtpApp(A)],
Masters = maps:from_list([{M, A} || A <- Own, is_pid(M = application_controller:get_master(A))]),
AppOf = fun(P) when is_pid(P) ->
               case erlang:process_info(P, group_leader) of
                   {group_leader, G} -> maps:get(G, Masters, null);
                   undefined -> null
               end;
           (_) -> null
        end,
%% Every supervisor of the own applications' trees (sup_read.erl): from
%% the run's supervision keeper when there is one (supervision_keeper.erl,
%% which re-reads only the supervisors that changed), else read afresh.
Walked = fun() ->
    lists:append([case SrTop(M) of
                      none -> [];
                      Top -> element(1, SrWalk(fun(S, Acc) -> {SrRead(S), Acc} end,
                                               Top, A, atom_to_binary(A, utf8), 0, none))
                  end || {M, A} <- maps:to_list(Masters)])
end,
Supervisors = case is_pid(SupervisionKeeper) of
    false -> Walked();
    true ->
        KeeperRef = erlang:monitor(process, SupervisionKeeper),
        SupervisionKeeper ! {supervisors, self(), KeeperRef, maps:to_list(Masters)},
        receive
            {supervisors, KeeperRef, KeptViews} -> erlang:demonitor(KeeperRef, [flush]), KeptViews;
            {'DOWN', KeeperRef, process, _, _} -> Walked()
        after 5000 -> erlang:demonitor(KeeperRef, [flush]), Walked()
        end
end,
Names = [#{name => N, pid => SrPidText(P), app => AppOf(P)}
         || N <- erlang:registered(), P <- [erlang:whereis(N)], is_pid(P)],
OwnTables = [#{name => T, owner => SrPidText(O), app => App}
             || T <- ets:all(), is_atom(T),
                O <- [ets:info(T, owner)], is_pid(O),
                App <- [AppOf(O)], App =/= null],
Vanished = [T || T <- Tables, ets:info(T, owner) =:= undefined],
AliveOwners = [O || O <- Owners, erlang:is_process_alive(erlang:list_to_pid(binary_to_list(O)))],
%% On big nodes the queue check looks at a random sample (plus every
%% registered process), drawn from the run's process index when there is
%% one, so a sample costs O(sample), not O(processes).
{AllCount, Sampled} = IndexedSample(MaxScan),
Ps = case AllCount =< MaxScan of
         true -> Sampled;
         false -> lists:usort(Sampled ++ [P || N <- erlang:registered(), P <- [erlang:whereis(N)], is_pid(P)])
     end,
QMs = ets:match_spec_compile([{{{message_queue_len, '$1'}, '$2'}, [{'>', '$1', MailboxThreshold}], [{{'$1', '$2'}}]}]),
Big = ets:match_spec_run(lists:zip(lists:zipwith(fun erlang:process_info/2, Ps, lists:duplicate(length(Ps), message_queue_len)), Ps), QMs),
Queues = [#{pid => SrPidText(P), len => L, app => AppOf(P),
            name => case erlang:process_info(P, registered_name) of {registered_name, N} -> N; _ -> null end}
          || {L, P} <- lists:sublist(lists:reverse(lists:sort(Big)), 20)],
%% Rows that break their table's shape (at most 10 a table, tables up to
%% ShapeMaxRows rows; one ets:select in C each): wrong arity, or a value of
%% another type where all rows agreed at the baseline (undefined and nil
%% pass anywhere: a field not set). `injected` marks the
%% monkey's own ets_modify rows (every non-key value its marker).
ShapeBreaks = lists:append(
    [case ets:info(T, size) of
         N when is_integer(N), N =< ShapeMaxRows ->
             Guard = lists:foldl(fun(C, Acc) -> {'orelse', Acc, C} end, {'=/=', {size, '$_'}, A},
                                 [{'not', {'orelse', {G, El}, {'orelse', {'=:=', El, undefined}, {'=:=', El, nil}}}}
                                  || {I, Tg} <- lists:zip(lists:seq(1, A), Tags), G <- [ShapeGuard(Tg)], G =/= none,
                                     El <- [{element, I, '$_'}]]),
             KeyPos = ets:info(T, keypos),
             case catch ets:select(T, [{'_', [Guard], ['$_']}], 10) of
                 {Rows, _} ->
                     [#{table => T,
                        key => iolist_to_binary(io_lib:format("~0P", [element(KeyPos, R), 12])),
                        expected => ShapeText(Tags),
                        found => ShapeText([ShapeTag(E) || E <- tuple_to_list(R)]),
                        injected => lists:member(chaos_monkey_corrupted, tuple_to_list(R))}
                      || R <- Rows];
                 _ -> []
             end;
         _ -> []
     end || {T, A, Tags} <- Shapes]),
#{applications => Apps,
  own_applications => Own,
  supervisors => Supervisors,
  names => Names,
  tables => OwnTables,
  vanished_tables => Vanished,
  alive_owners => AliveOwners,
  queues => Queues,
  shape_breaks => ShapeBreaks,
  processes => erlang:system_info(process_count),
  process_limit => erlang:system_info(process_limit),
  ports => erlang:system_info(port_count),
  port_limit => erlang:system_info(port_limit),
  atoms => erlang:system_info(atom_count),
  atom_limit => erlang:system_info(atom_limit),
  ets_tables => erlang:system_info(ets_count),
  ets_limit => erlang:system_info(ets_limit),
  memory_bytes => erlang:memory(total),
  binary_bytes => erlang:memory(binary)}.
