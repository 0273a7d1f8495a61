//! State chaos: take a process's registry entry away for 0.2–3 s (demo) /
//! 1–10 s (aggressive), in one of four registries drawn in `plan`:
//!
//! * `local` — its registered name (`whereis`);
//! * `global` — a `global` name it holds (`global:whereis_name`);
//! * `pg` — its membership of a `pg` group, in any scope (every membership
//!   it has in that group; scopes are found by their process's initial call);
//! * `elixir_registry` — a key it holds in an Elixir `Registry` (a registry
//!   is recognised by its structure: a named table owned by the process of
//!   the same name, holding the registry's description under the key `-1`;
//!   its public API then does the work, `Registry.unregister/2` and
//!   `Registry.register/3` run inside the victim, an OTP process, with
//!   `sys:replace_state`, since they act for the caller).
//!
//! When the node has no entry of the drawn registry owned by an eligible
//! process, a local name is taken instead (`measurements.drawn` says what
//! was drawn). Each in one of two modes:
//!
//! * `unregister` — the entry is simply gone: calls and sends by name fail
//!   (`noproc`, `badarg`), a group or registry lookup misses the process;
//! * `decoy` — the helper takes the entry itself and swallows every
//!   message (including `'$gen_call'`s: callers wait).
//!
//! A decoy's end reaches every caller waiting on it (they monitor the decoy:
//! `gen:call` exits with the decoy's exit reason), which the restart-budget
//! gate cannot see — the fifth RabbitMQ run lost connection supervisors
//! (restart intensity 0) to readers that died with `{{undone,ok},…}`. So
//! unless collapse is allowed the decoy holds the entry below the default
//! 5 s call timeout, and on release hands what it swallowed back to the
//! victim in order: calls (`'$gen_call'`, `system`, a gen_event manager's)
//! are relayed, and each waiting caller gets the victim's answer from the
//! decoy before the decoy goes (late, not lost). With `--allow-collapse`
//! the decoy swallows for good and its end takes its waiting callers down.
//!
//! Confirmed by the registry itself, read after the take: `whereis`,
//! `global:whereis_name`, `pg:get_local_members`, `Registry.lookup` no
//! longer return the victim (and return the decoy in decoy mode). On
//! release, at its own deadline, or at once when the monkey's lease ends
//! (the janitor: the monkey killed, frozen or cut off), the helper gives up
//! the decoy entry and puts the victim's back if the victim is alive and
//! the entry free (a pg membership as many times as it was there; a
//! Registry key with each of its values). If the victim died meanwhile, the
//! decoy frees the entry at once (so its supervisor can register the
//! replacement), and whoever holds it at release time (a restarted
//! replacement) is left alone. The helper traps exits so only a `kill` can
//! stop it before it has put the entry back; if it is killed, the entry
//! stays missing. Every entry taken is held in the run's ledger under its
//! application ([`crate::chaos::HeldNames`]: no kill there while it is
//! away) until given back.

use super::prelude::*;
use crate::chaos::Candidate;

/// Unregister a process's name, or hijack it with a decoy.
pub struct RegistryCorrupt;

/// The registries an entry can be taken from, as drawn.
const REGISTRIES: [&str; 4] = ["local", "global", "pg", "elixir_registry"];

/// The entries of one registry (`Kind`: global, pg or elixir_registry)
/// owned by the eligible processes (`Pids`), sorted: `{Pid, Entry, Label}`.
pub(crate) const ENTRIES: &str = include_str!("../../snippets/registry_entries.erl");

/// Take the entry: see `snippets/registry_take.erl`.
pub(crate) const SNIPPET: &str = include_str!("../../snippets/registry_take.erl");

