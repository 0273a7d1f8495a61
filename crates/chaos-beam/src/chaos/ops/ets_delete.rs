//! State chaos: delete one row of a public ETS table owned by an eligible
//! application process, for 0.5–5 s (demo) / 1–20 s (aggressive).
//!
//! The table and row are chosen as in `ets_modify` (non-empty public
//! `set`/`ordered_set` tables owned by a candidate; a row found by a short
//! walk from a position drawn in `plan`). A helper takes the row atomically
//! (`ets:take/2`) and keeps the saved object; the snippet confirms with
//! `ets:lookup/2` returning `[]`. On release, or at its own deadline, the
//! helper puts the object back with `ets:insert_new/2`, i.e. only if the key
//! is still absent: a value the application wrote meanwhile stays.
//!
//! Cannot: touch `bag`/`duplicate_bag`, protected or private tables, or rows
//! carrying the `ets_modify` marker. If the helper is killed the row stays
//! deleted (the saved object dies with it).

use super::prelude::*;

/// Delete one ETS row for a while.
pub struct EtsDelete;

pub(crate) const SNIPPET: &str = concat!(
    ets_row_choice!(),
    r#"                {_, Seen} ->
                    Key = element(KeyPos, Seen),
                    Parent = self(),
                    Helper = erlang:spawn(fun() ->
                        Taken = try ets:take(T, Key) catch error:badarg -> [] end,
                        Parent ! {deleted, self(), Taken =/= []},
                        case Taken of
                            [Orig] ->
                                "#,
    crate::hold_until_released!(),
    r#",
                                %% false when the application wrote the key again
                                %% meanwhile (its value stays); badarg when the table is gone.
                                _ = try ets:insert_new(T, Orig) catch error:badarg -> false end,
                                exit({undone, ok});
                            _ ->
                                exit(normal)
                        end
                    end),
                    receive
                        {deleted, Helper, true} ->
                            case catch ets:lookup(T, Key) of
                                [] ->
                                    Detail = iolist_to_binary(io_lib:format(
                                        "row ~0P of ETS table ~0p (owner ~0p) deleted, lookup returns []; "
                                        "put back after ~b ms unless the application wrote the key again",
                                        [Key, 6, T, Owner, HoldMs])),
                                    {Owner, {confirmed, Detail, #{table_size => Size}, Helper}};
                                Other ->
                                    Helper ! release,
                                    {Owner, {unconfirmed, iolist_to_binary(io_lib:format(
                                        "row ~0P of ETS table ~0p was deleted but reads back as ~0P; released at once",
                                        [Key, 6, T, Other, 6]))}}
                            end;
                        {deleted, Helper, false} ->
                            {Owner, {skipped, <<"the row vanished before it could be deleted">>}}
                    after 2000 ->
                        erlang:exit(Helper, kill),
                        {Owner, {failed, <<"the deleting helper did not report within 2 s">>}}
                    end
            end
        catch
            error:badarg -> {none, {skipped, <<"the chosen ETS table vanished">>}}
        end
end.
"#
);

/// The parameters of one row deletion: the same as `ets_modify`'s (they
/// share `ets_modify::on_table`).
pub type EtsDeleteParams = super::ets_modify::EtsModifyParams;

impl TypedOperation<BeamTarget> for EtsDelete {
    type Params = EtsDeleteParams;

    fn name(&self) -> &'static str {
        "ets_delete"
    }

    fn category(&self) -> Category {
        Category::State
    }

    fn describe(&self) -> &'static str {
        "delete one row of an application's public ETS table, then put it back; confirmed by lookup returning []"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> EtsDeleteParams {
        let (low, high) = match profile {
            Profile::Demo => (500, 5_000),
            Profile::Aggressive => (1_000, 20_000),
        };
        EtsDeleteParams {
            table_pick: rng.range_inclusive(0, 1_000_000_000) as i64,
            row_pick: rng.range_inclusive(0, 1_000_000_000) as i64,
            hold_ms: ms(rng, low, high) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: EtsDeleteParams) -> BoxFuture<'a, Outcome> {
        Box::pin(super::ets_modify::on_table(ctx, SNIPPET, p, "deleted"))
    }
}
