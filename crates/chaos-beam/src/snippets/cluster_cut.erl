%% Cut this node off from Peers and hold the cut (see cluster/mod.rs).
%% Bindings: Peers, Members (the mesh to restore), CutCookie (one per side,
%% never the same on both sides), Mode (hold | flap), DownMs, UpMs,
%% DeadlineMs, Lease (the monkey's lease keeper on this node).
%% The helper puts a wrong per-node cookie for each peer in place (the
%% handshake fails in both directions), disconnects, and disconnects again
%% on any nodeup of a peer. While holding, it reconnects a member of its own
%% side that `global` cut off (prevent_overlapping_partitions races with
%% the cut). In flap mode it heals for UpMs and cuts again
%% for DownMs until told to stop. It heals (saved cookies back, entries it
%% created deleted inside auth, every member reconnected) on release, at its
%% deadline and as soon as the lease keeper goes (the monkey killed, frozen
%% or cut off); it exits {undone, ok}.
Parent = self(),
Helper = erlang:spawn(fun() ->
    Now = fun() -> erlang:monotonic_time(millisecond) end,
    Until = Now() + DeadlineMs,
    AuthTab = case [T || T <- ets:all(), ets:info(T, name) =:= cookies,
                         ets:info(T, owner) =:= erlang:whereis(auth)] of
                  [T0 | _] -> T0;
                  [] -> undefined
              end,
    Saved = [{P, erlang:get_cookie(P), AuthTab =:= undefined orelse ets:lookup(AuthTab, P) =/= []}
             || P <- Peers],
    Cut = fun() ->
        [erlang:set_cookie(P, CutCookie) || P <- Peers],
        [erlang:disconnect_node(P) || P <- Peers],
        ok
    end,
    Restore = fun() ->
        [erlang:set_cookie(P, C) || {P, C, true} <- Saved],
        Fresh = [P || {P, _, false} <- Saved],
        case Fresh of
            [] -> ok;
            _ ->
                Forget = fun(S) -> [ets:delete(AuthTab, P) || P <- Fresh], S end,
                try sys:replace_state(auth, Forget, 5000), ok
                catch _:_ -> [erlang:set_cookie(P, C) || {P, C, false} <- Saved], ok
                end
        end
    end,
    %% The other side restores its cookies at the same time: retry a while.
    Mesh = fun M(Left, Tries) ->
        Missing = [N || N <- Left, N =/= node(), not lists:member(N, erlang:nodes()),
                        net_kernel:connect_node(N) =/= true],
        case Missing of
            [] -> ok;
            _ when Tries =< 0 -> {unreached, Missing};
            _ -> receive after 50 -> M(Missing, Tries - 1) end
        end
    end,
    LeaseRef = erlang:monitor(process, Lease),
    ok = net_kernel:monitor_nodes(true),
    Cut(),
    Parent ! {cut, self()},
    Loop = fun L(Phase, PhaseEnd, Slipped) ->
        Wait = max(0, min(PhaseEnd, Until) - Now()),
        receive
            release -> Slipped;
            {'DOWN', LeaseRef, process, _, _} -> Slipped;
            {nodeup, P} ->
                case Phase =:= down andalso lists:member(P, Peers) of
                    true -> erlang:disconnect_node(P), L(Phase, PhaseEnd, Slipped + 1);
                    false -> L(Phase, PhaseEnd, Slipped)
                end;
            {nodedown, N} ->
                case Mode =:= hold andalso lists:member(N, Members)
                     andalso not lists:member(N, Peers) of
                    true -> erlang:spawn(fun() -> net_kernel:connect_node(N) end);
                    false -> ok
                end,
                L(Phase, PhaseEnd, Slipped)
        after Wait ->
            case {Now() >= Until, Mode, Phase} of
                {true, _, _} -> Slipped;
                {false, hold, _} -> L(Phase, Until, Slipped);
                {false, flap, down} -> Restore(), Mesh(Peers, 20), L(up, Now() + UpMs, Slipped);
                {false, flap, up} -> Cut(), L(down, Now() + DownMs, Slipped)
            end
        end
    end,
    _ = Loop(down, case Mode of hold -> Until; flap -> Now() + DownMs end, 0),
    Restore(),
    Healed = Mesh(Members, 100),
    net_kernel:monitor_nodes(false),
    exit({undone, case Healed of ok -> ok; Other -> {failed, Other} end})
end),
receive
    {cut, Helper} -> {confirmed, <<"cut">>, #{}, Helper}
after 5000 ->
    erlang:exit(Helper, kill),
    {failed, <<"the cutting helper did not report within 5 s">>}
end.
