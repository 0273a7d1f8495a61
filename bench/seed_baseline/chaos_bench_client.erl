%%% chaos_bench_client: a client of the echo service: sends a line every
%%% 50 ms and reads the echo; reconnects at the next tick when its
%%% connection is gone.
-module(chaos_bench_client).
-behaviour(gen_server).

-export([start_link/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link() ->
    gen_server:start_link(?MODULE, [], []).

init([]) ->
    {ok, _} = timer:send_interval(50, tick),
    {ok, #{socket => none, sent => 0, echoed => 0}}.

handle_call(_Req, _From, State) ->
    {reply, ok, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info(tick, State = #{socket := none}) ->
    Opts = [binary, {packet, line}, {active, true}],
    case gen_tcp:connect({127, 0, 0, 1}, chaos_bench_echo:port(), Opts, 1000) of
        {ok, S} -> {noreply, State#{socket := S}};
        {error, _} -> {noreply, State}
    end;
handle_info(tick, State = #{socket := S, sent := N}) ->
    case gen_tcp:send(S, <<"ping\n">>) of
        ok -> {noreply, State#{sent := N + 1}};
        {error, _} -> gen_tcp:close(S), {noreply, State#{socket := none}}
    end;
handle_info({tcp, S, _Line}, State = #{socket := S, echoed := E}) ->
    {noreply, State#{echoed := E + 1}};
handle_info({tcp_closed, S}, State = #{socket := S}) ->
    {noreply, State#{socket := none}};
handle_info({tcp_error, S, _}, State = #{socket := S}) ->
    gen_tcp:close(S),
    {noreply, State#{socket := none}};
handle_info(_Other, State) ->
    {noreply, State}.
