%% sample — evaluated on the target by erl_eval; not a module.
%% Resource counts and the running applications, for the health samples.
#{processes => erlang:system_info(process_count),
  memory_bytes => erlang:memory(total),
  binary_bytes => erlang:memory(binary),
  ets_tables => erlang:system_info(ets_count),
  ports => erlang:system_info(port_count),
  atoms => erlang:system_info(atom_count),
  applications => [A || {A, _, _} <- application:which_applications()]}.
