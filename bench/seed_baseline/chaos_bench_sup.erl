%%% chaos_bench_sup: the benchmark application's top supervisor: chaos_bench_pool
%%% keeps the benchmark's idle processes at their number; chaos_bench_services
%%% runs the servers, tables and connections the other categories work on.
-module(chaos_bench_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Pool = #{id => chaos_bench_pool, start => {chaos_bench_pool, start_link, []}},
    Services = #{id => chaos_bench_services, type => supervisor,
                 start => {chaos_bench_services, start_link, []}},
    {ok, {#{strategy => one_for_one, intensity => 1, period => 5}, [Pool, Services]}}.
