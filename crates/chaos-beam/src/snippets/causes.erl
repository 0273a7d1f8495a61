%% causes — evaluated on the target; not a module. Starts the collector of
%% the node's own supervisor reports and application exits for the length
%% of a run: a helper process that installs a primary logger filter
%% (chaos_monkey_causes). The filter runs in the process that logs; it
%% forwards a short summary of each supervisor report (child terminated,
%% restart failed, supervisor gave up) and each application exit to the
%% helper and lets the event through untouched (it answers `ignore`). The
%% helper keeps at most Max summaries and removes the filter when told to
%% finish (it answers with what it kept), when the lease keeper goes (the
%% monkey was lost), or after DeadlineMs.
%% Bindings: Lease, DeadlineMs, Max. Answers the helper's pid.
Parent = self(),
Helper = proc_lib:spawn(fun() ->
    LeaseRef = erlang:monitor(process, Lease),
    T0 = erlang:monotonic_time(millisecond),
    Text = fun(T) -> iolist_to_binary(io_lib:format("~0P", [T, 12])) end,
    Summary = fun({supervisor, Ctx}, R) when is_list(R) ->
                      Off = proplists:get_value(offender, R, []),
                      Child = case proplists:get_value(id, Off, proplists:get_value(name, Off)) of
                                  undefined -> null;
                                  Id -> Text(Id)
                              end,
                      ChildPid = case proplists:get_value(pid, Off) of
                                     P when is_pid(P) -> list_to_binary(erlang:pid_to_list(P));
                                     _ -> null
                                 end,
                      Sup = case proplists:get_value(supervisor, R) of
                                {local, N} -> Text(N);
                                Other -> Text(Other)
                            end,
                      App = case application:get_application() of {ok, A} -> A; undefined -> null end,
                      #{kind => Ctx, supervisor => Sup, child => Child, child_pid => ChildPid,
                        reason => Text(proplists:get_value(reason, R)), application => App};
                 ({application_controller, exit}, R) when is_list(R) ->
                      #{kind => application_exit, supervisor => null, child => null, child_pid => null,
                        reason => Text(proplists:get_value(exited, R)),
                        application => proplists:get_value(application, R, null)};
                 (_, _) -> none
              end,
    Self = self(),
    Filter = fun(#{msg := {report, #{label := Label, report := R}}}, Collector) ->
                     try Summary(Label, R) of
                         none -> ignore;
                         S -> Collector ! {chaos_cause, erlang:monotonic_time(millisecond), S}, ignore
                     catch _:_ -> ignore
                     end;
                (_, _) -> ignore
             end,
    Installed = logger:add_primary_filter(chaos_monkey_causes, {Filter, Self}),
    Parent ! {causes_started, Self, Installed},
    Remove = fun() -> logger:remove_primary_filter(chaos_monkey_causes) end,
    %% Supervisors that reported a failed restart, with when and why: the
    %% budget gate asks ({fragile, From, Ref}) and charges them no kill
    %% for a while (a restart that failed once may fail again, and every
    %% failed attempt spends the budget).
    Note = fun(#{kind := K, supervisor := Sup, reason := Why}, T, F)
                   when K =:= start_error; K =:= restart_error ->
                   F#{Sup => {T, Why}};
              (_, _, F) -> F
           end,
    Loop = fun L(Acc, N, Fragile) ->
        receive
            {chaos_cause, T, S} when N < Max ->
                L([S#{t_ms => T - T0} | Acc], N + 1, Note(S, T, Fragile));
            {chaos_cause, T, S} -> L(Acc, N, Note(S, T, Fragile));
            {fragile, From, Ref} ->
                Now = erlang:monotonic_time(millisecond),
                From ! {Ref, [{Sup, Now - T, Why} || {Sup, {T, Why}} <- maps:to_list(Fragile)]},
                L(Acc, N, Fragile);
            {finish, From, Ref} ->
                Removed = Remove(),
                From ! {Ref, lists:reverse(Acc), Removed};
            {'DOWN', LeaseRef, process, _, _} -> Remove()
        after DeadlineMs -> Remove()
        end
    end,
    case Installed of
        ok -> Loop([], 0, #{});
        _ -> ok
    end
end),
receive
    {causes_started, Helper, ok} -> Helper;
    {causes_started, Helper, Error} -> {error, iolist_to_binary(io_lib:format("~0p", [Error]))}
after 5000 ->
    erlang:exit(Helper, kill),
    {error, <<"the collector did not start within 5 s">>}
end.
