%% shapes — evaluated on the target by erl_eval; not a module.
%% The shape invariants of the named tables, learnt at the baseline: for
%% each table of 3 to MaxRows rows whose first SampleRows rows (one
%% ets:select chunk) all have one arity, that arity and per position the
%% type tag all those rows agree on (`any` where they differ; the atoms
%% undefined and nil, a field's usual "not set", count as any type, so a
%% position only ever unset at the baseline is `any` too). Tables it
%% cannot read (private), with too few rows, with rows of several arities
%% or over MaxRows rows get none, and are answered as skipped with why.
%% Bindings: Tables ([atom()]), SampleRows, MaxRows (integers).
Learn = fun(T) ->
    case ets:info(T, size) of
        N when is_integer(N), N > MaxRows -> {skipped, T, <<"over the row limit">>};
        N when is_integer(N), N < 3 -> {skipped, T, <<"fewer than 3 rows">>};
        N when is_integer(N) ->
            case catch ets:select(T, [{'_', [], ['$_']}], SampleRows) of
                {Rows, _} when length(Rows) >= 3 ->
                    case lists:usort([tuple_size(R) || R <- Rows]) of
                        [A] ->
                            Tags = [case lists:usort([ShapeTag(E) || R <- Rows, E <- [element(I, R)],
                                                                     E =/= undefined, E =/= nil]) of
                                        [One] -> One;
                                        _ -> any
                                    end || I <- lists:seq(1, A)],
                            #{table => T, arity => A, tags => Tags, rows => length(Rows)};
                        _ -> {skipped, T, <<"rows of several arities">>}
                    end;
                {'EXIT', _} -> {skipped, T, <<"not readable">>};
                _ -> {skipped, T, <<"fewer than 3 rows">>}
            end;
        _ -> {skipped, T, <<"gone">>}
    end
end,
Learnt = [Learn(T) || T <- Tables],
#{shapes => [S || S <- Learnt, is_map(S)],
  skipped => [#{table => T, why => W} || {skipped, T, W} <- Learnt]}.
