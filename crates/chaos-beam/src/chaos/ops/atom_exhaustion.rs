//! Memory chaos (behind `--allow-atom-exhaustion`): create new atoms
//! `chaos_monkey_atom_<RunTag>_<I>`. Atoms are never freed, so this cannot
//! be undone: not an effect, and the detail says so.
//!
//! The plan draws the run tag and the number wanted, 100–2000 (demo) /
//! 1000–20000 (aggressive); the snippet caps it at 0.5% of the atoms still
//! free (`atom_limit - atom_count`, read on the target), so repeated runs
//! approach the limit only geometrically. Confirmed by `atom_count` growing
//! by at least the number created (atoms that already existed — the same tag
//! drawn twice — are not new, and are counted as such).

use super::prelude::*;

/// Create atoms that are never freed.
pub struct AtomExhaustion;

pub(crate) const SNIPPET: &str = r#"
Limit = erlang:system_info(atom_limit),
Before = erlang:system_info(atom_count),
N = min(Wanted, (Limit - Before) * 5 div 1000),
Prefix = "chaos_monkey_atom_" ++ binary_to_list(RunTag) ++ "_",
case N < 1 of
    true ->
        {skipped, iolist_to_binary(io_lib:format(
            "atom table too full: ~b of ~b used, 0.5% of the rest is less than one atom", [Before, Limit]))};
    false ->
        New = lists:foldl(fun(I, Acc) ->
                              S = Prefix ++ integer_to_list(I),
                              try list_to_existing_atom(S) of
                                  _ -> Acc
                              catch error:badarg ->
                                  _ = list_to_atom(S),
                                  Acc + 1
                              end
                          end, 0, lists:seq(1, N)),
        After = erlang:system_info(atom_count),
        M = #{atoms_created => New, atom_count_before => Before, atom_count_after => After, atom_limit => Limit},
        Detail = iolist_to_binary(io_lib:format(
            "~b new atoms ~s1..~b created (atom count ~b -> ~b of ~b); atoms are never freed, so this cannot be undone",
            [New, Prefix, N, Before, After, Limit])),
        case New > 0 andalso After - Before >= New of
            true -> {confirmed, Detail, M};
            false -> {unconfirmed, Detail}
        end
end.
"#;

/// The parameters of one atom creation.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtomExhaustionParams {
    /// How many new atoms are wanted (the snippet caps it at 0.5% of the free ones).
    pub atoms: i64,
    /// Tags this execution's atom names (`chaos_monkey_atom_<run_tag>_<I>`): 8 hex digits.
    pub run_tag: String,
}

impl TypedOperation<BeamTarget> for AtomExhaustion {
    type Params = AtomExhaustionParams;

    fn name(&self) -> &'static str {
        "atom_exhaustion"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn describe(&self) -> &'static str {
        "create up to 0.5% of the free atom table as new atoms (never freed); confirmed by the atom count"
    }

    fn gate(&self) -> Option<&'static str> {
        Some("atoms are never freed: what it creates stays until the node restarts")
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> AtomExhaustionParams {
        let (low, high) = match profile {
            Profile::Demo => (100, 2_000),
            Profile::Aggressive => (1_000, 20_000),
        };
        let run_tag = format!("{:08x}", rng.next_u64() as u32);
        AtomExhaustionParams {
            atoms: rng.range_inclusive(low, high) as i64,
            run_tag,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: AtomExhaustionParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let tag = p.run_tag.as_str();
            let wanted = p.atoms;
            ctx.reply(
                SNIPPET,
                &[
                    ("RunTag", crate::dist::term::binary(tag.as_bytes())),
                    ("Wanted", int(wanted)),
                ],
            )
            .await
            .outcome()
        })
    }
}
