%% safety_rules — the start of every snippet that applies the safety rules
%% (evaluated on the target; not a module): which applications are the
%% runtime's, which are always protected, which registered names are the
%% system's. The runtime's applications are the ones Erlang/OTP ships and
%% Elixir's own, known by name: where an application's files live says
%% nothing in a release (rebar3/relx or mix), where every application, the
%% user's included, sits under the release's root.
RuntimeApps = [asn1, common_test, compiler, crypto, debugger, dialyzer, diameter, edoc, eldap,
               erl_docgen, erl_interface, erts, et, eunit, ftp, hipe, inets, jinterface, kernel,
               megaco, mnesia, observer, odbc, os_mon, otp_mibs, parsetools, public_key, reltool,
               runtime_tools, sasl, snmp, ssh, ssl, stdlib, syntax_tools, tftp, tools, wx, xmerl,
               elixir, logger, iex, mix, eex, ex_unit],
IsOtpApp = fun(A) -> lists:member(A, RuntimeApps) end,
AlwaysProtectedApps = [kernel, stdlib, sasl, compiler, logger],
SystemNames = [init, code_server, application_controller, rex, net_kernel, global_name_server,
               erl_prim_loader, user, user_drv, standard_error, logger, erl_signal_server,
               kernel_sup, global_group, inet_db, file_server_2, auth, erl_epmd,
               erts_code_purger, socket_registry, kernel_refc, kernel_config, timer_server],
%% A supervisor is recognised by what it is, not by one module's name: its
%% initial call's module is a supervisor behaviour when it answers the
%% supervisor API (which_children/1) — OTP's supervisor and
%% supervisor_bridge, look-alikes built on the same model, Elixir's
%% Supervisor, DynamicSupervisor, Task.Supervisor, PartitionSupervisor.
IsSupervisorInit = fun({supervisor, _, _}) -> true;
                      ({supervisor_bridge, _, _}) -> true;
                      ({M, _, _}) when is_atom(M) ->
                          erlang:function_exported(M, which_children, 1)
                              andalso erlang:function_exported(M, start_child, 2);
                      (_) -> false
                   end,
%% The rules for one process of an application chaos may touch: why it is
%% still left out (a binary naming the rule, as `reach` reports it), or what
%% it is (worker | supervisor). Shared by `candidates` and `reach`.
ProcessRule = fun(Prio, _Name, _Init) when Prio =:= high; Prio =:= max ->
                      <<"high- and max-priority processes">>;
                 (_Prio, Name, Init) ->
                      case lists:member(Name, SystemNames) of
                          true -> <<"well-known system names">>;
                          false ->
                              case Init of
                                  {erpc, execute_call, _} -> <<"remote calls">>;
                                  %% the application master's own helper process
                                  {application_master, _, _} -> <<"application masters">>;
                                  _ -> case IsSupervisorInit(Init) of
                                           true -> supervisor;
                                           false -> worker
                                       end
                              end
                      end
              end,
%% How many processes the node has, and a random sample of at most Max of
%% them (all of them on smaller nodes; a tuple makes each draw O(1)).
ProcessSample = fun(Max) ->
    PsAll = erlang:processes(),
    PsTotal = length(PsAll),
    case PsTotal =< Max of
        true -> {PsTotal, PsAll};
        false ->
            PsTup = list_to_tuple(PsAll),
            {PsTotal, lists:usort([element(rand:uniform(PsTotal), PsTup) || _ <- lists:seq(1, Max)])}
    end
end,
