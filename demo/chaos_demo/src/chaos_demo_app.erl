%%% ---------------------------------------------------------------------------
%%% chaos_demo_app: application callback module. Starts the top supervisor
%%% and cleans up node-global state (the remembered listen port) on stop.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_StartType, _StartArgs) ->
    chaos_demo_sup:start_link().

stop(_State) ->
    %% The port is remembered across acceptor restarts only; a fresh
    %% application start may pick a new ephemeral port.
    chaos_demo_acceptor:forget_port(),
    ok.
