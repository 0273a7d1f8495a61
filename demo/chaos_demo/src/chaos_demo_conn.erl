%%% ---------------------------------------------------------------------------
%%% chaos_demo_conn: one gen_server per TCP connection (temporary child of
%%% chaos_demo_conn_sup).
%%%
%%% Lifecycle: waiting (acceptor still owns the socket) -> running (reads
%%% one line at a time with {active, once}, replies one line) -> closing
%%% (after a fatal error: reply sent, write side shut down, input drained
%%% for a short linger so the reply is not lost to a TCP RST).
%%%
%%% Limits enforced here: maximum line length (reply `ERR line_too_long' and
%%% close), per-connection token-bucket request rate (`ERR rate_limited').
%%% Every request is evaluated inside try/catch: malformed input or a
%%% failing dependency produces `ERR <reason>', never a handler crash.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_conn).
-behaviour(gen_server).

-export([start_link/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(HANDSHAKE_TIMEOUT, 5000).  % acceptor died before handing the socket
-define(LINGER_MS, 1000).

-record(state, {
          sock :: gen_tcp:socket(),
          phase = waiting :: waiting | running | closing,
          max_line :: pos_integer(),
          rate :: pos_integer() | infinity,   % tokens per second = burst size
          tokens :: float(),
          last :: integer(),                  % monotonic time, microseconds
          call_timeout :: timeout()
         }).

%%% API ------------------------------------------------------------------------

start_link(Sock) ->
    gen_server:start_link(?MODULE, [Sock], []).

%%% gen_server -----------------------------------------------------------------

init([Sock]) ->
    Rate = chaos_demo:env(rate_limit),
    erlang:send_after(?HANDSHAKE_TIMEOUT, self(), handshake_timeout),
    {ok, #state{sock = Sock,
                max_line = chaos_demo:env(max_line_length),
                rate = Rate,
                tokens = case Rate of infinity -> 0.0; _ -> float(Rate) end,
                last = erlang:monotonic_time(microsecond),
                call_timeout = chaos_demo:env(call_timeout)}}.

handle_call(_Req, _From, S) ->
    {reply, {error, unknown_request}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({socket_ready, Sock}, S = #state{sock = Sock, phase = waiting}) ->
    case inet:setopts(Sock, [{active, once}]) of
        ok -> {noreply, S#state{phase = running}};
        {error, _} -> {stop, normal, S}
    end;
handle_info(handshake_timeout, S = #state{phase = waiting}) ->
    {stop, normal, S};
handle_info({tcp, Sock, Data}, S = #state{sock = Sock, phase = running}) ->
    handle_packet(Data, S);
handle_info({tcp, Sock, _Data}, S = #state{sock = Sock, phase = closing}) ->
    %% Discard input while lingering; bounded by the linger timer.
    _ = inet:setopts(Sock, [{active, once}]),
    {noreply, S};
handle_info({tcp_closed, Sock}, S = #state{sock = Sock}) ->
    {stop, normal, S};
handle_info({tcp_error, Sock, _Reason}, S = #state{sock = Sock}) ->
    {stop, normal, S};
handle_info(linger_done, S = #state{phase = closing}) ->
    {stop, normal, S};
handle_info(_Msg, S) ->
    %% Includes stray late replies and timers from an earlier phase.
    {noreply, S}.

%%% Internal -------------------------------------------------------------------

handle_packet(Data, S = #state{max_line = Max}) ->
    case frame(Data, Max) of
        too_long ->
            fatal(<<"ERR line_too_long">>, S);
        {line, Line} ->
            {Reply, S1} = case take_token(S) of
                              {ok, S0} -> {safe_execute(Line, S0), S0};
                              {limited, S0} -> {{error, rate_limited}, S0}
                          end,
            case send(S1, chaos_demo_protocol:format(Reply)) of
                ok ->
                    case inet:setopts(S1#state.sock, [{active, once}]) of
                        ok -> {noreply, S1};
                        {error, _} -> {stop, normal, S1}
                    end;
                {error, _} ->
                    {stop, normal, S1}
            end
    end.

%% With {packet, line} and {buffer, Max + 1} a complete line ends in "\n".
%% A chunk without "\n" is either an overlong line cut by the driver or the
%% last, unterminated line before EOF (accepted if short enough).
frame(<<>>, _Max) ->
    {line, <<>>};                      % never produced by the driver; be safe
frame(Data, Max) ->
    Complete = binary:last(Data) =:= $\n,
    Body = chaos_demo_protocol:strip_eol(Data),
    case Complete of
        true when byte_size(Data) - 1 =< Max -> {line, Body};
        false when byte_size(Data) =< Max -> {line, Body};
        _ -> too_long
    end.

take_token(S = #state{rate = infinity}) ->
    {ok, S};
take_token(S = #state{rate = Rate, tokens = T0, last = Last}) ->
    Now = erlang:monotonic_time(microsecond),
    T = min(float(Rate), T0 + (Now - Last) * Rate / 1.0e6),
    case T >= 1.0 of
        true -> {ok, S#state{tokens = T - 1.0, last = Now}};
        false -> {limited, S#state{tokens = T, last = Now}}
    end.

safe_execute(Line, S) ->
    try
        case chaos_demo_protocol:parse(Line) of
            {ok, Req} -> execute(Req, S);
            {error, _} = Error -> Error
        end
    catch
        Class:Reason ->
            %% A bug must cost one request, not the connection.
            logger:error("chaos_demo_conn: request failed: ~p:~p", [Class, Reason]),
            {error, internal}
    end.

execute(ping, _S) ->
    pong;
execute({put, K, V}, _S) ->
    chaos_demo_store:put(K, V);
execute({get, K}, _S) ->
    case chaos_demo_store:get(K) of
        {ok, V} -> {value, V};
        Other -> Other
    end;
execute({call, Tool, Args}, #state{call_timeout = Timeout}) ->
    call_tool(Tool, Args, Timeout);
execute(stats, _S) ->
    #{connections := C, sessions := Sn, keys := K} = chaos_demo:status(),
    {stats, C, Sn, K}.

call_tool(Tool, Args, Timeout) ->
    case chaos_demo_pool:checkout() of
        {ok, Pid} ->
            try chaos_demo_session:call(Pid, Tool, Args, Timeout) of
                {ok, Text} -> {result, Text};
                {error, _} = Error -> Error
            catch
                exit:{timeout, _} -> {error, timeout};
                exit:_ -> {error, busy}        % worker died mid-call
            end;
        {error, _} ->
            {error, busy}
    end.

send(#state{sock = Sock}, Line) ->
    gen_tcp:send(Sock, [Line, $\n]).

%% Reply, stop writing, and linger briefly reading (and discarding) input so
%% the kernel does not RST the connection over unread data.
fatal(Line, S = #state{sock = Sock}) ->
    _ = send(S, Line),
    _ = gen_tcp:shutdown(Sock, write),
    case inet:setopts(Sock, [{packet, raw}, {active, once}]) of
        ok ->
            erlang:send_after(?LINGER_MS, self(), linger_done),
            {noreply, S#state{phase = closing}};
        {error, _} ->
            {stop, normal, S}
    end.
