%%% ---------------------------------------------------------------------------
%%% chaos_demo_tcp_sup: supervisor of the TCP front end (one_for_one).
%%%
%%%   chaos_demo_conn_sup  - simple_one_for_one of connection handlers
%%%   chaos_demo_acceptor  - owns the listen socket, accepts, dispatches
%%%
%%% conn_sup starts first because the acceptor hands sockets to it.
%%% one_for_one: an acceptor restart must not drop established connections
%%% (each handler owns its own socket), and a conn_sup restart does not need
%%% a new listen socket (the acceptor finds conn_sup by registered name).
%%% ---------------------------------------------------------------------------
-module(chaos_demo_tcp_sup).
-behaviour(supervisor).

-export([start_link/0, init/1, await_name_free/1]).

-define(NAME_WAIT, 5000).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    %% Same reasoning as chaos_demo_sup: ~3 kills/s of demo chaos is at most
    %% ~30 restarts per 10 s here even if every kill hit the acceptor or
    %% conn_sup; 100/10 s leaves headroom, and escalating to the top
    %% supervisor costs only one restart there.
    SupFlags = #{strategy => one_for_one, intensity => 100, period => 10},
    Children =
        [#{id => chaos_demo_conn_sup,
           start => {chaos_demo_conn_sup, start_link, []},
           restart => permanent, shutdown => infinity, type => supervisor,
           modules => [chaos_demo_conn_sup]},
         #{id => chaos_demo_acceptor,
           start => {chaos_demo_acceptor, start_link, []},
           restart => permanent, shutdown => 5000, type => worker,
           modules => [chaos_demo_acceptor]}],
    {ok, {SupFlags, Children}}.

%% Called by our registered children at the top of their start_link/0, i.e.
%% in this supervisor's process while it (re)starts them.
%%
%% Why: when chaos_demo_tcp_sup itself is killed, its children are orphaned
%% but not dead yet -- the old chaos_demo_conn_sup traps exits and first
%% shuts down its handlers, still holding its registered name, while the
%% top supervisor has already started a new chaos_demo_tcp_sup. Starting
%% the replacement then fails with {already_started, Old}; the supervisor
%% retries immediately, and that burst of failed restarts alone exhausts
%% the restart intensity (observed: app down after ~30 s of demo chaos).
%% Waiting, bounded, for the old incarnation to exit turns this into one
%% successful restart. A genuinely live duplicate still fails after the
%% wait, as it should.
-spec await_name_free(atom()) -> ok.
await_name_free(Name) ->
    case whereis(Name) of
        undefined ->
            ok;
        Old ->
            Ref = erlang:monitor(process, Old),
            receive
                {'DOWN', Ref, process, Old, _} -> ok
            after ?NAME_WAIT ->
                    erlang:demonitor(Ref, [flush]),
                    ok
            end
    end.
