%% index_sample (evaluated on the target before the snippet that uses it;
%% not a module). Binds IndexedSample(Max) -> {Total, Pids}: how many
%% processes the node has and a random sample of at most Max of them (all of
%% them on smaller nodes), from the run's process index (process_index.erl)
%% when there is one (ProcessIndex, a pid), else by listing every process
%% (ProcessSample, from safety_rules.erl, which comes before this).
%% Bindings: ProcessIndex (pid or none).
IndexedSample = fun(Max) ->
    case is_pid(ProcessIndex) of
        false -> ProcessSample(Max);
        true ->
            IxRef = erlang:monitor(process, ProcessIndex),
            ProcessIndex ! {sample, self(), IxRef, Max},
            receive
                {process_sample, IxRef, IxTotal, IxPids} ->
                    erlang:demonitor(IxRef, [flush]),
                    {IxTotal, lists:usort(IxPids)};
                {'DOWN', IxRef, process, _, _} -> ProcessSample(Max)
            after 5000 ->
                erlang:demonitor(IxRef, [flush]),
                ProcessSample(Max)
            end
    end
end,
