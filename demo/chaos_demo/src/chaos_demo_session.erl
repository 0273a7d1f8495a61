%%% ---------------------------------------------------------------------------
%%% chaos_demo_session: a session worker (gen_server) serving `CALL' requests.
%%%
%%% Each session has a unique id and keeps itself registered in
%%% chaos_demo_registry: it monitors the registry and re-registers whenever
%%% the registry restarts (the registry keeps no state across restarts).
%%% Tools:
%%%   echo  Args -> Args
%%%   upper Args -> uppercased Args (Unicode aware)
%%%   sleep Ms   -> "OK" after min(Ms, 5000) ms; replied asynchronously via a
%%%                 timer so one sleeping call does not block the worker.
%%% ---------------------------------------------------------------------------
-module(chaos_demo_session).
-behaviour(gen_server).

-export([start_link/0, id/1, call/4]).
-export([init/1, handle_continue/2, handle_call/3, handle_cast/2, handle_info/2]).

-define(MAX_SLEEP_MS, 5000).
-define(REGISTER_RETRY_MS, 100).

-record(state, {
          id :: binary(),
          registry_ref :: reference() | undefined
         }).

%%% API ------------------------------------------------------------------------

start_link() ->
    gen_server:start_link(?MODULE, [], []).

-spec id(pid()) -> binary().
id(Pid) ->
    gen_server:call(Pid, id).

%% Run a tool on the session. Returns {ok, Text} or {error, Reason}; the
%% caller decides how to treat exits (timeout, dead worker).
-spec call(pid(), binary(), binary(), timeout()) -> {ok, binary()} | {error, atom()}.
call(Pid, Tool, Args, Timeout) ->
    gen_server:call(Pid, {call, Tool, Args}, Timeout).

%%% gen_server -----------------------------------------------------------------

init([]) ->
    Id = iolist_to_binary(["session-", integer_to_list(erlang:unique_integer([positive]))]),
    %% Register after init returns so a slow/restarting registry never delays
    %% or fails the supervisor's start_child.
    {ok, #state{id = Id}, {continue, register}}.

handle_continue(register, S) ->
    {noreply, try_register(S)}.

handle_call({call, Tool, Args}, From, S) ->
    case run_tool(Tool, Args) of
        {sleep, Ms} ->
            erlang:send_after(Ms, self(), {sleep_done, From}),
            {noreply, S};
        Reply ->
            {reply, Reply, S}
    end;
handle_call(id, _From, S = #state{id = Id}) ->
    {reply, Id, S};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_request}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({sleep_done, From}, S) ->
    gen_server:reply(From, {ok, <<"OK">>}),
    {noreply, S};
handle_info(register, S = #state{registry_ref = undefined}) ->
    {noreply, try_register(S)};
handle_info({'DOWN', Ref, process, _, _}, S = #state{registry_ref = Ref}) ->
    %% Registry died: its replacement starts empty, so register again once
    %% it is back.
    erlang:send_after(?REGISTER_RETRY_MS, self(), register),
    {noreply, S#state{registry_ref = undefined}};
handle_info(_Msg, S) ->
    {noreply, S}.

%%% Internal -------------------------------------------------------------------

try_register(S = #state{id = Id}) ->
    case whereis(chaos_demo_registry) of
        undefined ->
            retry_register(S);
        RegPid ->
            %% Monitor first so a registry dying right after our call is
            %% still noticed.
            Ref = erlang:monitor(process, RegPid),
            try chaos_demo_registry:register(Id, self()) of
                ok -> S#state{registry_ref = Ref};
                {error, _} -> erlang:demonitor(Ref, [flush]), retry_register(S)
            catch
                exit:_ -> erlang:demonitor(Ref, [flush]), retry_register(S)
            end
    end.

retry_register(S) ->
    erlang:send_after(?REGISTER_RETRY_MS, self(), register),
    S#state{registry_ref = undefined}.

run_tool(<<"echo">>, Args) ->
    {ok, Args};
run_tool(<<"upper">>, Args) ->
    case unicode:characters_to_binary(string:uppercase(Args)) of
        Bin when is_binary(Bin) -> {ok, Bin};
        _ -> {error, bad_arguments}
    end;
run_tool(<<"sleep">>, Args) ->
    try binary_to_integer(Args) of
        Ms when Ms >= 0 -> {sleep, min(Ms, ?MAX_SLEEP_MS)};
        _ -> {error, bad_arguments}
    catch
        error:badarg -> {error, bad_arguments}
    end;
run_tool(_Unknown, _Args) ->
    {error, unknown_tool}.
