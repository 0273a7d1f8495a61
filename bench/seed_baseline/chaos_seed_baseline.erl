%%% chaos_seed_baseline: the seed's approach to chaos, kept as a benchmark
%%% baseline. For EVERY operation it lists every process of the node and
%%% filters it (the victim must belong to the application, run at normal
%%% priority, have no registered name and not be a system process) inside
%%% the target VM, then kills, suspends-and-resumes, or spawns. No sleeps:
%%% it measures how many operations per second that approach can do.
%%%
%%% run/2 is the kill / suspend / spawn mix; run_mix/2 the seed's whole
%%% five-category mix with its weights.
%%%
%%% Used only by the scale benchmark
%%% (crates/chaos-monkey/tests/bench_scale.rs), which loads it on its own
%%% bench nodes beside the chaos_bench application whose processes both
%%% approaches work on (chaos_bench_pool keeps their number).
-module(chaos_seed_baseline).

-export([run/2, run_mix/2]).

%% @doc Run the seed-style loop for DurationMs against App's processes.
%% Returns {Operations, ElapsedMs}.
-spec run(pos_integer(), atom()) -> {non_neg_integer(), non_neg_integer()}.
run(DurationMs, App) ->
    Master = application_controller:get_master(App),
    T0 = erlang:monotonic_time(millisecond),
    Ops = loop(T0 + DurationMs, Master, 0),
    {Ops, erlang:monotonic_time(millisecond) - T0}.

loop(Deadline, Master, N) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true -> N;
        false ->
            operation(N rem 3, Master),
            loop(Deadline, Master, N + 1)
    end.

%% A kill / suspend / spawn mix, like the scale benchmark's.
operation(2, _Master) ->
    %% A short-lived process: it returns at once.
    _ = erlang:spawn(fun() -> ok end),
    ok;
operation(0, Master) -> with_victim(Master, fun(V) -> erlang:exit(V, kill) end);
operation(1, Master) ->
    with_victim(Master, fun(V) -> catch erlang:suspend_process(V), catch erlang:resume_process(V) end).

eligible(P, Master) ->
    case erlang:process_info(P, [group_leader, priority, registered_name]) of
        [{group_leader, Master}, {priority, normal}, {registered_name, []}] ->
            not erts_internal:is_system_process(P);
        _ ->
            false
    end.

%% @doc The seed's whole mix for DurationMs against App: its five
%% categories with its weights (process 30, memory 20, network 20, state 15,
%% timing 15, in a fixed cycle of 20), each operation done the seed's way:
%% list and filter every process (or port, table, name) for every
%% operation, then act. Returns {Operations, ElapsedMs}.
-spec run_mix(pos_integer(), atom()) -> {non_neg_integer(), non_neg_integer()}.
run_mix(DurationMs, App) ->
    Master = application_controller:get_master(App),
    T0 = erlang:monotonic_time(millisecond),
    Ops = mix_loop(T0 + DurationMs, Master, 0),
    {Ops, erlang:monotonic_time(millisecond) - T0}.

mix_loop(Deadline, Master, N) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true -> N;
        false ->
            Slot = N rem 20,
            Which = N div 20,
            if
                Slot < 6 -> process_op(Which rem 5, Master);
                Slot < 10 -> memory_op(Which rem 4, Master);
                Slot < 14 -> network_op(Which rem 4, Master);
                Slot < 17 -> state_op(Which rem 4, Master);
                true -> timing_op(Which rem 3, Master)
            end,
            mix_loop(Deadline, Master, N + 1)
    end.

%% A random eligible process, found by listing every process.
victim(Master) ->
    case [P || P <- erlang:processes(), eligible(P, Master)] of
        [] -> none;
        Candidates -> lists:nth(rand:uniform(length(Candidates)), Candidates)
    end.

with_victim(Master, Act) ->
    case victim(Master) of
        none -> ok;
        V -> Act(V), ok
    end.

