//! What chaos can reach on the node: how many processes the safety rules
//! let it touch, per application, and how many each rule leaves out — for
//! the report (a run with no eligible victim is inconclusive, and says why),
//! `run --dry-run` and `inspect`.

use super::*;
use chaos_engine::Reach;

/// The reach snippet, after the shared safety rules.
pub(crate) const REACH: &str = concat!(
    include_str!("../snippets/safety_rules.erl"),
    include_str!("../snippets/reach.erl")
);

/// Said of the processes `--only-app`/`--protect-app` leave out.
const BY_APP_RULES: &str = "processes of applications left out by --only-app/--protect-app";

impl BeamTarget {
    /// Count what the safety rules let chaos touch (workers; supervisors
    /// and the rest are counted per rule that leaves them out), leaving out
    /// the run's own helpers. Registered names matched by `--protect-name`
    /// are not counted apart.
    pub async fn reach(&self) -> Result<Reach, EvalError> {
        reach(&self.client, &self.safety, self.own_pids()).await
    }
}

/// What the `safety` rules let chaos touch on the node behind `client`
/// (read-only; `exclude`: pids that are the monkey's own).
pub async fn reach(
    client: &DistClient,
    safety: &Safety,
    exclude: Vec<Term>,
) -> Result<Reach, EvalError> {
    let flag = |b: bool| atom(if b { "true" } else { "false" });
    let bindings = [
        ("IncludeOtpApps", flag(safety.include_otp_apps)),
        ("IncludeNoApp", flag(safety.include_no_app)),
        ("Exclude", list(exclude)),
        ("MaxScan", int(MAX_SCAN as i64)),
    ];
    let answer = to_json(&eval_with_timeout(client, REACH, &bindings, OP_TIMEOUT).await?);
    let pairs = |key: &str| -> Vec<(String, u64)> {
        answer[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| Some((p[0].as_str()?.to_string(), p[1].as_u64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut reach = Reach::default();
    for (rule, n) in pairs("excluded") {
        *reach.excluded.entry(rule).or_default() += n;
    }
    for (app, n) in pairs("eligible") {
        let real = (app != "(no application)").then_some(app.as_str());
        if safety.allows_app(real) {
            reach.eligible += n;
            reach.eligible_by_group.insert(app, n);
        } else {
            *reach.excluded.entry(BY_APP_RULES.to_string()).or_default() += n;
        }
    }
    let (total, scanned) = (answer["total"].as_u64(), answer["scanned"].as_u64());
    if let (Some(total), Some(scanned)) = (total, scanned) {
        if scanned < total {
            reach.excluded.insert(
                format!("not counted (a random sample of {scanned} of {total} processes was)"),
                total - scanned,
            );
        }
    }
    Ok(reach)
}
