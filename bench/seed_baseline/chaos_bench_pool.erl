%%% chaos_bench_pool: keeps the scale benchmark's population at its size.
%%% A gen_server that starts N idle processes (proc_lib, so they look like
%%% any OTP process), monitors them, and starts a replacement for each one
%%% that dies, so a benchmark that kills thousands of processes a second
%%% does not run out of victims. Not a supervisor: a kill's victim has no
%%% supervisor to wait for, like the processes of a worker pool.
-module(chaos_bench_pool).
-behaviour(gen_server).

-export([start_link/0, populate/1, size/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Grow the population to N processes; returns N.
-spec populate(non_neg_integer()) -> non_neg_integer().
populate(N) ->
    gen_server:call(?MODULE, {populate, N}, infinity).

%% @doc The number of processes kept.
-spec size() -> non_neg_integer().
size() ->
    gen_server:call(?MODULE, size).

init([]) ->
    {ok, #{count => 0}}.

handle_call({populate, N}, _From, State = #{count := C}) ->
    [start_one() || _ <- lists:seq(1, max(0, N - C))],
    {reply, N, State#{count := max(N, C)}};
handle_call(size, _From, State = #{count := C}) ->
    {reply, C, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({'DOWN', _Ref, process, _Pid, _Why}, State) ->
    start_one(),
    {noreply, State};
handle_info(_Other, State) ->
    {noreply, State}.

start_one() ->
    Pid = proc_lib:spawn(fun() -> receive stop -> ok end end),
    erlang:monitor(process, Pid).
