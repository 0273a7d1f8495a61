//! The restart-budget gate's Rust side: past the budgets
//! (`--allow-collapse`) the gate's prediction for a kill is asked on its
//! own, before the kill, so a kill that halts the node still leaves it;
//! and no kill in an application while chaos holds one of its names.
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

/// The registered names chaos holds now (hidden or decoyed) that belong to
/// `victim`'s application, by the candidate list read before they were held.
pub(super) async fn held_names_of_app(t: &BeamTarget, victim: &Candidate) -> Vec<String> {
    let held: Vec<String> = t
        .ledger
        .chaos_names
        .lock()
        .unwrap()
        .iter()
        .cloned()
        .collect();
    if held.is_empty() || victim.app.is_none() {
        return Vec::new();
    }
    let list = t.victims.cache.lock().await.list.clone();
    held.into_iter()
        .filter(|n| {
            list.iter()
                .any(|c| c.name.as_deref() == Some(n.as_str()) && c.app == victim.app)
        })
        .collect()
}

impl BeamTarget {
    /// A kill in an application one of whose names chaos holds right now
    /// could start a restart that needs the name (and fail over and over):
    /// why it is turned away.
    pub(super) fn name_hidden_in_app(
        &self,
        names: &[String],
        victim: &Candidate,
    ) -> Option<String> {
        let name = names.first()?;
        Some(format!(
            "state fault outstanding: the name {} of application {} is held by the monkey; a restart there may need it",
            crate::elixir::readable(name),
            victim.app.as_deref().unwrap_or("?")
        ))
    }
}
