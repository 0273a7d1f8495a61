//! What every scenario shares, around its own fault:
//!
//! 1. the steady state before: every application that ran at the start
//!    runs, every supervisor answers, the service answers its probe (waits
//!    up to the recovery bound for it);
//! 2. probe writes to the service (a line `PUT`, an HTTP write path, a
//!    confirmed AMQP publish), remembered when acknowledged;
//! 3. the scenario itself;
//! 4. the recovery wait: until the node's supervision is whole again (no
//!    application stopped, every static supervisor back to its children)
//!    and the service answers, at most the recovery bound;
//! 5. cascading failures: applications stopped, supervisors gone,
//!    restarted (a new pid) or short of children, other than those the
//!    fault hit on purpose — from the supervision snapshot before and after;
//! 6. data loss: the acknowledged writes read back; what the writes left
//!    on the service removed.

use super::{ScenarioCtx, Settings};
use crate::chaos::detect::{supervision, Supervision};
use chaos_engine::scenario::{Around, Observation, Scenario, ScenarioResult, Verdict};
use std::time::{Duration, Instant};

const ASK: Duration = Duration::from_secs(2);

/// A scenario not run, for `reason`.
pub fn not_run(
    ctx: &ScenarioCtx,
    s: &dyn Scenario<ScenarioCtx, Settings>,
    reason: &str,
) -> ScenarioResult {
    ScenarioResult::judge(
        s.name(),
        s.fault(),
        s.expected(&ctx.settings),
        Observation::skipped(reason),
        Around::default(),
    )
}

/// Run one scenario with the steady-state check before and the recovery wait after.
pub async fn run_one(ctx: &ScenarioCtx, s: &dyn Scenario<ScenarioCtx, Settings>) -> ScenarioResult {
    let t0 = Instant::now();
    let expected = s.expected(&ctx.settings);
    let judge = |obs: Observation, around: Around| {
        ScenarioResult::judge(s.name(), s.fault(), expected.clone(), obs, around)
    };
    let before = match settle(ctx, None).await {
        Ok(b) => b,
        Err(why) => {
            return judge(
                Observation::judged(
                    false,
                    format!("not in steady state before the fault: {why}"),
                ),
                Around {
                    duration: t0.elapsed(),
                    ..Around::default()
                },
            )
        }
    };
    let writes = probe_write(ctx, s.name()).await;
    if ctx.stop.is_stopped() {
        return not_run(ctx, s, super::INTERRUPTED);
    }
    // A service that took none of the probe writes cannot show that none was lost.
    if writes.as_ref().is_some_and(|w| w.is_empty()) && ctx.settings.probe_keys > 0 {
        return judge(
            Observation::judged(
                false,
                format!(
                    "not in steady state before the fault: none of the {} probe writes was acknowledged ({}), so no data loss could be measured",
                    ctx.settings.probe_keys,
                    ctx.probe.as_ref().map(|p| p.describe()).unwrap_or_default()
                ),
            ),
            Around {
                duration: t0.elapsed(),
                ..Around::default()
            },
        );
    }
    let mut obs = s.run(ctx).await;
    if matches!(obs.verdict, Verdict::Skipped(_)) {
        return judge(
            obs,
            Around {
                duration: t0.elapsed(),
                ..Around::default()
            },
        );
    }
    let cascading_failures = match settle(ctx, Some(&before)).await {
        Ok(after) => cascade(&before, &after, &obs.hit),
        Err(why) => {
            obs.verdict = Verdict::NotMet;
            obs.observed = format!(
                "{}; the steady state was not back within {} ms after the fault: {why}",
                obs.observed,
                ctx.settings.recovery.as_millis()
            );
            match supervision(&ctx.target).await {
                Ok(after) => cascade(&before, &after, &obs.hit),
                Err(e) => vec![format!("the node's supervision could not be read: {e}")],
            }
        }
    };
    let data_loss = match writes {
        Some(w) => Some(probe_read(ctx, &w).await),
        None => None,
    };
    let data_loss_allowed =
        (!obs.kills || ctx.settings.kills_keep_data).then_some(ctx.settings.max_data_loss);
    if let (Some(lost @ 1..), None) = (data_loss, data_loss_allowed) {
        obs.observed = format!(
            "{}; {lost} acknowledged probe writes lost (reported, not held against a fault that kills processes unless kills_keep_data)",
            obs.observed
        );
    }
    judge(
        obs,
        Around {
            data_loss,
            data_loss_allowed,
            cascading_failures,
            duration: t0.elapsed(),
        },
    )
}

