//! Process chaos: send the exit signal `exit(Victim, chaos_test)` to
//! `fanout` random workers at once (1–3 demo, 2–6 aggressive, drawn in the
//! plan), as the seed sends `chaos_test` to random processes. Each victim
//! is picked, gated and confirmed on its own: it takes one kill from the
//! kills-per-second cap (`--max-kills-per-sec`; victims past the cap are
//! not signalled, `capped`), it goes through the restart-budget gate (a
//! victim the gate turns away is replaced by another, and counted as
//! `guarded`), and it is confirmed by its `'DOWN'` with reason
//! `chaos_test`, or, when it traps exits, by it still being alive
//! afterwards. The operation reports how many were signalled, died,
//! survived (trapping exits), were guarded and capped, with each victim;
//! it is confirmed when at least one signal was confirmed. The first victim
//! is the event's victim; every one that died is a kill (the run's tally
//! counts one kill per operation).

use super::prelude::*;

/// Send an exit signal to one worker.
pub struct ExitSignal;

// Gated as a kill: a victim that traps exits gets an 'EXIT' message it
// may not handle (and crash on).
pub(crate) const SNIPPET: &str = gated_kill!(
    "kill",
    r#"
R = erlang:monitor(process, Victim),
case erlang:is_process_alive(Victim) of
    false -> erlang:demonitor(R, [flush]), gone;
    true ->
        TrapBefore = case erlang:process_info(Victim, trap_exit) of
                         {trap_exit, TB} -> TB;
                         undefined -> false
                     end,
        erlang:exit(Victim, chaos_test),
        receive
            {'DOWN', R, process, _, noproc} -> gone;
            {'DOWN', R, process, _, chaos_test} ->
                {confirmed, <<"exit signal chaos_test sent, 'DOWN' with chaos_test">>,
                 #{died => true, trap_exit => TrapBefore}};
            {'DOWN', R, process, _, Why} when TrapBefore =:= true ->
                {confirmed,
                 iolist_to_binary(io_lib:format("exit signal chaos_test sent; it traps exits and stopped with ~0p", [Why])),
                 #{died => true, trap_exit => TrapBefore}};
            {'DOWN', R, process, _, Why} ->
                {unconfirmed,
                 iolist_to_binary(io_lib:format("exit signal chaos_test sent, but it died with ~0p", [Why]))}
        after 300 ->
            case erlang:process_info(Victim, trap_exit) of
                {trap_exit, true} ->
                    erlang:demonitor(R, [flush]),
                    {confirmed, <<"exit signal chaos_test sent; it traps exits and is still alive">>,
                     #{died => false, trap_exit => true}};
                {trap_exit, false} ->
                    erlang:demonitor(R, [flush]),
                    {unconfirmed, <<"exit signal chaos_test sent, yet it is alive and does not trap exits">>};
                undefined ->
                    receive
                        {'DOWN', R, process, _, LateWhy} ->
                            {confirmed,
                             iolist_to_binary(io_lib:format("exit signal chaos_test sent, 'DOWN' with ~0p", [LateWhy])),
                             #{died => true, trap_exit => TrapBefore}}
                    after 2000 ->
                        erlang:demonitor(R, [flush]),
                        {unconfirmed, <<"exit signal chaos_test sent; it is gone but no 'DOWN' arrived">>}
                    end
            end
        end
end
"#
);

/// The parameters of one fan-out.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitSignalParams {
    /// How many workers get the signal.
    pub fanout: i64,
}

impl TypedOperation<BeamTarget> for ExitSignal {
    type Params = ExitSignalParams;

    fn name(&self) -> &'static str {
        "exit_signal"
    }

    fn category(&self) -> Category {
        Category::Process
    }

    fn describe(&self) -> &'static str {
        "send exit(Pid, chaos_test) to 1–6 random workers, each gated; confirmed by each one's 'DOWN' (or its survival when it traps exits)"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> ExitSignalParams {
        let (low, high) = match profile {
            Profile::Demo => (1, 3),
            Profile::Aggressive => (2, 6),
        };
        ExitSignalParams {
            fanout: rng.range_inclusive(low, high) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: ExitSignalParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let fanout = p.fanout.clamp(1, 100) as usize;
            let mut hits: Vec<Outcome> = Vec::new();
            let (mut guarded, mut capped) = (0u64, 0usize);
            let mut guard_reason: Option<String> = None;
            let mut not_done: Option<String> = None;
            // Survivors stay out of the next picks of this fan-out.
            let mut held: Vec<String> = Vec::new();
            for i in 0..fanout {
                if !ctx.take_kill() {
                    capped = fanout - i;
                    break;
                }
                let out = ctx
                    .on_victim(Want::KILL, |v| async move {
                        (
                            ctx.reply(SNIPPET, &[("Victim", v.pid.clone().into())])
                                .await,
                            None,
                        )
                    })
                    .await;
                guarded += out.budget.as_ref().map_or(0, |b| b.guarded);
                let Some(v) = out.victim.clone() else {
                    // Nothing picked: every candidate was guarded, or none is left.
                    if out.budget.as_ref().is_some_and(|b| b.guarded > 0) {
                        guard_reason.get_or_insert(out.detail.clone());
                    } else {
                        not_done.get_or_insert(out.detail.clone());
                    }
                    break;
                };
                let died = out.measurements.get("died") == Some(&Value::Bool(true));
                if died {
                    ctx.victim_dead(&v.id).await;
                } else {
                    ctx.victims.busy.lock().unwrap().insert(v.id.clone());
                    held.push(v.id.clone());
                }
                hits.push(if out.status == Status::Confirmed && died {
                    ctx.killed(out)
                } else {
                    out
                });
            }
            {
                let mut busy = ctx.victims.busy.lock().unwrap();
                for id in &held {
                    busy.remove(id);
                }
            }
            ctx.victim_gone().await;
            fan_out_outcome(fanout, hits, guarded, guard_reason, capped, not_done)
        })
    }
}

/// One outcome for the whole fan-out: confirmed when at least one signal
/// was; the counts and each victim in the measurements; every budget the
/// signals charged, and every victim the gate turned away.
fn fan_out_outcome(
    fanout: usize,
    hits: Vec<Outcome>,
    guarded: u64,
    guard_reason: Option<String>,
    capped: usize,
    not_done: Option<String>,
) -> Outcome {
    let confirmed = hits
        .iter()
        .filter(|o| o.status == Status::Confirmed)
        .count();
    let died = hits.iter().filter(|o| o.killed).count();
    let survived = hits
        .iter()
        .filter(|o| o.status == Status::Confirmed && !o.killed)
        .count();
    let signalled = hits
        .iter()
        .filter(|o| matches!(o.status, Status::Confirmed | Status::Unconfirmed))
        .count();
    let victims: Vec<Value> = hits
        .iter()
        .map(|o| {
            json!({
                "pid": o.victim.as_ref().map(|v| v.id.clone()),
                "status": o.status,
                "died": o.killed,
                "detail": o.detail,
            })
        })
        .collect();
    let mut parts = vec![if signalled == 0 {
        format!("no exit signal sent ({fanout} planned)")
    } else {
        format!(
            "exit signal chaos_test to {signalled} of {fanout} planned: {died} died, {survived} trap exits and are still alive"
        )
    }];
    if signalled > confirmed {
        parts.push(format!("{} unconfirmed", signalled - confirmed));
    }
    if guarded > 0 {
        parts.push(format!(
            "{guarded} victim(s) turned away by the kill gate{}",
            guard_reason.map(|r| format!(" ({r})")).unwrap_or_default()
        ));
    }
    if capped > 0 {
        parts.push(format!(
            "{capped} not signalled: maximum kills per second reached"
        ));
    }
    if let Some(why) = &not_done {
        parts.push(format!("stopped: {why}"));
    }
    if let Some(o) = hits.first() {
        parts.push(format!("first: {}", o.detail));
    }
    let detail = parts.join("; ");
    let mut charges = Vec::new();
    for o in &hits {
        if let Some(b) = &o.budget {
            charges.extend(b.charges.iter().cloned());
        }
    }
    let first = hits
        .iter()
        .find(|o| o.status == Status::Confirmed)
        .or(hits.first())
        .and_then(|o| o.victim.clone());
    let m = json!({
        "fanout": fanout,
        "signalled": signalled,
        "died": died,
        "survived": survived,
        "guarded": guarded,
        "capped": capped,
        "victims": victims,
    });
    let mut out = if confirmed > 0 {
        Outcome::confirmed(detail)
    } else if signalled > 0 {
        Outcome::unconfirmed(detail)
    } else {
        Outcome::skipped(detail)
    }
    .with_measurements(m)
    .with_victim(first);
    if guarded > 0 || !charges.is_empty() {
        let prediction = hits
            .iter()
            .find_map(|o| o.budget.as_ref()?.prediction.clone());
        out = out.with_budget(chaos_engine::budget::BudgetNote {
            charges,
            prediction,
            guarded,
        });
    }
    if died > 0 {
        out = out.killing();
    }
    out
}
