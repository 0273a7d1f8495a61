//! Process chaos: kill a process that another application process
//! monitors, while watching that monitoring process — the fault is the
//! `'DOWN'` it gets, and the test is what it does with it.
//!
//! The victim is a worker of an eligible application whose
//! `process_info(P, monitored_by)` names a process of an eligible
//! application (a candidate: never the monkey's own processes, system
//! processes or OTP's applications, by the same safety rules). Before the
//! kill each such *watcher*'s reductions, queue length and monitors are
//! read; the victim is killed (`exit(P, kill)`, behind the restart-budget
//! gate like every kill) and its `'DOWN'` taken; then each watcher is
//! polled for up to 1 s: it **died** (with its reason), **handled** the
//! `'DOWN'` (its monitor of the victim is gone, no `'DOWN'` about the
//! victim left in its queue, its reductions grew: how many, and how long
//! after the kill), or still has it **queued** (a queue over 1,000 messages
//! is not copied: a **backlog**, delivered when its pid monitor is gone).
//! Confirmed when the victim's `'DOWN'` came and at least one watcher shows
//! the delivery (died, handled, queued, or a backlog whose monitor fired);
//! a watcher that still lists its monitor and has no `'DOWN'` queued when
//! the second is up leaves it unconfirmed. Skipped,
//! saying so, when no eligible process is monitored by another one. Only
//! the kill counts as a kill; `kill_worker` is the plain kill with its
//! restart timed.

use super::prelude::*;
use crate::dist::term::Pid;
use std::collections::{HashMap, HashSet};

/// Kill a monitored process and watch its monitor's reaction.
pub struct MonitorKill;

/// Of `Candidates` (a sample of the kill-eligible ones), those monitored
/// by another process (never one of `Exclude`): `[{Victim, [Watcher]}]`.
/// Whether a watcher is an eligible application process is decided by the
/// caller, against the candidate list it holds.
pub(crate) const MONITORED: &str = r#"
[{V, Ws} || V <- Candidates,
            {monitored_by, By} <- [erlang:process_info(V, monitored_by)],
            Ws <- [[W || W <- By, is_pid(W), W =/= V]],
            Ws =/= []].
"#;

/// How many kill-eligible candidates one operation asks about: its cost
/// stays O(sample) however many processes the node has (asking about every
/// candidate of a 10,000-long list each time took seconds at 10^6).
const SAMPLE: usize = 256;