/// Wait (at most the recovery bound) until the node is steady: every
/// application that ran at the start runs, every supervisor answers, and —
/// compared with `before` — no supervisor is missing or short of children;
/// the service answers its probe. The snapshot, or what is still wrong.
async fn settle(ctx: &ScenarioCtx, before: Option<&Supervision>) -> Result<Supervision, String> {
    let deadline = Instant::now() + ctx.settings.recovery;
    loop {
        let why = match supervision(&ctx.target).await {
            Ok(now) => match unsteady(ctx, before, &now).await {
                None => return Ok(now),
                Some(why) => why,
            },
            Err(e) if e.is_disconnect() => return Err(format!("the node went away: {e}")),
            Err(e) => format!("the steady state could not be read: {e}"),
        };
        if Instant::now() >= deadline || ctx.stop.is_stopped() {
            return Err(why);
        }
        smol::Timer::after(Duration::from_millis(50)).await;
    }
}

async fn unsteady(
    ctx: &ScenarioCtx,
    before: Option<&Supervision>,
    now: &Supervision,
) -> Option<String> {
    if let Some(app) = ctx
        .target
        .baseline_apps()
        .iter()
        .find(|a| !now.applications.contains(a))
    {
        return Some(format!("application {app} is not running"));
    }
    if let Some(s) = now.supervisors.iter().find(|s| !s.answered) {
        return Some(format!("supervisor {} does not answer", s.key));
    }
    if let Some(before) = before {
        for b in &before.supervisors {
            match now.supervisors.iter().find(|s| s.key == b.key) {
                None => return Some(format!("supervisor {} is gone", b.key)),
                // A simple_one_for_one supervisor with no child left looks static:
                // it was dynamic before.
                Some(s) if !s.dynamic && !b.dynamic && s.active < b.active => {
                    return Some(format!(
                        "supervisor {} runs {} of its {} children",
                        b.key, s.active, b.active
                    ))
                }
                Some(_) => {}
            }
        }
    }
    if let Some(probe) = &ctx.probe {
        match probe.ask(ASK).await {
            chaos_probe::Answer::Ok(_) => {}
            other => {
                return Some(format!(
                    "the service ({}) does not answer: {}",
                    probe.describe(),
                    other.what()
                ))
            }
        }
    }
    None
}

/// Applications and supervisors affected, other than what the fault hit.
pub fn cascade(before: &Supervision, after: &Supervision, hit: &[String]) -> Vec<String> {
    let hit_by = |key: &str| {
        hit.iter()
            .any(|h| key == h || key.starts_with(&format!("{h}/")))
    };
    let mut out: Vec<String> = before
        .applications
        .iter()
        .filter(|a| !after.applications.contains(a))
        .map(|a| format!("application {a} stopped"))
        .collect();
    for b in before.supervisors.iter().filter(|b| !hit_by(&b.key)) {
        match after.supervisors.iter().find(|s| s.key == b.key) {
            None => out.push(format!("supervisor {} is gone", b.key)),
            Some(s) if s.pid != b.pid => out.push(format!(
                "supervisor {} was restarted ({} -> {})",
                b.key, b.pid, s.pid
            )),
            Some(s) if !s.dynamic && !b.dynamic && s.answered && s.active < b.active => {
                out.push(format!(
                    "supervisor {} runs {} of its {} children",
                    b.key, s.active, b.active
                ))
            }
            Some(_) => {}
        }
    }
    out
}

/// Write the probe keys; the acknowledged (key, value) pairs, or `None`
/// when there is no service to write to or its probe cannot write.
async fn probe_write(ctx: &ScenarioCtx, scenario: &str) -> Option<Vec<(String, String)>> {
    let probe = ctx.probe.as_ref()?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let pairs: Vec<(String, String)> = (0..ctx.settings.probe_keys)
        .map(|i| {
            (
                format!("chaos_monkey_probe_{i}"),
                format!("{scenario}_{stamp}_{i}"),
            )
        })
        .collect();
    probe.write(&pairs, ASK).await
}

