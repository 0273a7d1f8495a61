//! `supervisor_cascade`: kill a mid-level supervisor (never an
//! application's top supervisor) with the `kill_supervisor` operation,
//! taking its whole subtree down. Detection: from the kill to its `'DOWN'`
//! (on the node). Recovery: from the `'DOWN'` to the whole subtree back —
//! the parent restarting it (timed on the node) and then every supervisor
//! that was below it running again with its children (polled from here).
//! Expected: back within `subtree_restart` (5 s). The kill goes through the
//! restart-budget gate: by default only a subtree whose loss its parent can
//! absorb with a restart to spare is picked (`--allow-collapse` lifts that).

use super::{ScenarioCtx, Settings};
use crate::chaos::detect::supervision;
use crate::chaos::ops::kill_supervisor::KillSupervisor;
use chaos_engine::scenario::{Observation, Scenario};
use chaos_engine::{Operation, Status};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Kill one supervisor below an application's top supervisor.
pub struct SupervisorCascade;

impl Scenario<ScenarioCtx, Settings> for SupervisorCascade {
    fn name(&self) -> &'static str {
        "supervisor_cascade"
    }

    fn fault(&self) -> &'static str {
        "kill a mid-level supervisor"
    }

    fn expected(&self, settings: &Settings) -> String {
        format!(
            "its subtree restarted within {} ms",
            settings.subtree_restart.as_millis()
        )
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            if !ctx.settings.allow_supervisor_kill {
                return Observation::skipped(
                    "killing a supervisor is gated, as in a run: pass --allow-supervisor-kill (or --allow kill_supervisor, [allow] ops)",
                );
            }
            let t = &ctx.target;
            let before = match supervision(t).await {
                Ok(b) => b,
                Err(e) => {
                    return Observation::judged(false, format!("could not read the tree: {e}"))
                }
            };
            // A supervisor whose kill the restart-budget gate refuses is not
            // the only one: draw again, a few times, before giving up.
            let mut out = KillSupervisor.run(t, &json!({})).await;
            for _ in 0..7 {
                if !(out.status == Status::Skipped && out.detail.starts_with("restart budget")) {
                    break;
                }
                out = KillSupervisor.run(t, &json!({})).await;
            }
            let returned = Instant::now();
            match out.status {
                Status::Confirmed => {}
                Status::Skipped => return Observation::skipped(out.detail),
                _ => {
                    return Observation::judged(
                        false,
                        format!("the kill was not confirmed: {}", out.detail),
                    )
                }
            }
            let pid = out
                .victim
                .as_ref()
                .map(|v| v.id.clone())
                .unwrap_or_default();
            let Some(victim) = before.supervisors.iter().find(|s| s.pid == pid) else {
                // Under a dynamic supervisor, which the steady state's walk does
                // not enter: judged by its own restart, timed on the node.
                let restarted = out
                    .measurements
                    .get("restart_ms")
                    .and_then(Value::as_u64)
                    .map(Duration::from_millis);
                let detect = out
                    .measurements
                    .get("detect_us")
                    .and_then(Value::as_u64)
                    .map(Duration::from_micros);
                return Observation::judged(
                    restarted.is_some_and(|r| r <= ctx.settings.subtree_restart),
                    match restarted {
                        Some(r) => format!(
                            "killed supervisor {pid} (under a dynamic supervisor, so its subtree is not in the steady state's walk); restarted by its parent after {:.3} ms",
                            super::ms(r)
                        ),
                        None => format!("killed supervisor {pid} (under a dynamic supervisor); not restarted by its parent"),
                    },
                )
                .detected(detect)
                .recovered(restarted)
                .with_measurements(json!({ "supervisor": pid, "kill": out.measurements }))
                .killing();
            };
            let key = victim.key.clone();
            let below = |k: &str| k == key || k.starts_with(&format!("{key}/"));
            let subtree: Vec<_> = before
                .supervisors
                .iter()
                .filter(|s| below(&s.key))
                .collect();
            let m = &out.measurements;
            let detect = m
                .get("detect_us")
                .and_then(Value::as_u64)
                .map(Duration::from_micros);
            let restarted = m
                .get("restart_ms")
                .and_then(Value::as_u64)
                .map(Duration::from_millis);
            // The parent restarted it (timed on the node); now the whole subtree.
            let deadline = returned + ctx.settings.subtree_restart.max(ctx.settings.recovery);
            let mut whole = None;
            let mut missing = String::from("not restarted by its parent");
            if restarted.is_some() {
                loop {
                    if let Ok(now) = supervision(t).await {
                        let gap = subtree.iter().find_map(|b| {
                            match now.supervisors.iter().find(|s| s.key == b.key) {
                                None => Some(format!("{} is gone", b.key)),
                                Some(s) if !s.answered => {
                                    Some(format!("{} does not answer", b.key))
                                }
                                Some(s) if !s.dynamic && !b.dynamic && s.active < b.active => {
                                    Some(format!(
                                        "{} runs {} of its {} children",
                                        b.key, s.active, b.active
                                    ))
                                }
                                Some(_) => None,
                            }
                        });
                        match gap {
                            None => {
                                whole = Some(returned.elapsed());
                                break;
                            }
                            Some(g) => missing = g,
                        }
                    }
                    if Instant::now() >= deadline || ctx.stop.is_stopped() {
                        break;
                    }
                    smol::Timer::after(Duration::from_millis(10)).await;
                }
            }
            // Kill → restart is on the node's clock; the rest on ours, from when the operation returned.
            let recovery = match (restarted, whole) {
                (Some(r), Some(w)) => Some((r + w).saturating_sub(detect.unwrap_or_default())),
                _ => None,
            };
            let observed = match recovery {
                Some(r) => format!(
                    "killed supervisor {key} ({} supervisor(s) in its subtree); 'DOWN' after {:.3} ms; subtree whole again after {:.3} ms",
                    subtree.len(),
                    super::ms(detect.unwrap_or_default()),
                    super::ms(r)
                ),
                None => format!("killed supervisor {key}; subtree not whole: {missing}"),
            };
            Observation::judged(
                recovery.is_some_and(|r| r <= ctx.settings.subtree_restart),
                observed,
            )
            .detected(detect)
            .recovered(recovery)
            .with_measurements(json!({
                "supervisor": key,
                "subtree": subtree.iter().map(|s| s.key.clone()).collect::<Vec<_>>(),
                "kill": m,
            }))
            .hitting(vec![key])
            .killing()
        })
    }
}
