%%% chaos_bench_kv: a key-value server of the benchmark application. It
%%% owns a public named ETS table of 100 rows, {Key, Count, Label}, and
%%% counts the updates it is sent.
-module(chaos_bench_kv).
-behaviour(gen_server).

-export([start_link/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link(N) ->
    Name = list_to_atom("bench_kv_" ++ integer_to_list(N)),
    gen_server:start_link({local, Name}, ?MODULE, Name, []).

init(Name) ->
    Table = ets:new(list_to_atom(atom_to_list(Name) ++ "_table"), [named_table, public, set]),
    true = ets:insert(Table, [{K, 0, <<"row">>} || K <- lists:seq(1, 100)]),
    {ok, #{table => Table, updates => 0}}.

handle_call(updates, _From, State = #{updates := U}) ->
    {reply, U, State}.

handle_cast({update, K}, State = #{table := T, updates := U}) ->
    _ = ets:update_counter(T, K, {2, 1}, {K, 0, <<"row">>}),
    {noreply, State#{updates := U + 1}}.

handle_info(_Other, State) ->
    {noreply, State}.
