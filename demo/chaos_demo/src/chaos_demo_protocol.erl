%%% ---------------------------------------------------------------------------
%%% chaos_demo_protocol: pure parsing/formatting of the line protocol.
%%%
%%% Kept free of side effects so every malformed input maps to a reason
%%% atom (sent back as `ERR <reason>') instead of an exception in a handler.
%%%
%%%   PING               -> PONG
%%%   PUT <k> <v...>     -> OK              (v = rest of line, may hold spaces)
%%%   GET <k>            -> VALUE <v> | NOT_FOUND
%%%   CALL <tool> <args> -> RESULT <text> | ERR <reason>
%%%   STATS              -> STATS connections=N sessions=M keys=K
%%% Command words are case-insensitive; arguments are taken verbatim.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_protocol).

-export([parse/1, strip_eol/1, format/1]).

-type request() :: ping | stats
                 | {put, binary(), binary()}
                 | {get, binary()}
                 | {call, binary(), binary()}.
-type reason() :: empty_line | invalid_utf8 | control_characters
                | unknown_command | bad_arguments.
-export_type([request/0, reason/0]).

%% Remove the "\n" terminator and a tolerated trailing "\r".
-spec strip_eol(binary()) -> binary().
strip_eol(Line) ->
    strip_cr(strip_char(Line, $\n)).

strip_cr(Line) -> strip_char(Line, $\r).

strip_char(Line, C) ->
    Size = byte_size(Line) - 1,
    case Line of
        <<Body:Size/binary, C>> -> Body;
        _ -> Line
    end.

%% Parse one line (terminator already stripped).
-spec parse(binary()) -> {ok, request()} | {error, reason()}.
parse(Line) when is_binary(Line) ->
    case blank(Line) of
        true -> {error, empty_line};
        false ->
            case valid_utf8(Line) of
                false -> {error, invalid_utf8};
                true ->
                    case has_control(Line) of
                        true -> {error, control_characters};
                        false -> parse_command(Line)
                    end
            end
    end.

%% Turn a handler result into the reply line (without "\n").
-spec format(term()) -> iodata().
format(pong) -> <<"PONG">>;
format(ok) -> <<"OK">>;
format({value, V}) -> [<<"VALUE ">>, V];
format(not_found) -> <<"NOT_FOUND">>;
format({result, Text}) -> [<<"RESULT ">>, Text];
format({stats, C, S, K}) ->
    io_lib:format("STATS connections=~b sessions=~b keys=~b", [C, S, K]);
format({error, Reason}) when is_atom(Reason) -> [<<"ERR ">>, atom_to_binary(Reason, utf8)].

%%% Internal -------------------------------------------------------------------

parse_command(Line) ->
    {Word, Rest} = case binary:split(Line, <<" ">>) of
                       [W] -> {W, none};
                       [W, R] -> {W, R}
                   end,
    command(string:uppercase(Word), Rest).

command(<<"PING">>, Rest) -> no_args(ping, Rest);
command(<<"STATS">>, Rest) -> no_args(stats, Rest);
command(<<"PUT">>, Rest) when is_binary(Rest) ->
    case binary:split(Rest, <<" ">>) of
        [K, V] when K =/= <<>>, V =/= <<>> -> {ok, {put, K, V}};
        _ -> {error, bad_arguments}
    end;
command(<<"GET">>, Rest) when is_binary(Rest), Rest =/= <<>> ->
    case binary:match(Rest, <<" ">>) of
        nomatch -> {ok, {get, Rest}};
        _ -> {error, bad_arguments}
    end;
command(<<"CALL">>, Rest) when is_binary(Rest) ->
    case binary:split(Rest, <<" ">>) of
        [Tool, Args] when Tool =/= <<>>, Args =/= <<>> -> {ok, {call, Tool, Args}};
        _ -> {error, bad_arguments}
    end;
command(Cmd, _Rest) when Cmd =:= <<"PUT">>; Cmd =:= <<"GET">>; Cmd =:= <<"CALL">> ->
    {error, bad_arguments};
command(_Other, _Rest) ->
    {error, unknown_command}.

%% "PING" and "PING " are fine, "PING x" is not.
no_args(Req, none) -> {ok, Req};
no_args(Req, <<>>) -> {ok, Req};
no_args(_Req, _) -> {error, bad_arguments}.

blank(Line) ->
    lists:all(fun(C) -> C =:= $\s orelse C =:= $\t end, binary_to_list(Line)).

valid_utf8(Line) ->
    case unicode:characters_to_binary(Line, utf8, utf8) of
        Bin when is_binary(Bin) -> true;
        _ -> false
    end.

%% C0 controls (except TAB) and DEL: binary garbage, not text.
has_control(Line) ->
    lists:any(fun(C) -> (C < 32 andalso C =/= $\t) orelse C =:= 127 end,
              binary_to_list(Line)).
