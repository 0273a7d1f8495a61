%%% ---------------------------------------------------------------------------
%%% chaos_demo_session_sup: simple_one_for_one supervisor of session workers.
%%%
%%% Children are `temporary': chaos_demo_pool alone decides how many sessions
%%% exist and starts replacements. With `transient' the supervisor would also
%%% restart killed sessions, racing the pool (duplicate workers the pool does
%%% not know about) and counting every kill against this supervisor's
%%% intensity, which would let worker kills escalate into a supervisor crash.
%%% With `temporary' worker deaths never count, so the intensity below only
%%% matters for its own (nonexistent) restarts.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_session_sup).
-behaviour(supervisor).

-export([start_link/0, start_session/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec start_session() -> {ok, pid()} | {error, term()}.
start_session() ->
    supervisor:start_child(?MODULE, []).

init([]) ->
    SupFlags = #{strategy => simple_one_for_one, intensity => 10, period => 10},
    Child = #{id => chaos_demo_session,
              start => {chaos_demo_session, start_link, []},
              restart => temporary,
              shutdown => 5000,
              type => worker,
              modules => [chaos_demo_session]},
    {ok, {SupFlags, [Child]}}.
