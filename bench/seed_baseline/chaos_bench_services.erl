%%% chaos_bench_services: the part of the benchmark application that gives
%%% every chaos category something to work on besides idle processes:
%%% four key-value servers, each owning a public named ETS table (state,
%%% registry), a line-echo TCP service on loopback with its connections
%%% (network), and eight clients that use it (traffic for the network and
%%% timing faults). A supervisor with a wide restart budget, so the budget
%%% gate lets chaos kill its workers at the benchmark's rates.
-module(chaos_bench_services).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Kv = [#{id => {kv, N}, start => {chaos_bench_kv, start_link, [N]}} || N <- lists:seq(1, 4)],
    Conns = #{id => conns, type => supervisor,
              start => {supervisor, start_link, [{local, chaos_bench_conns}, chaos_bench_conn, sup]}},
    Echo = #{id => echo, start => {chaos_bench_echo, start_link, []}},
    Clients = [#{id => {client, N}, start => {chaos_bench_client, start_link, []}} || N <- lists:seq(1, 8)],
    {ok, {#{strategy => one_for_one, intensity => 1000000, period => 1},
          Kv ++ [Conns, Echo | Clients]}}.
