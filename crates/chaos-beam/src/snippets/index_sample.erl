%% index_sample (evaluated on the target before the snippet that uses it;
%% not a module). Binds IndexedSample(Max) -> {Total, Pids}: how many
%% processes the node has and a random sample of at most Max of them (all of
%% them on smaller nodes), from the run's process index (process_index.erl)
%% when there is one (ProcessIndex, a pid), else by listing every process.
%% Bindings: ProcessIndex (pid or none).
IndexedSample = fun(Max) ->
    Listed = fun() ->
        PsAll = erlang:processes(),
        PsTotal = length(PsAll),
        case PsTotal =< Max of
            true -> {PsTotal, PsAll};
            false ->
                PsTup = list_to_tuple(PsAll),
                {PsTotal, lists:usort([element(rand:uniform(PsTotal), PsTup) || _ <- lists:seq(1, Max)])}
        end
    end,
    case is_pid(ProcessIndex) of
        false -> Listed();
        true ->
            IxRef = erlang:monitor(process, ProcessIndex),
            ProcessIndex ! {sample, self(), IxRef, Max},
            receive
                {process_sample, IxRef, IxTotal, IxPids} ->
                    erlang:demonitor(IxRef, [flush]),
                    {IxTotal, lists:usort(IxPids)};
                {'DOWN', IxRef, process, _, _} -> Listed()
            after 5000 ->
                erlang:demonitor(IxRef, [flush]),
                Listed()
            end
    end
end,
