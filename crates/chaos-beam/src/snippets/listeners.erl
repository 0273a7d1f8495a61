%% The node's TCP listening sockets, with the process that owns each and
%% that process's application. The runtime's own (the distribution
%% listener, in kernel) are left out. Binds: nothing. Returns a list of maps.
[#{ip => list_to_binary(inet:ntoa(Ip)),
   port => Port,
   owner => list_to_binary(pid_to_list(Owner)),
   application => case application:get_application(Owner) of
                      {ok, A} -> A;
                      undefined -> null
                  end,
   owner_name => case erlang:process_info(Owner, registered_name) of
                     {registered_name, N} -> N;
                     _ -> null
                 end}
 || P <- erlang:ports(),
    erlang:port_info(P, name) =:= {name, "tcp_inet"},
    {connected, Owner} <- [erlang:port_info(P, connected)],
    case prim_inet:getstatus(P) of
        {ok, St} -> lists:member(listen, St);
        _ -> false
    end,
    {ok, {Ip, Port}} <- [inet:sockname(P)],
    application:get_application(Owner) =/= {ok, kernel}].
