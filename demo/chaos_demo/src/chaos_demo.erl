%%% ---------------------------------------------------------------------------
%%% chaos_demo: public API of the demo application.
%%%
%%% The application is a stand-in for an MCP server (erlmcp): a line-protocol
%%% TCP server on 127.0.0.1 with a session registry, an ETS-backed store and a
%%% pool of session workers. It exists to be attacked by the chaos tool, so
%%% this module only offers what tests and operators need: the actual
%%% listening port, a status snapshot and typed access to the app env.
%%% ---------------------------------------------------------------------------
-module(chaos_demo).

-export([start/0, stop/0, port/0, status/0, env/1]).

-define(APP, chaos_demo).

%% @doc Start the application and its dependencies.
-spec start() -> {ok, [atom()]} | {error, term()}.
start() ->
    application:ensure_all_started(?APP).

-spec stop() -> ok | {error, term()}.
stop() ->
    application:stop(?APP).

%% @doc The TCP port the listener is bound to (useful when env `port' is 0).
%% Returns `undefined' if the listener has never been bound.
-spec port() -> inet:port_number() | undefined.
port() ->
    chaos_demo_acceptor:port().

%% @doc Snapshot of the live counts. Never crashes: a component that is
%% restarting right now simply reports 0, which is what a chaos test expects
%% to observe while the tree heals.
-spec status() -> #{connections := non_neg_integer(),
                    sessions := non_neg_integer(),
                    registered := non_neg_integer(),
                    keys := non_neg_integer(),
                    port := inet:port_number() | undefined}.
status() ->
    #{connections => active_children(chaos_demo_conn_sup),
      sessions => active_children(chaos_demo_session_sup),
      registered => chaos_demo_registry:count(),
      keys => chaos_demo_store:size(),
      port => port()}.

%% @doc Read an app env key, falling back to the built-in default so the
%% code works even if the .app env list is incomplete.
-spec env(atom()) -> term().
env(Key) ->
    application:get_env(?APP, Key, default(Key)).

%%% Internal -------------------------------------------------------------------

default(port) -> 0;
default(sessions) -> 8;
default(max_connections) -> 100;
default(max_line_length) -> 4096;
default(rate_limit) -> 1000;
default(call_timeout) -> 6000;
default(pool_check_interval) -> 1000;
default(preload_keys) -> 100.

active_children(Sup) ->
    try supervisor:count_children(Sup) of
        Counts -> proplists:get_value(active, Counts, 0)
    catch
        exit:_ -> 0
    end.