pub(crate) const SNIPPET: &str = gated_kill!(
    "kill",
    r#"
VictimName = case erlang:process_info(Victim, registered_name) of
                 {registered_name, RN} -> RN;
                 _ -> none
             end,
About = fun(Who) -> Who =:= Victim orelse Who =:= {VictimName, node()} end,
Read = fun(W) ->
    case erlang:process_info(W, [reductions, message_queue_len, monitors]) of
        [{reductions, Rd}, {message_queue_len, Q}, {monitors, Ms}] -> {Rd, Q, Ms};
        undefined -> dead
    end
end,
Watching = [{W, Rd, Q, erlang:monitor(process, W)}
            || W <- Watchers, {Rd, Q, Ms} <- [Read(W)],
               lists:any(fun({process, Who}) -> About(Who); (_) -> false end, Ms)],
case {erlang:is_process_alive(Victim), Watching} of
    {false, _} -> [erlang:demonitor(M, [flush]) || {_, _, _, M} <- Watching], gone;
    {true, []} ->
        {skipped, <<"its monitoring processes no longer monitor it">>};
    {true, _} ->
        R = erlang:monitor(process, Victim),
        Sent = erlang:monotonic_time(microsecond),
        erlang:exit(Victim, kill),
        receive
            {'DOWN', R, process, _, noproc} ->
                [erlang:demonitor(M, [flush]) || {_, _, _, M} <- Watching], gone;
            {'DOWN', R, process, _, Why} ->
                Killed = erlang:monotonic_time(microsecond),
                Deadline = Killed + DeadlineMs * 1000,
                Pending = fun(W) ->
                    case erlang:process_info(W, message_queue_len) of
                        {message_queue_len, L} when L =< 1000 ->
                            case erlang:process_info(W, messages) of
                                {messages, Msgs} ->
                                    lists:any(fun({'DOWN', _, process, Who, _}) -> About(Who); (_) -> false end, Msgs);
                                undefined -> false
                            end;
                        %% too long to copy every few milliseconds
                        {message_queue_len, _} -> long;
                        undefined -> false
                    end
                end,
                %% One look at a watcher: died | handled | queued | backlog | waiting.
                Look = fun({W, Rd0, _Q0, M}) ->
                    receive {'DOWN', M, process, _, WWhy} -> {died, WWhy}
                    after 0 ->
                        case Read(W) of
                            dead -> {died, unknown};
                            {Rd, Q, Ms} ->
                                Listed = lists:member({process, Victim}, Ms),
                                case Pending(W) of
                                    true -> {queued, Q};
                                    %% its pid monitor of the victim is gone: the 'DOWN' came
                                    long -> {backlog, Q, not Listed};
                                    false when not Listed, Rd > Rd0 -> {handled, Rd - Rd0, Q};
                                    false -> waiting
                                end
                        end
                    end
                end,
                Kind = fun(waiting) -> waiting; (St) -> element(1, St) end,
                Open = fun(St) -> lists:member(Kind(St), [queued, backlog, waiting]) end,
                Poll = fun PollLoop(Ws, Done) ->
                    Now = erlang:monotonic_time(microsecond),
                    Looked = [{Wt, Look(Wt)} || Wt <- Ws],
                    Final = [{Wt, St, Now - Killed} || {Wt, St} <- Looked, not Open(St)],
                    Left = [Wt || {Wt, St} <- Looked, Open(St)],
                    case Left =:= [] orelse Now >= Deadline of
                        true -> Done ++ Final ++ [{Wt, St, Now - Killed} || {Wt, St} <- Looked, Open(St)];
                        false -> receive after 5 -> PollLoop(Left, Done ++ Final) end
                    end
                end,
                Seen = Poll(Watching, []),
                [erlang:demonitor(M, [flush]) || {_, _, _, M} <- Watching],
                Text = fun(W) -> list_to_binary(erlang:pid_to_list(W)) end,
                Say = fun({{W, _, _, _}, {died, WWhy}, Us}) ->
                              io_lib:format("~0p died (~0P) ~b ms after the kill", [W, WWhy, 6, Us div 1000]);
                         ({{W, _, _, _}, {handled, Red, _}, Us}) ->
                              io_lib:format("~0p handled its 'DOWN' within ~b ms (+~b reductions)", [W, (Us + 999) div 1000, Red]);
                         ({{W, _, _, _}, {queued, Q}, _}) ->
                              io_lib:format("~0p has the 'DOWN' still queued after ~b ms (queue ~b)", [W, DeadlineMs, Q]);
                         ({{W, _, _, _}, {backlog, Q, Fired}, _}) ->
                              io_lib:format("~0p has ~b messages queued, too many to look for the 'DOWN' in (~s)",
                                            [W, Q, case Fired of true -> "its monitor fired"; false -> "its monitor may not have fired" end]);
                         ({{W, _, _, _}, waiting, _}) ->
                              io_lib:format("~0p still lists its monitor after ~b ms, no 'DOWN' queued", [W, DeadlineMs])
                      end,
                Reactions = [#{watcher => Text(W),
                               reaction => Kind(S),
                               after_us => Us,
                               queue_before => Q0,
                               reductions => case S of {handled, Red, _} -> Red; _ -> null end}
                             || {{W, _, Q0, _}, S, Us} <- Seen],
                Delivered = [x || {_, S, _} <- Seen,
                                  case S of waiting -> false; {backlog, _, false} -> false; _ -> true end],
                Count = fun(K) -> length([x || {_, S, _} <- Seen, Kind(S) =:= K]) end,
                Detail = iolist_to_binary(io_lib:format("killed, 'DOWN' with ~0p; watched by ~b: ~s",
                                                        [Why, length(Seen), lists:join("; ", [Say(E) || E <- Seen])])),
                Meas = #{detect_us => Killed - Sent, watchers => length(Seen), reactions => Reactions,
                      handled => Count(handled), died => Count(died), queued => Count(queued),
                      no_reaction => Count(waiting), restart_ms => null},
                case Delivered of
                    [] -> {unconfirmed, Detail};
                    _ -> {confirmed, Detail, Meas}
                end
        after 2000 ->
            erlang:demonitor(R, [flush]),
            [erlang:demonitor(M, [flush]) || {_, _, _, M} <- Watching],
            {unconfirmed, <<"kill sent, but no 'DOWN' within 2 s">>}
        end
end
"#
);

/// The parameters of one monitored kill.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorKillParams {
    /// Picks the first victim tried among the monitored ones (modulo their number).
    pub pick: i64,
}

/// How many monitored victims are tried when the gate turns some away.
const TRIES: usize = 8;

impl TypedOperation<BeamTarget> for MonitorKill {
    type Params = MonitorKillParams;

