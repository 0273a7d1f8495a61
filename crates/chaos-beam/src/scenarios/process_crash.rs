//! `process_crash`: kill a supervised worker (`exit(Pid, kill)`, a
//! registered one when there is one, else any) with the same snippet as the
//! `kill_worker` operation. Detection: from the kill to its `'DOWN'`;
//! recovery: from the `'DOWN'` to the worker back (its name on a new pid,
//! or its supervisor back to as many children), both measured on the node.
//! Expected: back within `process_restart` (1 s).

use super::{ScenarioCtx, Settings};
use crate::chaos::ops::kill_worker::SNIPPET;
use crate::chaos::Want;
use crate::dist::term::int;
use chaos_engine::scenario::{Observation, Scenario};
use futures::future::BoxFuture;
use serde_json::Value;
use std::time::Duration;

/// Kill one supervised worker.
pub struct ProcessCrash;

impl Scenario<ScenarioCtx, Settings> for ProcessCrash {
    fn name(&self) -> &'static str {
        "process_crash"
    }

    fn fault(&self) -> &'static str {
        "kill a supervised worker"
    }

    fn expected(&self, settings: &Settings) -> String {
        format!(
            "restarted by its supervisor within {} ms",
            settings.process_restart.as_millis()
        )
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let limit = ctx.settings.process_restart;
            // Wait longer than the limit, so a slow restart is measured, not just "late".
            let deadline = int((ctx.settings.recovery.max(limit)).as_millis() as i64);
            let t = &ctx.target;
            let mut reply = None;
            for want in [
                Want {
                    named_only: true,
                    ..Want::KILL
                },
                Want::KILL,
            ] {
                let deadline = &deadline;
                let out = t
                    .on_victim(want, |v| async move {
                        let r = t
                            .reply(
                                SNIPPET,
                                &[
                                    ("Victim", v.pid.clone().into()),
                                    ("RestartDeadlineMs", deadline.clone()),
                                ],
                            )
                            .await;
                        (r, None)
                    })
                    .await;
                t.victim_gone().await;
                if out.status != chaos_engine::Status::Skipped {
                    reply = Some(out);
                    break;
                }
            }
            let Some(out) = reply else {
                return Observation::skipped("no supervised worker under the safety rules");
            };
            let m = out.measurements.clone();
            let victim = out
                .victim
                .as_ref()
                .map(|v| v.name().to_string())
                .unwrap_or_default();
            if out.status != chaos_engine::Status::Confirmed {
                return Observation::judged(
                    false,
                    format!("the kill of {victim} was not confirmed: {}", out.detail),
                );
            }
            let us = |k: &str| m.get(k).and_then(Value::as_u64).map(Duration::from_micros);
            let detect = us("detect_us");
            let restart = us("restart_us");
            let observed = match restart {
                Some(r) => format!(
                    "killed {victim}; 'DOWN' after {:.3} ms; back after {:.3} ms",
                    super::ms(detect.unwrap_or_default()),
                    super::ms(r)
                ),
                None => format!("killed {victim}; {}", out.detail),
            };
            Observation::judged(restart.is_some_and(|r| r <= limit), observed)
                .detected(detect)
                .recovered(restart)
                .with_measurements(serde_json::json!({ "victim": victim, "kill": m }))
                .killing()
        })
    }
}
