%%% node_costs: what the pieces of the monkey's recurring work cost on a
%%% live node, timed there in compiled code (issue 20's figures). Loaded
%%% onto the node by run.escript, which unloads it afterwards. Each figure
%%% is the mean of ten calls: node CPU (erlang:statistics(runtime)) and
%%% wall time, in milliseconds.
-module(node_costs).
-export([run/0]).

-spec run() -> [{atom(), {float(), float()}}].
run() ->
    T = list_to_tuple(erlang:processes()),
    N = tuple_size(T),
    Sample = fun(K) -> [element(rand:uniform(N), T) || _ <- lists:seq(1, K)] end,
    {S20k, S5k} = {Sample(20000), Sample(5000)},
    Echo = proc_lib:spawn(fun echo/0),
    Sent = fun(K) -> Echo ! {self(), Sample(K)}, receive {Echo, L} -> lists:usort(L) end end,
    Results =
        [{snapshot_of_every_process, cost(fun() -> list_to_tuple(erlang:processes()) end)},
         {sample_20000_sent_and_sorted, cost(fun() -> Sent(20000) end)},
         {sample_5000_sent_and_sorted, cost(fun() -> Sent(5000) end)},
         {queue_lengths_20000, cost(fun() -> queue_lengths(S20k) end)},
         {queue_lengths_5000, cost(fun() -> queue_lengths(S5k) end)},
         {burst_200_living_0_50_ms, cost(fun() -> burst(200, fun() -> rand:uniform(51) - 1 end) end)},
         {burst_200_living_0_50_ms_in_10_ms_steps,
          cost(fun() -> burst(200, fun() -> 10 * (rand:uniform(6) - 1) end) end)},
         {burst_200_living_0_ms, cost(fun() -> burst(200, fun() -> 0 end) end)},
         {soft_purge_of_a_trivial_module, purge_cost()}],
    exit(Echo, kill),
    Results.

echo() ->
    receive {From, X} -> From ! {self(), X}, echo() end.

queue_lengths(Pids) ->
    [erlang:process_info(P, message_queue_len) || P <- Pids].

burst(Count, Life) ->
    Mons = [element(2, spawn_monitor(fun() -> receive after Life() -> ok end end))
            || _ <- lists:seq(1, Count)],
    [receive {'DOWN', M, _, _, _} -> ok end || M <- Mons].

cost(F) ->
    erlang:garbage_collect(),
    {R0, _} = erlang:statistics(runtime),
    W0 = erlang:monotonic_time(microsecond),
    [F() || _ <- lists:seq(1, 10)],
    {R1, _} = erlang:statistics(runtime),
    {(R1 - R0) / 10, (erlang:monotonic_time(microsecond) - W0) / 10000}.

%% Load, delete and soft-purge a one-function module once: the purge asks
%% every process whether it runs the module.
purge_cost() ->
    Forms = [{attribute, 1, module, node_costs_dummy}, {attribute, 1, export, [{f, 0}]},
             {function, 1, f, 0, [{clause, 1, [], [], [{atom, 1, ok}]}]}],
    {ok, M, B} = compile:forms(Forms),
    {module, M} = code:load_binary(M, "node_costs_dummy", B),
    true = code:delete(M),
    {R0, _} = erlang:statistics(runtime),
    W0 = erlang:monotonic_time(microsecond),
    true = code:soft_purge(M),
    {R1, _} = erlang:statistics(runtime),
    {float(R1 - R0), (erlang:monotonic_time(microsecond) - W0) / 1000}.