    fn name(&self) -> &'static str {
        "monitor_kill"
    }

    fn category(&self) -> Category {
        Category::Process
    }

    fn describe(&self) -> &'static str {
        "kill a process another application process monitors; confirmed by the monitor's 'DOWN' and its reaction"
    }

    fn plan(&self, rng: &mut SeededRng, _profile: Profile) -> MonitorKillParams {
        MonitorKillParams {
            pick: rng.range_inclusive(0, 1_000_000_000) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: MonitorKillParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            // The list may hold only the dead of earlier kills: once more
            // with a fresh one (when one is due) before giving up.
            let mut monitored = Vec::new();
            for fresh in [false, true] {
                if fresh {
                    ctx.all_of_a_kind_dead().await;
                }
                monitored = match find_monitored(ctx, p.pick as usize).await {
                    Ok(m) => m,
                    Err(e) => return Outcome::failed(e),
                };
                if !monitored.is_empty() {
                    break;
                }
            }
            if monitored.is_empty() {
                return Outcome::skipped(
                    "no eligible process is monitored by another application process (process_info(P, monitored_by))",
                );
            }
            if !ctx.take_kill() {
                return Outcome::skipped("blast-radius cap: maximum kills per second reached");
            }
            let deadline = int(1_000);
            let mut guarded: Vec<String> = Vec::new();
            let start = (p.pick as usize) % monitored.len();
            for i in 0..monitored.len().min(TRIES) {
                let (v, watchers) = &monitored[(start + i) % monitored.len()];
                // While chaos holds a name of its application, no kill lands there.
                let held = super::super::gate::held_names_of_app(ctx, v);
                if let Some(why) = ctx.name_hidden_in_app(&held, v) {
                    guarded.push(why);
                    continue;
                }
                if !ctx.app_share_ok(v).await {
                    continue;
                }
                let reply = ctx
                    .reply(
                        SNIPPET,
                        &[
                            ("Victim", v.pid.clone().into()),
                            ("Watchers", watchers.clone()),
                            ("DeadlineMs", deadline.clone()),
                        ],
                    )
                    .await;
                match reply {
                    Reply::Guarded(why) => {
                        guarded.push(crate::elixir::readable(&why).into_owned());
                        continue;
                    }
                    Reply::Gone => {
                        ctx.victim_dead(&v.pid_text).await;
                        continue;
                    }
                    _ => {}
                }
                let mut out = reply.outcome().with_victim(Some(v.victim()));
                if !guarded.is_empty() {
                    let mut note = out.budget.take().unwrap_or_default();
                    note.guarded += guarded.len() as u64;
                    out = out.with_budget(note);
                }
                if out.status == Status::Confirmed {
                    ctx.victim_dead(&v.pid_text).await;
                    return ctx.killed(out);
                }
                ctx.victim_gone().await;
                return out;
            }
            let n = guarded.len() as u64;
            match guarded.into_iter().next() {
                Some(first) => {
                    Outcome::skipped(first).with_budget(super::super::reply::guarded(n))
                }
                None => Outcome::skipped(
                    "every monitored process tried died before the kill, or its application is at the blast-radius cap",
                ),
            }
        })
    }
}

/// Kill-eligible candidates another application process monitors, each
/// with its watchers: asked of a sample of [`SAMPLE`] candidates from
/// `pick` on, the watchers kept when they are candidates themselves.
async fn find_monitored(ctx: &BeamTarget, pick: usize) -> Result<Vec<(Candidate, Term)>, String> {
    let (all, dead) = match ctx.candidates_with_dead().await {
        Ok(c) => c,
        Err(e) => return Err(format!("could not list victims: {e}")),
    };
    // A window of SAMPLE kill-eligible candidates from `pick` on; no list
    // of all of them is kept across the wait (10,000 references per
    // operation in flight add up at 10^6 processes).
    let killable =
        |c: &(&Candidate, &bool)| !*c.1 && !c.0.supervisor && !ctx.is_affected(&c.0.pid_text);
    if all.is_empty() {
        return Ok(Vec::new());
    }
    let start = pick % all.len();
    let sample: HashMap<&Pid, &Candidate> = all
        .iter()
        .zip(&dead)
        .cycle()
        .skip(start)
        .take(all.len())
        .filter(killable)
        .take(SAMPLE)
        .map(|(c, _)| (&c.pid, c))
        .collect();
    if sample.is_empty() {
        return Ok(Vec::new());
    }
    let found = ctx
        .exec(
            MONITORED,
            &[
                (
                    "Candidates",
                    list(sample.keys().map(|p| Term::from((*p).clone())).collect()),
                ),
                // The monkey's own watchers (helpers) are no candidates:
                // the filter below drops them, no list of them is sent.
            ],
        )
        .await
        .map_err(|e| format!("could not list monitored processes: {e}"))?;
    // Built after the wait, so no operation waits holding it.
    let eligible: HashSet<&Pid> = all.iter().map(|c| &c.pid).collect();
    let mut monitored: Vec<(Candidate, Term)> = found
        .as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let [v, ws] = e.as_tuple()? else { return None };
            let c = sample.get(v.as_pid()?)?;
            let watchers: Vec<Term> = ws
                .as_list()?
                .iter()
                .filter(|w| w.as_pid().is_some_and(|w| eligible.contains(w)))
                .cloned()
                .collect();
            (!watchers.is_empty()).then(|| ((*c).clone(), list(watchers)))
        })
        .collect();
    // The same order for the same list, whatever the map's.
    monitored.sort_by(|a, b| a.0.pid_text.cmp(&b.0.pid_text));
    Ok(monitored)
}
