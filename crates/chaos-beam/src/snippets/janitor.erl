%% The compiled-snippet janitor (see compiled.rs): collects the run's
%% modules and unloads them on {unload, From} or when the lease keeper goes.
%% Bindings: Lease, WaitMs.
erlang:spawn(fun() ->
    LeaseRef = erlang:monitor(process, Lease),
    Now = fun() -> erlang:monotonic_time(millisecond) end,
    Unload = fun(Mods) ->
        [code:delete(M) || M <- Mods],
        Deadline = Now() + WaitMs,
        Purge = fun Purge(Left) ->
            case [M || M <- Left, not code:soft_purge(M)] of
                [] -> ok;
                Still ->
                    case Now() >= Deadline of
                        true -> [code:purge(M) || M <- Still], {purged, Still};
                        false -> receive after 20 -> Purge(Still) end
                    end
            end
        end,
        Result = Purge(Mods),
        {Result, [M || M <- Mods, code:is_loaded(M) =/= false]}
    end,
    Loop = fun Loop(Mods) ->
        receive
            {add, M} -> Loop([M | Mods]);
            {unload, From} -> From ! {unloaded, self(), Unload(Mods)};
            {'DOWN', LeaseRef, process, _, _} -> Unload(Mods)
        end
    end,
    Loop([])
end).
