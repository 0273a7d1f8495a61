#!/usr/bin/env escript
%%! -noshell
%% Usage: bench/node_costs/run.escript NODE COOKIE_FILE
%% Loads node_costs (compiled here) onto NODE, prints a table of what each
%% piece costs there, then deletes and purges it (nothing is left behind;
%% on a big node the purge itself takes seconds, as the table shows).
main([Node0, CookieFile]) ->
    Node = list_to_atom(Node0),
    {ok, Cookie} = file:read_file(CookieFile),
    {ok, _} = net_kernel:start([list_to_atom("node_costs_" ++ os:getpid()), shortnames]),
    erlang:set_cookie(Node, binary_to_atom(string:trim(Cookie))),
    Src = filename:join(filename:dirname(escript:script_name()), "node_costs.erl"),
    {ok, node_costs, Bin} = compile:file(Src, [binary, report]),
    {module, node_costs} = rpc:call(Node, code, load_binary, [node_costs, Src, Bin]),
    Processes = rpc:call(Node, erlang, system_info, [process_count]),
    Rows = rpc:call(Node, node_costs, run, [], 600000),
    rpc:call(Node, code, delete, [node_costs]),
    rpc:call(Node, code, purge, [node_costs], 600000),
    io:format("| what (~b processes) | node CPU per call | wall per call |~n|---|---:|---:|~n", [Processes]),
    [io:format("| ~s | ~.1f ms | ~.1f ms |~n", [W, Cpu, Wall]) || {W, {Cpu, Wall}} <- Rows],
    ok;
main(_) ->
    io:format("usage: run.escript NODE COOKIE_FILE~n"),
    halt(2).