/// Read the acknowledged writes back: how many are missing or changed.
/// Reads that fail (no connection, an error answer) are retried until the
/// recovery bound; still failing, they count as lost. Then what the
/// writes left on the service is removed.
async fn probe_read(ctx: &ScenarioCtx, writes: &[(String, String)]) -> u64 {
    let Some(probe) = ctx.probe.as_ref() else {
        return 0;
    };
    let deadline = Instant::now() + ctx.settings.recovery;
    let lost = loop {
        let r = probe.read_back(writes, ASK).await;
        if !r.unsure || Instant::now() >= deadline {
            break r.lost;
        }
        smol::Timer::after(Duration::from_millis(100)).await;
    };
    probe.cleanup(ASK).await;
    lost
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::detect::SupervisorView;

    fn sup(key: &str, pid: &str, active: u64) -> SupervisorView {
        SupervisorView {
            key: key.into(),
            pid: pid.into(),
            active,
            dynamic: false,
            answered: true,
        }
    }

    fn tree(apps: &[&str], sups: Vec<SupervisorView>) -> Supervision {
        Supervision {
            applications: apps.iter().map(|a| a.to_string()).collect(),
            supervisors: sups,
            memory_bytes: 0,
        }
    }

    #[test]
    fn cascade_counts_what_the_fault_did_not_hit() {
        let before = tree(
            &["app", "other"],
            vec![
                sup("app", "<0.1.0>", 2),
                sup("app/mid", "<0.2.0>", 1),
                sup("app/mid/leaf", "<0.3.0>", 3),
                sup("app/side", "<0.4.0>", 2),
            ],
        );
        // The hit subtree restarted (new pids): not a cascade.
        let after = tree(
            &["app", "other"],
            vec![
                sup("app", "<0.1.0>", 2),
                sup("app/mid", "<0.9.0>", 1),
                sup("app/mid/leaf", "<0.8.0>", 3),
                sup("app/side", "<0.4.0>", 2),
            ],
        );
        assert!(cascade(&before, &after, &["app/mid".into()]).is_empty());
        // Without the hit, the same restarts are cascading failures.
        assert_eq!(cascade(&before, &after, &[]).len(), 2);
        // A sibling restarted, one short of children, an application stopped.
        let after = tree(
            &["app"],
            vec![
                sup("app", "<0.1.0>", 2),
                sup("app/mid", "<0.9.0>", 1),
                sup("app/mid/leaf", "<0.8.0>", 3),
                sup("app/side", "<0.7.0>", 1),
            ],
        );
        let c = cascade(&before, &after, &["app/mid".into()]);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[0].contains("application other stopped"), "{c:?}");
        assert!(c[1].contains("app/side was restarted"), "{c:?}");
        // A supervisor gone, and a static one short of children.
        let after = tree(
            &["app", "other"],
            vec![
                sup("app", "<0.1.0>", 1),
                sup("app/mid", "<0.2.0>", 1),
                sup("app/mid/leaf", "<0.3.0>", 3),
            ],
        );
        let c = cascade(&before, &after, &[]);
        assert!(c.iter().any(|x| x.contains("app/side is gone")), "{c:?}");
        assert!(
            c.iter().any(|x| x.contains("app runs 1 of its 2 children")),
            "{c:?}"
        );
        // A simple_one_for_one supervisor whose last child ended is not short
        // of children (it reads as static once empty: no child to show it).
        let mut conns = sup("app/conns", "<0.4.0>", 1);
        conns.dynamic = true;
        let before = tree(&["app"], vec![conns]);
        let after = tree(&["app"], vec![sup("app/conns", "<0.4.0>", 0)]);
        assert!(cascade(&before, &after, &[]).is_empty());
        // "app/mid" does not hit "app/middle".
        let before = tree(&["app"], vec![sup("app/middle", "<0.5.0>", 1)]);
        let after = tree(&["app"], vec![sup("app/middle", "<0.6.0>", 1)]);
        assert_eq!(cascade(&before, &after, &["app/mid".into()]).len(), 1);
    }
}
