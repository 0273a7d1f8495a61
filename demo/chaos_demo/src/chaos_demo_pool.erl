%%% ---------------------------------------------------------------------------
%%% chaos_demo_pool: keeps N session workers alive and hands them out
%%% round-robin to connection handlers.
%%%
%%% Sessions live under chaos_demo_session_sup (temporary children); the
%%% pool monitors them and is the single owner of the "how many" policy:
%%%   * on a session's 'DOWN' it starts a replacement at once;
%%%   * a periodic tick (env `pool_check_interval') refills anything a failed
%%%     start left missing, e.g. while chaos_demo_session_sup was restarting;
%%%   * after its own restart it adopts the sessions already running under
%%%     the supervisor instead of leaking them and starting N more.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_pool).
-behaviour(gen_server).

-export([start_link/0, checkout/0, workers/0]).
-export([init/1, handle_continue/2, handle_call/3, handle_cast/2, handle_info/2]).

-define(SERVER, ?MODULE).
-define(CALL_TIMEOUT, 1000).

-record(state, {
          size :: non_neg_integer(),
          interval :: pos_integer(),
          ring = queue:new() :: queue:queue(pid()),   % round-robin order
          mons = #{} :: #{reference() => pid()}
         }).

%%% API ------------------------------------------------------------------------

start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% Next session in round-robin order. {error, no_workers} if none is alive,
%% {error, unavailable} if the pool itself is restarting or overloaded.
-spec checkout() -> {ok, pid()} | {error, no_workers | unavailable}.
checkout() ->
    try gen_server:call(?SERVER, checkout, ?CALL_TIMEOUT)
    catch exit:_ -> {error, unavailable}
    end.

-spec workers() -> [pid()].
workers() ->
    gen_server:call(?SERVER, workers, ?CALL_TIMEOUT).

%%% gen_server -----------------------------------------------------------------

init([]) ->
    S = #state{size = chaos_demo:env(sessions),
               interval = chaos_demo:env(pool_check_interval)},
    schedule_tick(S),
    %% Fill after init so the top supervisor is not held up by start_child.
    {ok, S, {continue, refill}}.

handle_continue(refill, S) ->
    {noreply, refill(S)}.

handle_call(checkout, _From, S = #state{ring = Ring}) ->
    case queue:out(Ring) of
        {{value, Pid}, Rest} -> {reply, {ok, Pid}, S#state{ring = queue:in(Pid, Rest)}};
        {empty, _} -> {reply, {error, no_workers}, S}
    end;
handle_call(workers, _From, S = #state{ring = Ring}) ->
    {reply, queue:to_list(Ring), S};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_request}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({'DOWN', Ref, process, Pid, _Reason}, S = #state{mons = Mons, ring = Ring}) ->
    case maps:take(Ref, Mons) of
        {Pid, Mons1} ->
            S1 = S#state{mons = Mons1, ring = queue:delete(Pid, Ring)},
            {noreply, refill(S1)};
        error ->
            {noreply, S}
    end;
handle_info(tick, S) ->
    schedule_tick(S),
    {noreply, refill(S)};
handle_info(_Msg, S) ->
    {noreply, S}.

%%% Internal -------------------------------------------------------------------

schedule_tick(#state{interval = Interval}) ->
    erlang:send_after(Interval, self(), tick).

refill(S0) ->
    S = adopt(S0),
    start_missing(S, S#state.size - maps:size(S#state.mons)).

%% Take over sessions that run under the supervisor but are unknown to us
%% (only happens after the pool itself restarted).
adopt(S = #state{mons = Mons}) ->
    Known = maps:values(Mons),
    Running = try supervisor:which_children(chaos_demo_session_sup)
              catch exit:_ -> []
              end,
    lists:foldl(fun(Pid, Acc) -> add(Pid, Acc) end, S,
                [Pid || {_, Pid, _, _} <- Running, is_pid(Pid),
                        not lists:member(Pid, Known)]).

start_missing(S, N) when N =< 0 ->
    S;
start_missing(S, N) ->
    try chaos_demo_session_sup:start_session() of
        {ok, Pid} -> start_missing(add(Pid, S), N - 1);
        _Error -> S                    % retried on the next tick
    catch
        exit:_ -> S                    % session sup restarting; next tick
    end.

add(Pid, S = #state{mons = Mons, ring = Ring}) ->
    Ref = erlang:monitor(process, Pid),
    S#state{mons = Mons#{Ref => Pid}, ring = queue:in(Pid, Ring)}.
