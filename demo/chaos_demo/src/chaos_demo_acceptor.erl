%%% ---------------------------------------------------------------------------
%%% chaos_demo_acceptor: owns the listen socket and accepts connections.
%%%
%%% A plain gen_server: accepting is a loop of `accept' self-messages, each
%%% doing gen_tcp:accept/2 with a short timeout. Between iterations the
%%% gen_server loop runs, so system messages (sys:get_state, suspend, code
%%% change), calls and shutdown are all handled -- no special process needed.
%%%
%%% Listener: binds 127.0.0.1 only, port from env `port' (0 = ephemeral).
%%% The bound port is kept in persistent_term so that (a) chaos_demo:port/0
%%% works without calling this process, and (b) after the acceptor is killed
%%% (which closes the listen socket) the replacement rebinds the *same* port
%%% and clients keep working. Established connections are unaffected: each
%%% handler owns its own socket.
%%%
%%% For every accepted socket the connection limit is checked; over the
%%% limit the client gets `ERR too_many_connections' and is closed, else a
%%% handler is started under chaos_demo_conn_sup and given the socket.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_acceptor).
-behaviour(gen_server).

-export([start_link/0, port/0, forget_port/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(PORT_KEY, {?MODULE, port}).
-define(ACCEPT_TIMEOUT, 100).      % ms; bounds latency of system messages
-define(ACCEPT_BACKOFF, 100).      % ms; after e.g. emfile, avoid spinning
-define(BACKLOG, 128).
-define(SEND_TIMEOUT, 5000).       % a client that never reads cannot wedge us
-define(REBIND_ATTEMPTS, 20).      % x REBIND_DELAY = up to 1 s to get our port back
-define(REBIND_DELAY, 50).

-record(state, {lsock :: gen_tcp:socket(), port :: inet:port_number()}).

%%% API ------------------------------------------------------------------------

start_link() ->
    %% See chaos_demo_tcp_sup:await_name_free/1 (orphan after tcp_sup kill).
    ok = chaos_demo_tcp_sup:await_name_free(?MODULE),
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

-spec port() -> inet:port_number() | undefined.
port() ->
    persistent_term:get(?PORT_KEY, undefined).

-spec forget_port() -> ok.
forget_port() ->
    _ = persistent_term:erase(?PORT_KEY),
    ok.

%%% gen_server -----------------------------------------------------------------

init([]) ->
    MaxLine = chaos_demo:env(max_line_length),
    Opts = [binary,
            {ip, {127, 0, 0, 1}},
            %% Line framing by the driver. `buffer' caps a line: a line longer
            %% than MaxLine arrives as a MaxLine+1 chunk without "\n", which
            %% the handler rejects -- memory per connection stays bounded.
            {packet, line},
            {buffer, MaxLine + 1},
            {active, false},
            {reuseaddr, true},
            {nodelay, true},
            {backlog, ?BACKLOG},
            {send_timeout, ?SEND_TIMEOUT},
            {send_timeout_close, true}],
    case listen(Opts) of
        {ok, LSock, Port} ->
            remember_port(Port),
            self() ! accept,
            {ok, #state{lsock = LSock, port = Port}};
        {error, Reason} ->
            {stop, {listen_failed, Reason}}
    end.

handle_call(port, _From, S = #state{port = Port}) ->
    {reply, Port, S};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_request}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info(accept, S = #state{lsock = LSock}) ->
    case gen_tcp:accept(LSock, ?ACCEPT_TIMEOUT) of
        {ok, Sock} ->
            dispatch(Sock),
            self() ! accept,
            {noreply, S};
        {error, timeout} ->
            self() ! accept,
            {noreply, S};
        {error, closed} ->
            {stop, listen_socket_closed, S};
        {error, Reason} ->
            logger:warning("chaos_demo_acceptor: accept failed: ~p", [Reason]),
            erlang:send_after(?ACCEPT_BACKOFF, self(), accept),
            {noreply, S}
    end;
handle_info(_Msg, S) ->
    {noreply, S}.

terminate(_Reason, #state{lsock = LSock}) ->
    _ = gen_tcp:close(LSock),
    ok.

%%% Internal -------------------------------------------------------------------

%% Configured port wins; with port 0 prefer the port a previous incarnation
%% bound, falling back to a fresh ephemeral port if it stays taken.
listen(Opts) ->
    case chaos_demo:env(port) of
        0 ->
            case port() of
                Prev when is_integer(Prev), Prev > 0 ->
                    case listen_retry(Prev, Opts, ?REBIND_ATTEMPTS) of
                        {error, eaddrinuse} ->
                            logger:warning("chaos_demo_acceptor: port ~b taken, "
                                           "using a new ephemeral port", [Prev]),
                            do_listen(0, Opts);
                        Other ->
                            Other
                    end;
                _ ->
                    do_listen(0, Opts)
            end;
        Port ->
            listen_retry(Port, Opts, ?REBIND_ATTEMPTS)
    end.

%% When the previous acceptor was killed its listen socket is closed
%% asynchronously (the port gets the exit signal after the supervisor may
%% already have restarted us), so the port can still be in use for a few
%% milliseconds: retry briefly instead of giving up on it.
listen_retry(Port, Opts, Attempts) ->
    case do_listen(Port, Opts) of
        {error, eaddrinuse} when Attempts > 1 ->
            timer:sleep(?REBIND_DELAY),
            listen_retry(Port, Opts, Attempts - 1);
        Result ->
            Result
    end.

do_listen(Port, Opts) ->
    case gen_tcp:listen(Port, Opts) of
        {ok, LSock} ->
            {ok, Bound} = inet:port(LSock),
            {ok, LSock, Bound};
        {error, _} = Error ->
            Error
    end.

remember_port(Port) ->
    %% Only write on change: persistent_term updates are costly node-wide.
    case port() of
        Port -> ok;
        _ -> persistent_term:put(?PORT_KEY, Port)
    end.

dispatch(Sock) ->
    Max = chaos_demo:env(max_connections),
    case connection_count() of
        {ok, N} when N < Max -> hand_over(Sock);
        {ok, _} -> reject(Sock, <<"ERR too_many_connections\n">>);
        error -> reject(Sock, <<"ERR unavailable\n">>)
    end.

connection_count() ->
    try supervisor:count_children(chaos_demo_conn_sup) of
        Counts -> {ok, proplists:get_value(active, Counts, 0)}
    catch
        exit:_ -> error
    end.

hand_over(Sock) ->
    try chaos_demo_conn_sup:start_connection(Sock) of
        {ok, Pid} ->
            case gen_tcp:controlling_process(Sock, Pid) of
                ok ->
                    %% Only now may the handler read: it must own the socket
                    %% before activating it, or data would be sent to us.
                    Pid ! {socket_ready, Sock},
                    ok;
                {error, _} ->
                    _ = gen_tcp:close(Sock),
                    _ = supervisor:terminate_child(chaos_demo_conn_sup, Pid),
                    ok
            end;
        _Error ->
            reject(Sock, <<"ERR unavailable\n">>)
    catch
        exit:_ -> reject(Sock, <<"ERR unavailable\n">>)
    end.

%% Send a final error line and close. Whatever the client already sent is
%% drained first: closing with unread data makes the kernel send RST, which
%% can destroy our error line before the client reads it.
reject(Sock, Line) ->
    _ = gen_tcp:send(Sock, Line),
    _ = inet:setopts(Sock, [{packet, raw}]),
    drain(Sock, 4),
    _ = gen_tcp:close(Sock),
    ok.

drain(_Sock, 0) ->
    ok;
drain(Sock, N) ->
    case gen_tcp:recv(Sock, 0, 0) of
        {ok, _} -> drain(Sock, N - 1);
        _ -> ok
    end.
