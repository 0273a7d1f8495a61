%%% chaos_bench_conn: one connection of the echo service (a gen_server
%%% that owns its socket, active, and sends every line back), and the
%%% simple_one_for_one supervisor of connections (init(sup)).
-module(chaos_bench_conn).
-behaviour(gen_server).

-export([start_link/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link(Socket) ->
    gen_server:start_link(?MODULE, Socket, []).

init(sup) ->
    Conn = #{id => conn, start => {?MODULE, start_link, []}, restart => temporary},
    {ok, {#{strategy => simple_one_for_one, intensity => 1000000, period => 1}, [Conn]}};
init(Socket) ->
    {ok, #{socket => Socket}}.

handle_call(_Req, _From, State) ->
    {reply, ok, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info(go, State = #{socket := S}) ->
    ok = inet:setopts(S, [{active, true}]),
    {noreply, State};
handle_info({tcp, S, Line}, State = #{socket := S}) ->
    _ = gen_tcp:send(S, Line),
    {noreply, State};
handle_info({tcp_closed, S}, State = #{socket := S}) ->
    {stop, normal, State};
handle_info({tcp_error, S, _}, State = #{socket := S}) ->
    {stop, normal, State};
handle_info(_Other, State) ->
    {noreply, State}.
