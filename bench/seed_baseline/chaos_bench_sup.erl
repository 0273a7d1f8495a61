%%% chaos_bench_sup: the benchmark application's top supervisor; its one
%%% child, chaos_bench_pool, keeps the benchmark's idle processes at their
%%% number.
-module(chaos_bench_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Pool = #{id => chaos_bench_pool, start => {chaos_bench_pool, start_link, []}},
    {ok, {#{strategy => one_for_one, intensity => 1, period => 5}, [Pool]}}.
