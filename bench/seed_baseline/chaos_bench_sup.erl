%%% chaos_bench_sup: the benchmark application's top supervisor. It has no
%%% children: the benchmark's idle processes are not restarted when chaos
%%% kills them (the pool is large enough that it does not matter).
-module(chaos_bench_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    {ok, {#{strategy => one_for_one, intensity => 1, period => 5}, []}}.
