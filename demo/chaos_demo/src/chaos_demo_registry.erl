%%% ---------------------------------------------------------------------------
%%% chaos_demo_registry: registered gen_server mapping session ids to pids.
%%%
%%% Every registered pid is monitored and its entry removed when it dies, so
%%% lookups never return a dead session for long. The registry holds no
%%% durable state: after a restart it starts empty and the sessions, which
%%% monitor the registry, register themselves again.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_registry).
-behaviour(gen_server).

-export([start_link/0, register/2, unregister/1, lookup/1, count/0, list/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(SERVER, ?MODULE).
-define(TIMEOUT, 1000).

-record(state, {
          by_id = #{} :: #{term() => {pid(), reference()}},
          by_ref = #{} :: #{reference() => term()}
         }).

%%% API ------------------------------------------------------------------------

start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

-spec register(term(), pid()) -> ok | {error, already_registered}.
register(Id, Pid) when is_pid(Pid) ->
    gen_server:call(?SERVER, {register, Id, Pid}, ?TIMEOUT).

-spec unregister(term()) -> ok.
unregister(Id) ->
    gen_server:call(?SERVER, {unregister, Id}, ?TIMEOUT).

-spec lookup(term()) -> {ok, pid()} | not_found.
lookup(Id) ->
    gen_server:call(?SERVER, {lookup, Id}, ?TIMEOUT).

%% Safe for status reporting: 0 while the registry is restarting.
-spec count() -> non_neg_integer().
count() ->
    try gen_server:call(?SERVER, count, ?TIMEOUT)
    catch exit:_ -> 0
    end.

-spec list() -> [{term(), pid()}].
list() ->
    gen_server:call(?SERVER, list, ?TIMEOUT).

%%% gen_server -----------------------------------------------------------------

init([]) ->
    {ok, #state{}}.

handle_call({register, Id, Pid}, _From, S = #state{by_id = ById, by_ref = ByRef}) ->
    case maps:find(Id, ById) of
        {ok, {Pid, _Ref}} ->
            %% Idempotent: a session retrying after a lost reply is fine.
            {reply, ok, S};
        {ok, {_Other, _Ref}} ->
            {reply, {error, already_registered}, S};
        error ->
            Ref = erlang:monitor(process, Pid),
            {reply, ok, S#state{by_id = ById#{Id => {Pid, Ref}},
                                by_ref = ByRef#{Ref => Id}}}
    end;
handle_call({unregister, Id}, _From, S) ->
    {reply, ok, remove_id(Id, S)};
handle_call({lookup, Id}, _From, S = #state{by_id = ById}) ->
    Reply = case maps:find(Id, ById) of
                {ok, {Pid, _}} -> {ok, Pid};
                error -> not_found
            end,
    {reply, Reply, S};
handle_call(count, _From, S = #state{by_id = ById}) ->
    {reply, map_size(ById), S};
handle_call(list, _From, S = #state{by_id = ById}) ->
    {reply, [{Id, Pid} || {Id, {Pid, _}} <- maps:to_list(ById)], S};
handle_call(_Unknown, _From, S) ->
    {reply, {error, unknown_request}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({'DOWN', Ref, process, _Pid, _Reason}, S = #state{by_ref = ByRef, by_id = ById}) ->
    case maps:take(Ref, ByRef) of
        {Id, ByRef1} -> {noreply, S#state{by_ref = ByRef1, by_id = maps:remove(Id, ById)}};
        error -> {noreply, S}
    end;
handle_info(_Msg, S) ->
    {noreply, S}.

%%% Internal -------------------------------------------------------------------

remove_id(Id, S = #state{by_id = ById, by_ref = ByRef}) ->
    case maps:take(Id, ById) of
        {{_Pid, Ref}, ById1} ->
            erlang:demonitor(Ref, [flush]),
            S#state{by_id = ById1, by_ref = maps:remove(Ref, ByRef)};
        error ->
            S
    end.
