%%% ---------------------------------------------------------------------------
%%% chaos_demo_conn_sup: simple_one_for_one supervisor of connection handlers.
%%%
%%% Handlers are `temporary': a TCP connection cannot be "restarted" (the
%%% socket dies with its owner), so restarting a handler would be wrong, and
%%% temporary children never count against the restart intensity -- killing
%%% handlers can never take this supervisor down. Its active child count is
%%% the live connection count used for the max_connections limit and STATS.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_conn_sup).
-behaviour(supervisor).

-export([start_link/0, start_connection/1, init/1]).

start_link() ->
    ok = chaos_demo_tcp_sup:await_name_free(?MODULE),
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec start_connection(gen_tcp:socket()) -> {ok, pid()} | {error, term()}.
start_connection(Sock) ->
    supervisor:start_child(?MODULE, [Sock]).

init([]) ->
    SupFlags = #{strategy => simple_one_for_one, intensity => 10, period => 10},
    Child = #{id => chaos_demo_conn,
              start => {chaos_demo_conn, start_link, []},
              restart => temporary,
              %% Handlers have no state worth saving; the socket closes
              %% with the process.
              shutdown => brutal_kill,
              type => worker,
              modules => [chaos_demo_conn]},
    {ok, {SupFlags, [Child]}}.
