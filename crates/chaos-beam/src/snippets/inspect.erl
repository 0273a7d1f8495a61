%% inspect — evaluated on the target by erl_eval (see src/eval.rs) after
%% safety_rules.erl, budget_read.erl and supervision.erl; not a module.
%% Everything heavy runs here, on the target, and only the summary crosses the
%% wire: counts, memory, applications with their supervision trees, and the
%% top TopN processes by message queue and by memory.
%% Bindings: TopN (integer), ChildLimit (integer), CallMs (integer).
%% Strings are returned as binaries so the client never has to guess.
Started = erlang:monotonic_time(microsecond),
Str = fun(T) -> iolist_to_binary(io_lib:format("~0p", [T])) end,
Mfa = fun({M, F, A}) when is_atom(M), is_atom(F), is_integer(A) ->
             iolist_to_binary(io_lib:format("~0p:~0p/~b", [M, F, A]));
         (Other) -> Str(Other) end,
PidStr = fun(P) when is_pid(P) -> list_to_binary(erlang:pid_to_list(P));
            (Other) -> Str(Other) end,
Info = fun(Tag) -> try erlang:system_info(Tag) catch _:_ -> null end end,
ProcessCount = erlang:system_info(process_count),
%% ---- top processes, without sorting every process -------------------------
VMS = ets:match_spec_compile([{{'$1', '_'}, [], ['$1']}]),
Top = fun Top(L, K) when length(L) =< 256 -> lists:sublist(lists:reverse(lists:sort(L)), K);
          Top(L, K) ->
              Vals = ets:match_spec_run(L, VMS),
              case lists:max(Vals) =:= lists:min(Vals) of
                  true -> lists:sublist(L, K);
                  false ->
                      Mean = lists:sum(Vals) div length(Vals),
                      Above = ets:match_spec_run(L, ets:match_spec_compile(
                                  [{{'$1', '_'}, [{'>', '$1', Mean}], ['$_']}])),
                      case length(Above) >= K of
                          true -> Top(Above, K);
                          false ->
                              Rest = ets:match_spec_run(L, ets:match_spec_compile(
                                         [{{'$1', '_'}, [{'=<', '$1', Mean}], ['$_']}])),
                              lists:sublist(lists:reverse(lists:sort(
                                  Above ++ Top(Rest, K - length(Above)))), K)
                      end
              end
      end,
%% {Value, Pid} for every live process in Chunk, by one process_info item (compiled code, no interpretation per process).
Measure = fun(Chunk, Item) ->
    Ms = ets:match_spec_compile([{{{Item, '$1'}, '$2'}, [], [{{'$1', '$2'}}]}]),
    Values = lists:zipwith(fun erlang:process_info/2, Chunk, lists:duplicate(length(Chunk), Item)),
    ets:match_spec_run(lists:zip(Values, Chunk), Ms)
end,
Split = fun Split(L, 1) -> [L];
            Split(L, S) -> {A, B} = lists:split(length(L) div S, L), [A | Split(B, S - 1)] end,
%% Our own evaluation process is not part of the picture.
Ps = lists:delete(self(), erlang:processes()),
Parts = Split(Ps, max(1, min(erlang:system_info(schedulers_online), length(Ps)))),
process_flag(trap_exit, true),
Workers = [erlang:spawn_opt(fun() ->
               exit({inspect_part, Top(Measure(Part, message_queue_len), TopN),
                                   Top(Measure(Part, memory), TopN)})
           end, [link, monitor]) || Part <- Parts],
PartResults = [receive {'DOWN', Ref, process, Pid, {inspect_part, Q, M}} -> {Q, M};
                       {'DOWN', Ref, process, Pid, _} -> {[], []}
               end || {Pid, Ref} <- Workers],
TopQ = lists:sublist(lists:reverse(lists:sort(lists:append([Q || {Q, _} <- PartResults]))), TopN),
TopM = lists:sublist(lists:reverse(lists:sort(lists:append([M || {_, M} <- PartResults]))), TopN),

