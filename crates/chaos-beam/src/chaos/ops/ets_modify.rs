//! State chaos: corrupt one row of a public ETS table owned by an eligible
//! application process, for 0.5–5 s (demo) / 1–20 s (aggressive).
//!
//! The table is chosen among the non-empty public `set`/`ordered_set` tables
//! whose owner is one of the candidates (`ets:all/0`, `ets:info/2`), the row
//! by a short walk from a position drawn in `plan`. A helper overwrites every
//! non-key element of the row with the atom `chaos_monkey_corrupted` (an
//! atomic compare-and-swap with `ets:select_replace/2`, so a row the
//! application rewrites at that instant is left alone); the snippet confirms
//! by reading the row back. On release, or at its own deadline, the helper
//! puts the saved object back — again as a compare-and-swap, so if the
//! application rewrote (or deleted) the row meanwhile its value stays.
//!
//! Cannot: touch `bag`/`duplicate_bag`, protected or private tables; pick a
//! row that already carries the marker (so two ETS ops never save each
//! other's corruption as "the original"). If the helper is killed, the
//! corrupted value stays until the application rewrites it.

use super::prelude::*;

/// Corrupt one ETS row for a while.
pub struct EtsModify;

pub(crate) const SNIPPET: &str = concat!(
    ets_row_choice!(),
    r#"                {_, Orig} ->
                    Key = element(KeyPos, Orig),
                    Arity = tuple_size(Orig),
                    Corrupt = list_to_tuple([case I of KeyPos -> Key; _ -> Marker end || I <- lists:seq(1, Arity)]),
                    %% A key that means nothing special in a match pattern is
                    %% matched directly (a lookup); any other key via '$1' (a scan).
                    Plain = is_binary(Key) orelse is_integer(Key) orelse is_pid(Key)
                            orelse is_reference(Key) orelse is_port(Key)
                            orelse (is_atom(Key) andalso Key =/= '_'
                                    andalso hd(atom_to_list(Key) ++ " ") =/= $$),
                    Swap = fun(From, To) ->
                        Guard = [{'=:=', '$_', {const, From}}],
                        Spec = case Plain of
                                   true ->
                                       [{setelement(KeyPos, erlang:make_tuple(Arity, '_'), Key), Guard, [{const, To}]}];
                                   false ->
                                       Body = list_to_tuple([case I of KeyPos -> '$1'; _ -> {const, element(I, To)} end
                                                             || I <- lists:seq(1, Arity)]),
                                       [{setelement(KeyPos, erlang:make_tuple(Arity, '_'), '$1'), Guard, [{Body}]}]
                               end,
                        try ets:select_replace(T, Spec) catch error:badarg -> 0 end
                    end,
                    Parent = self(),
                    Helper = erlang:spawn(fun() ->
                        Done = Swap(Orig, Corrupt),
                        Parent ! {corrupted, self(), Done},
                        case Done of
                            1 ->
                                "#,
    crate::hold_until_released!(),
    r#",
                                %% 0 when the application rewrote or deleted the row
                                %% meanwhile (its value stays) or the table is gone.
                                _ = Swap(Corrupt, Orig),
                                exit({undone, ok});
                            _ ->
                                exit(normal)
                        end
                    end),
                    receive
                        {corrupted, Helper, 1} ->
                            case catch ets:lookup(T, Key) of
                                [Corrupt] ->
                                    Detail = iolist_to_binary(io_lib:format(
                                        "row ~0P of ETS table ~0p (owner ~0p): ~b non-key element(s) set to chaos_monkey_corrupted, "
                                        "read back; the saved object is put back after ~b ms unless the application rewrote the row",
                                        [Key, 6, T, Owner, Arity - 1, HoldMs])),
                                    {Owner, {confirmed, Detail, #{table_size => Size, row_elements => Arity - 1}, Helper}};
                                Other ->
                                    Helper ! release,
                                    {Owner, {unconfirmed, iolist_to_binary(io_lib:format(
                                        "row ~0P of ETS table ~0p was corrupted but reads back as ~0P; released at once",
                                        [Key, 6, T, Other, 6]))}}
                            end;
                        {corrupted, Helper, _} ->
                            {Owner, {skipped, <<"the row changed or vanished before it could be corrupted">>}}
                    after 2000 ->
                        erlang:exit(Helper, kill),
                        {Owner, {failed, <<"the corrupting helper did not report within 2 s">>}}
                    end
            end
        catch
            error:badarg -> {none, {skipped, <<"the chosen ETS table vanished">>}}
        end
end.
"#
);

/// The parameters of one ETS row operation (shared by `ets_modify` and
/// `ets_delete`, see `on_table`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtsModifyParams {
    /// Picks the table among the eligible ones (modulo their number).
    pub table_pick: i64,
    /// Picks the position in the table where the search for a row starts.
    pub row_pick: i64,
    /// How long the row stays changed before it is put back.
    pub hold_ms: i64,
}

impl TypedOperation<BeamTarget> for EtsModify {
    type Params = EtsModifyParams;

    fn name(&self) -> &'static str {
        "ets_modify"
    }

    fn category(&self) -> Category {
        Category::State
    }

    fn describe(&self) -> &'static str {
        "corrupt one row of an application's public ETS table, then restore it; confirmed by reading it back"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> EtsModifyParams {
        let (low, high) = match profile {
            Profile::Demo => (500, 5_000),
            Profile::Aggressive => (1_000, 20_000),
        };
        EtsModifyParams {
            table_pick: rng.range_inclusive(0, 1_000_000_000) as i64,
            row_pick: rng.range_inclusive(0, 1_000_000_000) as i64,
            hold_ms: ms(rng, low, high) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: EtsModifyParams) -> BoxFuture<'a, Outcome> {
        Box::pin(on_table(ctx, SNIPPET, p, "corrupted"))
    }
}