%% Kill a worker; spawn 100 short-lived processes; send an exit signal; a
%% linked crash chain of its own processes; monitor, then kill a worker.
process_op(0, Master) -> operation(0, Master);
process_op(1, _Master) -> [erlang:spawn(fun() -> ok end) || _ <- lists:seq(1, 100)], ok;
process_op(2, Master) -> with_victim(Master, fun(V) -> erlang:exit(V, chaos_test) end);
process_op(3, _Master) ->
    _ = erlang:spawn(fun() -> _ = erlang:spawn_link(fun() -> ok end), exit(chaos_crash) end),
    ok;
process_op(4, Master) ->
    with_victim(Master, fun(V) ->
                                R = erlang:monitor(process, V),
                                erlang:exit(V, kill),
                                receive {'DOWN', R, process, _, _} -> ok after 1000 -> ok end
                        end).

%% A 1-10 MB binary; 100 messages into a worker's mailbox; a process that
%% holds 1 MB and ends; an ETS table made and deleted.
memory_op(0, _Master) ->
    B = binary:copy(<<0>>, rand:uniform(10) * 1024 * 1024),
    _ = byte_size(B),
    ok;
memory_op(1, Master) -> with_victim(Master, fun(V) -> [V ! chaos_flood || _ <- lists:seq(1, 100)] end);
memory_op(2, _Master) ->
    _ = erlang:spawn(fun() -> _ = byte_size(binary:copy(<<0>>, 1024 * 1024)) end),
    ok;
memory_op(3, _Master) ->
    T = ets:new(chaos_seed_table, [public]),
    true = ets:insert(T, {key, value}),
    true = ets:delete(T),
    ok.

%% The application's TCP ports, found by listing every port: closed (drop,
%% disconnect), sent garbage (malformed data), or delayed (a sleeping
%% process of its own, as the seed's delays do not hold the loop here).
network_op(Kind, Master) ->
    Ports = [P || P <- erlang:ports(),
                  erlang:port_info(P, name) =:= {name, "tcp_inet"},
                  {connected, Owner} <- [erlang:port_info(P, connected)],
                  eligible(Owner, Master)],
    case {Kind, Ports} of
        {_, []} -> ok;
        {1, _} -> _ = erlang:spawn(fun() -> timer:sleep(rand:uniform(10)) end), ok;
        {2, [P | _]} ->
            {connected, Owner} = erlang:port_info(P, connected),
            Owner ! {tcp, P, <<255, 0, 255, 0>>},
            ok;
        {_, [P | _]} -> catch erlang:port_close(P), ok
    end.

%% The application's public ETS tables and registered names, found by
%% listing all of them: a row changed or deleted; a name taken away; a
%% worker picked to clear its mailbox (nothing can do that from outside).
state_op(Kind, Master) when Kind =:= 0; Kind =:= 1 ->
    Tables = [T || T <- ets:all(),
                   ets:info(T, protection) =:= public,
                   eligible(ets:info(T, owner), Master)],
    case Tables of
        [] -> ok;
        [T | _] when Kind =:= 0 -> catch ets:insert(T, {chaos_seed_key, corrupted}), ok;
        [T | _] -> catch ets:delete(T, ets:first(T)), ok
    end;
state_op(2, Master) ->
    _ = [N || N <- erlang:registered(), W <- [erlang:whereis(N)], is_pid(W), eligible(W, Master)],
    ok;
state_op(3, Master) -> with_victim(Master, fun(_) -> ok end).

%% Suspend and resume a worker; change a priority (a worker is picked; its
%% priority cannot be set from outside); a short sleep in a process of its own.
timing_op(0, Master) -> operation(1, Master);
timing_op(1, Master) -> with_victim(Master, fun(_) -> ok end);
timing_op(2, _Master) -> _ = erlang:spawn(fun() -> timer:sleep(rand:uniform(10)) end), ok.
