//! Memory chaos: a coordinator helper spawns 2–10 holders, linked to it, each
//! keeping a 100–1000 KB tuple on its heap, for 0.5–5 s (both profiles). Confirmed by
//! `process_info(Holder, memory)` of every holder being at least its share.
//! Releasing the coordinator (one `HelperEffect`) kills every holder and
//! waits for their `'DOWN'` before it exits `{undone, ok}`; at its deadline
//! it does the same by itself, and if it dies any other way the links take
//! the holders with it.

use super::prelude::*;

/// Hold heap memory in several processes.
pub struct MemoryHog;

pub(crate) const SNIPPET: &str = concat!(
    r#"
Parent = self(),
WordSize = erlang:system_info(wordsize),
Coord = erlang:spawn(fun() ->
    Me = self(),
    Holders = [erlang:spawn_link(fun() ->
                   Heap = erlang:make_tuple(HolderKb * 1024 div WordSize, chaos),
                   erlang:garbage_collect(),
                   Me ! {holding, self()},
                   receive release -> ok after DeadlineMs + 5000 -> ok end,
                   erlang:element(1, Heap)
               end) || HolderKb <- Kbs],
    Ready = [receive {holding, H} -> H after 3000 -> timeout end || H <- Holders],
    Parent ! {hogging, Me, Holders, lists:member(timeout, Ready)},
    "#,
    crate::hold_until_released!(),
    r#",
    Mons = [begin erlang:unlink(H), {H, erlang:monitor(process, H)} end || H <- Holders],
    [erlang:exit(H, kill) || H <- Holders],
    Alive = [H || {H, HM} <- Mons,
                  receive {'DOWN', HM, process, _, _} -> false after 2000 -> true end],
    case Alive of
        [] -> exit({undone, ok});
        _ -> exit({undone, {failed, {holders_alive, Alive}}})
    end
end),
receive
    {hogging, Coord, HolderPids, false} ->
        Mems = [case erlang:process_info(P, memory) of
                    {memory, PM} -> PM;
                    undefined -> 0
                end || P <- HolderPids],
        Short = [{P, Kb, PM} || {P, Kb, PM} <- lists:zip3(HolderPids, Kbs, Mems), PM < Kb * 1024],
        Total = lists:sum(Mems),
        Measurements = #{holders => length(HolderPids), requested_kb => lists:sum(Kbs),
                         total_bytes => Total, hold_ms => HoldMs},
        case Short of
            [] ->
                {hog, {confirmed,
                       iolist_to_binary(io_lib:format("~b processes hold ~b KB of heap in total for ~b ms (requested ~b KB)",
                                                      [length(HolderPids), Total div 1024, HoldMs, lists:sum(Kbs)])),
                       Measurements, Coord}, HolderPids};
            _ ->
                erlang:exit(Coord, kill),
                {hog, {unconfirmed,
                       iolist_to_binary(io_lib:format("~b of ~b holders hold less than asked: ~0p",
                                                      [length(Short), length(HolderPids), Short]))}, HolderPids}
        end;
    {hogging, Coord, HolderPids, true} ->
        erlang:exit(Coord, kill),
        {hog, {failed, <<"not every holder allocated within 3 s">>}, HolderPids}
after 5000 ->
    erlang:exit(Coord, kill),
    {hog, {failed, <<"the coordinator did not report within 5 s">>}, []}
end.
"#
);

/// The parameters of one memory hog.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryHogParams {
    /// One entry per holder process: how many KB of heap it holds.
    pub kb: Vec<i64>,
    /// How long the holders hold it.
    pub hold_ms: i64,
}

impl TypedOperation<BeamTarget> for MemoryHog {
    type Params = MemoryHogParams;

    fn name(&self) -> &'static str {
        "memory_hog"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn describe(&self) -> &'static str {
        "2–10 linked helpers each hold 100–1000 KB of heap for a while; confirmed by process_info(P, memory)"
    }

    fn plan(&self, rng: &mut SeededRng, _profile: Profile) -> MemoryHogParams {
        // The same ranges in both profiles: at most 10 MB in all.
        let holders = rng.range_inclusive(2, 10);
        let kb: Vec<i64> = (0..holders)
            .map(|_| rng.range_inclusive(100, 1_000) as i64)
            .collect();
        MemoryHogParams {
            kb,
            hold_ms: ms(rng, 500, 5_000) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: MemoryHogParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let kbs: Vec<Term> = p.kb.iter().copied().map(int).collect();
            if kbs.is_empty() {
                return Outcome::failed("no holder sizes planned");
            }
            let hold = p.hold_ms;
            let deadline = hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
            let mut holder_pids = Vec::new();
            let answer = ctx
                .exec(
                    SNIPPET,
                    &[
                        ("Kbs", list(kbs)),
                        ("HoldMs", int(hold)),
                        ("DeadlineMs", int(deadline)),
                    ],
                )
                .await;
            let reply = match answer {
                Ok(t) => match t.as_tuple() {
                    Some([tag, reply, holders]) if tag.as_atom() == Some("hog") => {
                        for h in holders.as_list().unwrap_or_default().iter() {
                            ctx.note_helper(h);
                            holder_pids.extend(h.as_pid().cloned());
                        }
                        Reply::from_term(reply)
                    }
                    _ => Reply::from_term(&t),
                },
                Err(e) => Reply::Failed(e.to_string()),
            };
            let effect = reply.helper().map(|h| {
                Box::new(
                    ctx.held_by(
                        h,
                        Duration::from_millis(hold as u64),
                        "heap held by memory_hog processes",
                    )
                    .ends_with_helper()
                    .with_companions(holder_pids),
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
