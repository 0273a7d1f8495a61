%%% ---------------------------------------------------------------------------
%%% chaos_demo_sup: top-level supervisor (one_for_one).
%%%
%%% Children, in start order (later children depend on earlier ones):
%%%   chaos_demo_store        - owns the public ETS table
%%%   chaos_demo_registry     - session id -> pid
%%%   chaos_demo_session_sup  - simple_one_for_one of session workers
%%%   chaos_demo_pool         - keeps N sessions alive, hands them out
%%%   chaos_demo_tcp_sup      - listener + connection handlers
%%%
%%% one_for_one because every child recovers on its own: sessions re-register
%%% when the registry comes back, the pool adopts/refills sessions, handlers
%%% tolerate a missing ETS table, the acceptor rebinds the same port.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    %% Restart intensity: the "demo level" chaos kills ~3 processes/s across
    %% the whole tree for a minute, i.e. at most ~30 kills per 10 s even if
    %% every single kill hit one of our permanent children. Most kills land
    %% on temporary leaves (sessions, connections) which never count. 100
    %% restarts per 10 s therefore gives >3x headroom over the worst case,
    %% while a child that crash-loops on its own (~hundreds/s) still
    %% escalates within a fraction of a second.
    SupFlags = #{strategy => one_for_one, intensity => 100, period => 10},
    Children =
        [worker(chaos_demo_store),
         worker(chaos_demo_registry),
         supervisor(chaos_demo_session_sup),
         worker(chaos_demo_pool),
         supervisor(chaos_demo_tcp_sup)],
    {ok, {SupFlags, Children}}.

worker(Mod) ->
    #{id => Mod, start => {Mod, start_link, []}, restart => permanent,
      shutdown => 5000, type => worker, modules => [Mod]}.

supervisor(Mod) ->
    #{id => Mod, start => {Mod, start_link, []}, restart => permanent,
      shutdown => infinity, type => supervisor, modules => [Mod]}.
