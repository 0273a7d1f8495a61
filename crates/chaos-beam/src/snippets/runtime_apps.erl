%% runtime_apps — the start of every snippet that tells the user's
%% applications from the runtime's (evaluated on the target; not a module).
%% The runtime's applications are the ones Erlang/OTP ships and Elixir's
%% own, known by name: where an application's files live says nothing in a
%% release (rebar3/relx or mix), where every application, the user's
%% included, sits under the release's root.
RuntimeApps = [asn1, common_test, compiler, crypto, debugger, dialyzer, diameter, edoc, eldap,
               erl_docgen, erl_interface, erts, et, eunit, ftp, hipe, inets, jinterface, kernel,
               megaco, mnesia, observer, odbc, os_mon, otp_mibs, parsetools, public_key, reltool,
               runtime_tools, sasl, snmp, ssh, ssl, stdlib, syntax_tools, tftp, tools, wx, xmerl,
               elixir, logger, iex, mix, eex, ex_unit],
IsOtpApp = fun(A) -> lists:member(A, RuntimeApps) end,
