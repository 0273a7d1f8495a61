%% process_index — evaluated on the target; starts the run's process index:
%% a helper holding a snapshot of the node's processes as a tuple, renewed
%% at most every RefreshMs, that answers random samples of it. With it a
%% health sample or a victim list costs O(sample), not O(processes): the
%% list of every process (65 ms at 10^6 processes) is built once per
%% RefreshMs, by this helper, instead of by every sample. A node with at
%% most Max processes gets all of them, listed afresh each time.
%% Answers {sample, From, Ref, Max} with {process_sample, Ref, Total, Pids}.
%% Bindings: Lease (pid; the index ends with it), RefreshMs (integer).
erlang:spawn(fun() ->
    LeaseRef = erlang:monitor(process, Lease),
    Now = fun() -> erlang:monotonic_time(millisecond) end,
    Snapshot = fun() -> {Now(), list_to_tuple(erlang:processes())} end,
    Loop = fun Loop({At, Tup} = Snap) ->
        receive
            {sample, From, Ref, Max} when is_pid(From), is_integer(Max) ->
                Total = erlang:system_info(process_count),
                {Next, Pids} =
                    case Total =< Max of
                        true -> {Snap, erlang:processes()};
                        false ->
                            {_, T} = Fresh = case Now() - At >= RefreshMs of
                                                 true -> Snapshot();
                                                 false -> Snap
                                             end,
                            N = tuple_size(T),
                            {Fresh, [element(rand:uniform(N), T) || N > 0, _ <- lists:seq(1, Max)]}
                    end,
                From ! {process_sample, Ref, Total, Pids},
                Loop(Next);
            release -> exit(normal);
            {'DOWN', LeaseRef, process, _, _} -> exit(normal)
        end
    end,
    %% No snapshot yet: the first sample of a big node takes one.
    Loop({Now() - RefreshMs, {}})
end).
