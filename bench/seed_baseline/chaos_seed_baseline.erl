%%% chaos_seed_baseline: the seed's approach to chaos, kept as a benchmark
%%% baseline. For EVERY operation it lists every process of the node and
%%% filters it (the victim must belong to the application, run at normal
%%% priority, have no registered name and not be a system process) inside
%%% the target VM, then kills, suspends-and-resumes, or spawns. No sleeps:
%%% it measures how many operations per second that approach can do.
%%%
%%% Used only by the scale benchmark
%%% (crates/chaos-monkey/tests/bench_scale.rs), which loads it on its own
%%% bench nodes beside the chaos_bench application whose processes both
%%% approaches work on (chaos_bench_pool keeps their number).
-module(chaos_seed_baseline).

-export([run/2]).

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
operation(Kind, Master) ->
    case [P || P <- erlang:processes(), eligible(P, Master)] of
        [] -> ok;
        Candidates ->
            Victim = lists:nth(rand:uniform(length(Candidates)), Candidates),
            case Kind of
                0 -> erlang:exit(Victim, kill);
                1 -> catch erlang:suspend_process(Victim),
                     catch erlang:resume_process(Victim)
            end,
            ok
    end.

eligible(P, Master) ->
    case erlang:process_info(P, [group_leader, priority, registered_name]) of
        [{group_leader, Master}, {priority, normal}, {registered_name, []}] ->
            not erts_internal:is_system_process(P);
        _ ->
            false
    end.