/// The parameters of one registry corruption.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCorruptParams {
    /// How the entry is taken away: `unregister` or `decoy`.
    pub mode: String,
    /// How long it stays away before it is given back.
    pub hold_ms: i64,
    /// Which registry: `local`, `global`, `pg` or `elixir_registry` (a
    /// local name when the node has no such entry). Plans from before it
    /// was drawn read as `local`.
    #[serde(default = "local")]
    pub registry: String,
    /// Which of that registry's entries, by position among those of the
    /// eligible processes (sorted on the node).
    #[serde(default)]
    pub entry_pick: u64,
}

fn local() -> String {
    "local".to_string()
}

impl TypedOperation<BeamTarget> for RegistryCorrupt {
    type Params = RegistryCorruptParams;

    fn name(&self) -> &'static str {
        "registry_corrupt"
    }

    fn category(&self) -> Category {
        Category::State
    }

    fn describe(&self) -> &'static str {
        "take a registered name, global name, pg membership or Elixir Registry key away or hijack it with a decoy, then give it back; confirmed by the registry"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> RegistryCorruptParams {
        let (low, high) = match profile {
            Profile::Demo => (200, 3_000),
            Profile::Aggressive => (1_000, 10_000),
        };
        let mode = if rng.range_inclusive(0, 1) == 0 {
            "unregister"
        } else {
            "decoy"
        };
        let hold_ms = ms(rng, low, high) as i64;
        let registry = REGISTRIES[rng.range_inclusive(0, REGISTRIES.len() as u64 - 1) as usize];
        RegistryCorruptParams {
            mode: mode.to_string(),
            hold_ms,
            registry: registry.to_string(),
            entry_pick: rng.range_inclusive(0, 1 << 20),
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: RegistryCorruptParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let mode = p.mode.as_str();
            // A decoy keeps its callers waiting: below the call timeout
            // unless collapse is allowed (then it swallows for good).
            let hand_back = ctx.safety.budget != crate::chaos::BudgetPolicy::Collapse;
            let hold = match mode {
                "decoy" => ctx.suspension_cap(p.hold_ms),
                _ => p.hold_ms,
            };
            let take = Take {
                ctx,
                mode,
                hold,
                hand_back,
            };
            let why_local = match p.registry.as_str() {
                "local" => None,
                kind @ ("global" | "pg" | "elixir_registry") => {
                    match take.entry(kind, p.entry_pick).await {
                        Ok(outcome) => return outcome,
                        Err(why) => Some((kind, why)),
                    }
                }
                other => return Outcome::failed(format!("unknown registry {other:?}")),
            };
            let want = Want {
                named_only: true,
                ..Want::default()
            };
            let mut out = ctx
                .on_victim(want, |v| async move {
                    let name = v.name.clone().unwrap_or_default();
                    let what = format!("name {name}");
                    take.run(&v, atom("local"), name, what).await
                })
                .await;
            if let Some((drawn, why)) = why_local {
                if let Some(m) = out.measurements.as_object_mut() {
                    m.insert("drawn".into(), json!(drawn));
                    m.insert("why_local".into(), json!(why));
                }
            }
            out
        })
    }
}

/// One take of a registry entry, with the op's settings.
#[derive(Clone, Copy)]
struct Take<'a> {
    ctx: &'a BeamTarget,
    mode: &'a str,
    hold: i64,
    hand_back: bool,
}

