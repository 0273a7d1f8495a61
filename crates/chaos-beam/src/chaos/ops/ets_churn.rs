//! Memory chaos: a helper creates 1–10 unnamed, protected ETS tables, fills
//! each with 100–1000 rows and holds them for 0.5–5 s (both profiles).
//! Confirmed by `ets:info(T, size)` of every table. The helper deletes them
//! and exits `{undone, ok}` when released or at its own deadline; the
//! runtime deletes them anyway when their owner dies.

use super::prelude::*;

/// Create, fill and hold a few ETS tables.
pub struct EtsChurn;

pub(crate) const SNIPPET: &str = concat!(
    r#"
Parent = self(),
Helper = erlang:spawn(fun() ->
    Tabs = [begin
                Tab = ets:new(chaos_monkey_churn, [set, protected]),
                true = ets:insert(Tab, [{K, <<"chaos_monkey_churn">>, K * K} || K <- lists:seq(1, TabRows)]),
                Tab
            end || TabRows <- Rows],
    Parent ! {churning, self(), Tabs},
    "#,
    crate::hold_until_released!(),
    r#",
    NotDeleted = [T || T <- Tabs, (catch ets:delete(T)) =/= true],
    case NotDeleted of
        [] -> exit({undone, ok});
        _ -> exit({undone, {failed, {not_deleted, length(NotDeleted)}}})
    end
end),
receive
    {churning, Helper, TabIds} ->
        Sizes = [ets:info(T, size) || T <- TabIds],
        Owners = lists:usort([ets:info(T, owner) || T <- TabIds]),
        Words = lists:sum([case ets:info(T, memory) of N when is_integer(N) -> N; _ -> 0 end || T <- TabIds]),
        Bytes = Words * erlang:system_info(wordsize),
        case Sizes =:= Rows andalso Owners =:= [Helper] of
            true ->
                {confirmed,
                 iolist_to_binary(io_lib:format("~b ETS tables with ~b rows in all (~b bytes) held for ~b ms",
                                                [length(TabIds), lists:sum(Sizes), Bytes, HoldMs])),
                 #{tables => length(TabIds), rows => lists:sum(Sizes), memory_bytes => Bytes, hold_ms => HoldMs},
                 Helper};
            false ->
                erlang:exit(Helper, kill),
                {unconfirmed,
                 iolist_to_binary(io_lib:format("tables report sizes ~0p, expected ~0p", [Sizes, Rows]))}
        end
after 3000 ->
    erlang:exit(Helper, kill),
    {failed, <<"the helper did not fill its tables within 3 s">>}
end.
"#
);

/// The parameters of one ETS churn.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtsChurnParams {
    /// One entry per table: how many rows it is filled with.
    pub rows: Vec<i64>,
    /// How long the helper holds the tables.
    pub hold_ms: i64,
}

impl TypedOperation<BeamTarget> for EtsChurn {
    type Params = EtsChurnParams;

    fn name(&self) -> &'static str {
        "ets_churn"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn describe(&self) -> &'static str {
        "a helper holds 1–10 protected ETS tables of 100–1000 rows for 0.5–5 s; confirmed by ets:info(T, size)"
    }

    fn plan(&self, rng: &mut SeededRng, _profile: Profile) -> EtsChurnParams {
        // The same ranges in both profiles.
        let tables = rng.range_inclusive(1, 10);
        let rows: Vec<i64> = (0..tables)
            .map(|_| rng.range_inclusive(100, 1_000) as i64)
            .collect();
        EtsChurnParams {
            rows,
            hold_ms: ms(rng, 500, 5_000) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: EtsChurnParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let rows: Vec<Term> = p.rows.iter().copied().map(int).collect();
            if rows.is_empty() {
                return Outcome::failed("no tables planned");
            }
            let hold = p.hold_ms;
            let deadline = hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
            let reply = ctx
                .reply(
                    SNIPPET,
                    &[
                        ("Rows", list(rows)),
                        ("HoldMs", int(hold)),
                        ("DeadlineMs", int(deadline)),
                    ],
                )
                .await;
            if let (Some(h), Reply::Confirmed(_, m, _)) = (reply.helper(), &reply) {
                ctx.helper_holds_tables(h, m["tables"].as_u64().unwrap_or(0));
            }
            let effect = reply.helper().map(|h| {
                Box::new(
                    ctx.held_by(
                        h,
                        Duration::from_millis(hold as u64),
                        "ETS tables held by ets_churn",
                    )
                    .ends_with_helper(),
                ) as Box<dyn Effect>
            });
            let out = reply.outcome();
            match effect {
                Some(e) => out.with_effect(e),
                None => out,
            }
        })
    }
}
