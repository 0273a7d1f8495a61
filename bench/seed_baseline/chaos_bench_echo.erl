%%% chaos_bench_echo: the benchmark application's line-echo service on
%%% 127.0.0.1 (a port the system picks). It holds the listening socket; an
%%% acceptor linked to it hands each connection to a chaos_bench_conn
%%% under chaos_bench_conns.
-module(chaos_bench_echo).
-behaviour(gen_server).

-export([start_link/0, port/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc The port the service listens on.
port() ->
    gen_server:call(?MODULE, port).

init([]) ->
    {ok, L} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {packet, line},
                                 {active, false}, {reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    _ = proc_lib:spawn_link(fun() -> accept(L) end),
    {ok, #{listen => L, port => Port}}.

handle_call(port, _From, State = #{port := P}) ->
    {reply, P, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info(_Other, State) ->
    {noreply, State}.

accept(L) ->
    case gen_tcp:accept(L) of
        {ok, S} ->
            case supervisor:start_child(chaos_bench_conns, [S]) of
                {ok, Pid} -> _ = gen_tcp:controlling_process(S, Pid), Pid ! go;
                _ -> gen_tcp:close(S)
            end,
            accept(L);
        {error, closed} -> exit(normal);
        {error, _} -> accept(L)
    end.