/// Run an ETS snippet (answering `{OwnerPid | none, Reply}`) against the
/// candidates' tables and wrap its helper, if any, as an effect on the owner.
pub(super) async fn on_table(
    ctx: &BeamTarget,
    snippet: &str,
    params: EtsModifyParams,
    what: &str,
) -> Outcome {
    let hold = params.hold_ms;
    let candidates = match ctx.candidates().await {
        Ok(c) => c,
        Err(e) => return Outcome::failed(format!("could not list victims: {e}")),
    };
    let pids = super::super::candidate::owner_pids(candidates.iter(), |c| c.owns_tables);
    let deadline = hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
    let answer = match ctx
        .exec(
            snippet,
            &[
                ("Pids", pids),
                ("TablePick", int(params.table_pick)),
                ("RowPick", int(params.row_pick)),
                ("HoldMs", int(hold)),
                ("DeadlineMs", int(deadline)),
                (
                    "CountersToo",
                    atom(
                        if ctx.safety.budget == crate::chaos::BudgetPolicy::Collapse {
                            "true"
                        } else {
                            "false"
                        },
                    ),
                ),
            ],
        )
        .await
    {
        Ok(t) => t,
        Err(e) => return Outcome::failed(e.to_string()),
    };
    let (owner, reply) = match answer.as_tuple() {
        Some([owner, reply]) => (owner.as_pid().cloned(), Reply::from_term(reply)),
        _ => (None, Reply::from_term(&answer)),
    };
    let owner = owner.and_then(|p| candidates.iter().find(|c| c.pid == p).cloned());
    let effect = reply.helper().map(|h| {
        let who = owner
            .as_ref()
            .map(|c| c.name.clone().unwrap_or_else(|| c.pid_text.clone()))
            .unwrap_or_else(|| "an unknown process".to_string());
        let effect = ctx.held_by(
            h,
            Duration::from_millis(hold.max(0) as u64),
            format!("a row of an ETS table owned by {who} {what}"),
        );
        match &owner {
            Some(c) => effect.clearing(ctx.affect(c), &c.pid_text),
            None => effect,
        }
    });
    let mut out = reply.outcome().with_victim(owner.map(|c| c.victim()));
    if let Some(effect) = effect {
        out = out.with_effect(Box::new(effect));
    }
    out
}
