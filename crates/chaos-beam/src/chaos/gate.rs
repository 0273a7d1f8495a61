//! The restart-budget gate's Rust side: past the budgets
//! (`--allow-collapse`) the gate's prediction for a kill is asked on its
//! own, before the kill, so a kill that halts the node still leaves it.
//! The gate itself runs on the node (`snippets/budget_gate.erl`).

use super::*;

/// The gate alone: `{Prediction, App, Halts}` for a kill past a budget, else `none`.
const PREDICT: &str = concat!(
    include_str!("../snippets/safety_rules.erl"),
    include_str!("../snippets/budget_read.erl"),
    include_str!("../snippets/budget_gate.erl"),
    "case BudgetGate(Victim, kill) of {collapse, PT, PA, PH} -> {PT, PA, PH}; _ -> none end.\n"
);

impl BeamTarget {
    /// The budget gate's prediction for a kill of `victim` (with whether it
    /// says the node halts), when the kill would go past a budget.
    pub(super) async fn predict(
        &self,
        victim: &Candidate,
    ) -> Option<(chaos_engine::budget::Prediction, bool)> {
        let t = self
            .exec(PREDICT, &[("Victim", victim.pid.clone().into())])
            .await
            .ok()?;
        let [text, app, halts] = t.as_tuple()? else {
            return None;
        };
        let group = match app.as_atom() {
            Some("none") | None => None,
            Some(a) => Some(a.to_string()),
        };
        Some((
            chaos_engine::budget::Prediction {
                predicted: crate::elixir::readable(&text.as_text()?).into_owned(),
                group,
                came_true: None,
                after_ms: None,
            },
            halts.as_bool() == Some(true),
        ))
    }
}
