%%% ---------------------------------------------------------------------------
%%% chaos_demo_store: owner of the public named ETS table `chaos_demo_store'.
%%%
%%% Connection handlers read and write the table directly (it is public, set,
%%% read_concurrency) so the store process is never a bottleneck; it exists
%%% only to own the table. If the store is killed the table dies with it and
%%% is recreated empty on restart -- acceptable for a demo, and a visible,
%%% checkable effect of chaos. The accessors below turn "table missing right
%%% now" into {error, unavailable} instead of a crash.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_store).
-behaviour(gen_server).

-export([start_link/0, put/2, get/1, size/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TABLE, chaos_demo_store).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%%% Direct table access (runs in the caller) --------------------------------------

-spec put(binary(), binary()) -> ok | {error, unavailable}.
put(Key, Value) when is_binary(Key), is_binary(Value) ->
    try ets:insert(?TABLE, {Key, Value}) of
        true -> ok
    catch
        error:badarg -> {error, unavailable}
    end.

-spec get(binary()) -> {ok, binary()} | not_found | {error, unavailable}.
get(Key) when is_binary(Key) ->
    try ets:lookup(?TABLE, Key) of
        [{_, Value}] -> {ok, Value};
        [] -> not_found
    catch
        error:badarg -> {error, unavailable}
    end.

%% Number of keys; 0 while the table does not exist.
-spec size() -> non_neg_integer().
size() ->
    case ets:info(?TABLE, size) of
        undefined -> 0;
        N -> N
    end.

%%% gen_server -----------------------------------------------------------------

init([]) ->
    ?TABLE = ets:new(?TABLE, [set, public, named_table, {read_concurrency, true}]),
    %% Some state to start from (env `preload_keys'): a store is rarely empty,
    %% and state chaos needs rows to work on. Restarts reload the same rows.
    N = chaos_demo:env(preload_keys),
    true = ets:insert(?TABLE, [{<<"preload:", (integer_to_binary(I))/binary>>,
                               <<"value ", (integer_to_binary(I))/binary>>}
                              || I <- lists:seq(1, N)]),
    {ok, #{}}.

handle_call(_Req, _From, S) ->
    {reply, {error, unknown_request}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info(_Msg, S) ->
    {noreply, S}.
