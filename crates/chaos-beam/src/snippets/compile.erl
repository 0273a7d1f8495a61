%% Builds and loads one module of compiled snippets (see compiled.rs).
%% Bindings: Mod, Snippets ([{Index, FunctionName, Source}]), Janitor.
case code:ensure_loaded(compile) of
    {module, compile} ->
        Build = fun({I, Name, Src}) ->
            Base = I * 100000,
            case erl_scan:string(binary_to_list(Src), {Base + 1, 1}) of
                {ok, Tokens, _} ->
                    case erl_parse:parse_exprs(Tokens) of
                        {ok, Exprs} ->
                            Free = case erl_lint:exprs(Exprs, []) of
                                       {error, Errs, _} ->
                                           lists:usort([V || {_, Es} <- Errs, {_, erl_lint, {unbound_var, V}} <- Es]);
                                       _ -> []
                                   end,
                            F = erlang:binary_to_atom(Name, utf8),
                            Params = [{var, Base, V} || V <- Free],
                            {ok, F, Free, {function, Base, F, length(Free), [{clause, Base, Params, [], Exprs}]}};
                        _ -> {bad, I}
                    end;
                _ -> {bad, I}
            end
        end,
        Built = [Build(S) || S <- Snippets],
        case [I || {bad, I} <- Built] of
            [_ | _] = Bad -> {not_compiled, Bad};
            [] ->
                Funs = [{F, Free, Form} || {ok, F, Free, Form} <- Built],
                Name = erlang:binary_to_atom(Mod, utf8),
                Forms = [{attribute, 1, module, Name},
                         {attribute, 1, export, [{F, length(Free)} || {F, Free, _} <- Funs]}
                         | [Form || {_, _, Form} <- Funs]],
                case catch compile:forms(Forms, [binary, return_errors, nowarn_unused_vars,
                                                 nowarn_shadow_vars, nowarn_export_vars]) of
                    {ok, Name, Bin} ->
                        Janitor ! {add, Name},
                        case code:load_binary(Name, "chaos-monkey (temporary)", Bin) of
                            {module, Name} -> {ok, [{F, Free} || {F, Free, _} <- Funs]};
                            Error -> {not_loaded, Error}
                        end;
                    {error, Errors, _} ->
                        Line = fun({L, _}) when is_integer(L) -> L; (L) when is_integer(L) -> L; (_) -> 0 end,
                        {not_compiled, lists:usort([Line(Loc) div 100000 || {_, Es} <- Errors, {Loc, _, _} <- Es])};
                    Other -> {failed, Other}
                end
        end;
    _ -> no_compiler
end.