Behaviours = fun(Mod) ->
    try lists:append([B || {K, B} <- Mod:module_info(attributes), K =:= behaviour orelse K =:= behavior])
    catch _:_ -> [] end
end,
%% Elixir's Registry: processes registered through one have no registered
%% name of their own; show {via, Registry, {Registry, Key}} instead. The
%% registries are the processes started as Registry's supervisor.
Registries = [R || R <- erlang:registered(),
                   is_pid(RP = erlang:whereis(R)),
                   {dictionary, RD} <- [erlang:process_info(RP, dictionary)],
                   {'$initial_call', {supervisor, 'Elixir.Registry.Supervisor', _}} <-
                       [lists:keyfind('$initial_call', 1, RD)]],
ViaName = fun(P) ->
    Keys = [{R, K} || R <- Registries,
                      K <- try 'Elixir.Registry':keys(R, P) catch _:_ -> [] end],
    case Keys of
        [{R, K} | _] -> Str({via, 'Elixir.Registry', {R, K}});
        [] -> null
    end
end,
Describe = fun(P) ->
    case erlang:process_info(P, [registered_name, current_function, initial_call, memory,
                                 message_queue_len, reductions, status, dictionary]) of
        undefined -> null;
        I ->
            Dict = proplists:get_value(dictionary, I, []),
            Init = case lists:keyfind('$initial_call', 1, Dict) of
                       {_, IC} -> IC;
                       false -> proplists:get_value(initial_call, I)
                   end,
            Behaviour = case Init of
                            {supervisor, _, _} -> supervisor;
                            {Mod, _, _} -> case Behaviours(Mod) of [B | _] -> B; [] -> null end;
                            _ -> null
                        end,
            App = case application:get_application(P) of {ok, A} -> A; _ -> null end,
            Name = case proplists:get_value(registered_name, I) of [] -> ViaName(P); N -> N end,
            {current_function, CF} = lists:keyfind(current_function, 1, I),
            #{pid => PidStr(P), registered_name => Name,
              behaviour => Behaviour, initial_call => Mfa(Init),
              current_function => Mfa(CF), application => App,
              memory_bytes => proplists:get_value(memory, I),
              message_queue_len => proplists:get_value(message_queue_len, I),
              reductions => proplists:get_value(reductions, I),
              status => proplists:get_value(status, I)}
    end
end,
%% Each row keeps the value it was ranked by, so the list is ordered by what was measured.
Rows = fun(L, Key) -> [D#{Key => V} || {V, D} <- [{V, Describe(P)} || {V, P} <- L], D =/= null] end,

%% ---- supervision trees (supervision.erl) --------------------------------
Apps = SvApps(ChildLimit, CallMs),

{UptimeMs, _} = erlang:statistics(wall_clock),
Memory = erlang:memory(),
#{node => node(),
  otp_release => list_to_binary(erlang:system_info(otp_release)),
  erts_version => list_to_binary(erlang:system_info(version)),
  system_architecture => list_to_binary(erlang:system_info(system_architecture)),
  schedulers => erlang:system_info(schedulers),
  schedulers_online => erlang:system_info(schedulers_online),
  uptime_ms => UptimeMs,
  process_count => ProcessCount,
  process_limit => erlang:system_info(process_limit),
  port_count => erlang:system_info(port_count),
  port_limit => erlang:system_info(port_limit),
  atom_count => erlang:system_info(atom_count),
  atom_limit => erlang:system_info(atom_limit),
  ets_count => Info(ets_count),
  ets_limit => Info(ets_limit),
  memory => maps:from_list(Memory),
  memory_total_bytes => proplists:get_value(total, Memory),
  applications => Apps,
  top_by_queue => Rows(TopQ, message_queue_len),
  top_by_memory => Rows(TopM, memory_bytes),
  inspect_micros_on_target => erlang:monotonic_time(microsecond) - Started}.