impl Take<'_> {
    /// Take an entry of registry `kind` (not local): the eligible
    /// processes' entries are listed on the node and one is drawn; `Err`
    /// (why) when there is none, so a local name is taken instead.
    async fn entry(self, kind: &str, pick: u64) -> Result<Outcome, String> {
        let ctx = self.ctx;
        let all = ctx
            .candidates()
            .await
            .map_err(|e| format!("could not list victims: {e}"))?;
        let affected: Vec<String> = ctx
            .budget
            .affected
            .lock()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        // Workers only (a supervisor's entry is its restarts' business); a
        // Registry key is moved by code run inside its owner (sys).
        let is_eligible = |c: &&Candidate| {
            !c.supervisor
                && !affected.contains(&c.pid_text)
                && (kind != "elixir_registry"
                    || (c.otp && !c.initial_call.starts_with("gen_event:")))
        };
        // A long list is not sent, nor kept across the wait (10,000 pids
        // per operation in flight weighed on the monkey's memory at 10^6
        // processes): the node lists every entry and they are filtered here.
        let pids: Vec<Term> = all
            .iter()
            .filter(is_eligible)
            .take(super::super::candidate::SEND_ALL_UP_TO + 1)
            .map(|c| c.pid.clone().into())
            .collect();
        let pids = if pids.len() > super::super::candidate::SEND_ALL_UP_TO {
            atom("all")
        } else {
            list(pids)
        };
        let t = ctx
            .exec(ENTRIES, &[("Kind", atom(kind)), ("Pids", pids)])
            .await
            .map_err(|e| format!("could not list the {kind} entries: {e}"))?;
        let eligible: Vec<&Candidate> = all.iter().filter(is_eligible).collect();
        let owners: std::collections::HashSet<&crate::dist::term::Pid> =
            eligible.iter().map(|c| &c.pid).collect();
        let entries: Vec<Term> = t
            .as_list()
            .unwrap_or_default()
            .iter()
            .filter(|e| {
                e.as_tuple()
                    .and_then(|t| t.first())
                    .and_then(|p| p.as_pid())
                    .is_some_and(|p| owners.contains(p))
            })
            .cloned()
            .collect();
        if entries.is_empty() {
            return Err(format!("no {kind} entry held by an eligible process"));
        }
        let Some([pid, entry, label]) = entries[(pick % entries.len() as u64) as usize].as_tuple()
        else {
            return Err(format!("unexpected {kind} entry"));
        };
        let Some(victim) = eligible
            .iter()
            .find(|c| Some(&c.pid) == pid.as_pid())
            .map(|c| (*c).clone())
        else {
            return Err(format!("the {kind} entry's owner is no candidate"));
        };
        if !ctx.app_share_ok(&victim).await {
            return Ok(Outcome::skipped(
                "blast-radius cap: too many of this application's processes are already affected",
            ));
        }
        let held = format!("{kind} {}", label.as_text().unwrap_or_default());
        let (reply, effect) = self.run(&victim, entry.clone(), held.clone(), held).await;
        let mut out = reply.outcome().with_victim(Some(victim.victim()));
        if let Some(effect) = effect {
            out = out.with_effect(effect);
        }
        Ok(out)
    }

    /// Take `entry` (`local`, or a listed entry) of `victim` away; `held`
    /// names it in the run's ledger of held names until it is given back,
    /// `what` in the effect's description.
    async fn run(
        self,
        v: &Candidate,
        entry: Term,
        held: String,
        what: String,
    ) -> (Reply, Option<Box<dyn Effect>>) {
        let ctx = self.ctx;
        let deadline = self.hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
        // Held from before it is taken: a kill drawn meanwhile sees it.
        let names = ctx.hold_name(&held, v.app.as_deref());
        let reply = ctx
            .reply(
                SNIPPET,
                &[
                    ("Victim", v.pid.clone().into()),
                    ("Entry", entry),
                    ("Mode", atom(self.mode)),
                    ("HoldMs", int(self.hold)),
                    ("DeadlineMs", int(deadline)),
                    (
                        "HandBack",
                        atom(if self.hand_back { "true" } else { "false" }),
                    ),
                ],
            )
            .await;
        let Some(h) = reply.helper() else {
            names.lock().unwrap().release(&held);
            return (reply, None);
        };
        let effect = Box::new(
            ctx.held_by(
                h,
                Duration::from_millis(self.hold.max(0) as u64),
                format!("{what} of {} taken away ({})", v.pid_text, self.mode),
            )
            .clearing(ctx.affect(v), &v.pid_text)
            .releasing_name(names, &held),
        ) as Box<dyn Effect>;
        (reply, Some(effect))
    }
}
