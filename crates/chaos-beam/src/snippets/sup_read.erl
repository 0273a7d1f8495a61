%% sup_read — how the health sample sees one supervisor (evaluated on the
%% target before steady.erl, supervision_keeper.erl or supervision.erl;
%% not a module).
%% Binds SrRead(Sup) -> #{dynamic, active, missing, answered, kids}: its
%% running children (a dynamic supervisor's count), the static children
%% that are not running, and `kids', its static children as {Id, Pid, Type}
%% (the walk follows the supervisors among them; the keeper watches them).
%% A supervisor's state is read inside it first (sys:replace_state with a
%% fun that throws what it read: nothing is changed or copied), so a
%% dynamic supervisor of 10^6 children costs O(1) — which_children would
%% build and copy a list of all of them. which_children is asked only of
%% supervisors whose state has an unknown layout (look-alikes).
%% SrWalk(Read, Sup, App, Path, Depth, Acc) -> {[View], Acc}: the views of
%% Sup and of the static supervisors under it (never under a dynamic one,
%% at most 8 deep), each read with Read(Sup, Acc) -> {SrRead result, Acc}.
%% Bindings: CallMs (integer, the deadline of one supervisor's answer).
SrText = fun(T) -> iolist_to_binary(io_lib:format("~0p", [T])) end,
SrPidText = fun(P) when is_pid(P) -> list_to_binary(erlang:pid_to_list(P)); (Other) -> SrText(Other) end,
SrWithin = fun(F) ->
    {Pid, Ref} = erlang:spawn_monitor(fun() -> exit({sr_result, F()}) end),
    receive {'DOWN', Ref, process, Pid, {sr_result, R}} -> {ok, R};
            {'DOWN', Ref, process, Pid, _} -> error
    after CallMs -> erlang:exit(Pid, kill),
                    receive {'DOWN', Ref, process, Pid, _} -> timeout end
    end
end,
%% What the state says: {dynamic, Count} (OTP's simple_one_for_one record,
%% or a map with max_restarts and a children map: Elixir's
%% DynamicSupervisor), {static, [{Id, Pid, Type}]} (OTP's record with its
%% {Ids, Db} children, in start order, and look-alikes with its layout),
%% else other.
SrProbe = fun(St) ->
    case St of
        _ when is_tuple(St), tuple_size(St) >= 11, is_integer(element(6, St)),
               element(3, St) =:= simple_one_for_one ->
            case element(5, St) of
                {_, Db} when is_map(Db) -> {dynamic, map_size(Db)};
                _ -> other
            end;
        _ when is_tuple(St), tuple_size(St) >= 11, is_integer(element(6, St)) ->
            case element(4, St) of
                {Ids, Db} when is_list(Ids), is_map(Db) ->
                    %% OTP 25's child record (with `significant') or the one
                    %% of older OTP and look-alikes (child type one earlier).
                    Kids = [{Id, element(2, R), element(tuple_size(R) - 1, R)}
                            || Id <- Ids, R <- [maps:get(Id, Db, none)], is_tuple(R),
                               tuple_size(R) =:= 9 orelse tuple_size(R) =:= 8],
                    case length(Kids) =:= length(Ids) of
                        true -> {static, Kids};
                        false -> other
                    end;
                _ -> other
            end;
        #{max_restarts := _, children := Children} when is_map(Children) -> {dynamic, map_size(Children)};
        _ -> other
    end
end,
SrSummary = fun(Kids) ->
    Dynamic = lists:any(fun({Id, _, _}) -> Id =:= undefined end, Kids),
    #{dynamic => Dynamic, answered => true,
      active => length([C || {_, C, _} <- Kids, is_pid(C)]),
      missing => case Dynamic of
                     true -> [];
                     false -> [SrText(Id) || {Id, C, _} <- Kids, not is_pid(C)]
                 end,
      kids => case Dynamic of true -> []; false -> Kids end}
end,
SrRead = fun(Sup) ->
    Inside = try sys:replace_state(Sup, fun(St) -> throw({chaos_sup_read, SrProbe(St)}) end, CallMs) of
                 _ -> other
             catch
                 error:{callback_failed, _, {throw, {chaos_sup_read, Got}}} -> Got;
                 exit:{timeout, _} -> timeout;
                 _:_ -> other
             end,
    Silent = fun(Answered) -> #{dynamic => false, active => 0, missing => [], answered => Answered, kids => []} end,
    case Inside of
        {dynamic, N} -> #{dynamic => true, active => N, missing => [], answered => true, kids => []};
        {static, Kids} -> SrSummary(Kids);
        timeout -> Silent(false);
        other ->
            case SrWithin(fun() -> gen:call(Sup, '$gen_call', which_children, infinity) end) of
                {ok, {ok, Children}} when is_list(Children) ->
                    SrSummary([{Id, C, T} || {Id, C, T, _} <- Children]);
                timeout -> Silent(false);
                _ -> Silent(true)
            end
    end
end,
SrWalk = fun Walk(Read, Sup, App, Path, Depth, Acc0) ->
    Name = case erlang:process_info(Sup, registered_name) of {registered_name, N} -> N; _ -> null end,
    {#{dynamic := Dynamic, active := Active, missing := Missing, answered := Answered, kids := Kids}, Acc1} =
        Read(Sup, Acc0),
    Me = #{key => Path, pid => SrPidText(Sup), name => Name, app => App, active => Active,
           dynamic => Dynamic, missing => Missing, answered => Answered},
    Subs = case Dynamic orelse Depth >= 8 of
               true -> [];
               false -> [{Id, C} || {Id, C, supervisor} <- Kids, is_pid(C)]
           end,
    lists:foldl(fun({Id, C}, {Views, A}) ->
                        {Sub, A2} = Walk(Read, C, App, <<Path/binary, "/", (SrText(Id))/binary>>, Depth + 1, A),
                        {Views ++ Sub, A2}
                end, {[Me], Acc1}, Subs)
end,
%% The top supervisor of an application master, or none.
SrTop = fun(Master) ->
    case SrWithin(fun() -> application_master:get_child(Master) end) of
        {ok, {Top, _}} when is_pid(Top) -> Top;
        _ -> none
    end
end,
