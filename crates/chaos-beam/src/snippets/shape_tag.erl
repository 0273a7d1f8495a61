%% shape_tag — evaluated on the target by erl_eval; not a module.
%% The type tag of a value (ShapeTag), a row's shape as text (ShapeText),
%% and the match-spec guard of a tag (ShapeGuard; none for a tag match
%% specs cannot test): the ETS shape invariants' words.
ShapeTag = fun(V) when is_atom(V) -> atom;
              (V) when is_integer(V) -> integer;
              (V) when is_float(V) -> float;
              (V) when is_binary(V) -> binary;
              (V) when is_list(V) -> list;
              (V) when is_tuple(V) -> tuple;
              (V) when is_map(V) -> map;
              (V) when is_pid(V) -> pid;
              (V) when is_reference(V) -> reference;
              (V) when is_port(V) -> port;
              (_) -> any
           end,
ShapeText = fun(Tags) -> iolist_to_binary(["{", lists:join(", ", [atom_to_list(Tg) || Tg <- Tags]), "}"]) end,
ShapeGuard = fun(atom) -> is_atom; (integer) -> is_integer; (float) -> is_float;
                (binary) -> is_binary; (list) -> is_list; (tuple) -> is_tuple;
                (map) -> is_map; (pid) -> is_pid; (reference) -> is_reference;
                (port) -> is_port; (_) -> none
             end,
