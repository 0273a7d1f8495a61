%%% chaos_bench_app: starts the benchmark application's (empty) top
%%% supervisor; the processes chaos works on are added by
%%% chaos_seed_baseline:populate/2 and belong to the application through
%%% its group leader.
-module(chaos_bench_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    chaos_bench_sup:start_link().

stop(_State) ->
    ok.
