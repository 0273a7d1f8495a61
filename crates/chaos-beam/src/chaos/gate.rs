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
    "case BudgetGate(Victim, kill) of {collapse, PT, PA, PH, _} -> {PT, PA, PH}; _ -> none end.\n"
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
                unchecked: None,
            },
            halts.as_bool() == Some(true),
        ))
    }
}

/// The registered names a chaos effect holds right now (hidden or
/// decoyed), each with the application its process belonged to when it was
/// taken, and how many effects hold it. The application is kept here, not
/// looked up again: a victim list read while the name is away lists its
/// process without it (and a decoy is no candidate), so the name would
/// belong to nobody — and kills would land in the application whose restart
/// may need it (the fifth RabbitMQ run: a server's init called a hidden
/// name, every restart failed at once, its transient supervisor gave up).
#[derive(Debug, Default)]
pub struct HeldNames(HashMap<String, (Option<String>, usize)>);

impl HeldNames {
    /// One more effect holds `name`, of application `app`.
    pub fn hold(&mut self, name: &str, app: Option<&str>) {
        let e = self
            .0
            .entry(name.to_string())
            .or_insert_with(|| (app.map(str::to_string), 0));
        if e.0.is_none() {
            e.0 = app.map(str::to_string);
        }
        e.1 += 1;
    }

    /// One effect gave `name` back; it is free when none holds it.
    pub fn release(&mut self, name: &str) {
        if let Some(e) = self.0.get_mut(name) {
            e.1 = e.1.saturating_sub(1);
            if e.1 == 0 {
                self.0.remove(name);
            }
        }
    }

    /// `true` while an effect holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The held names that belonged to application `app`, sorted.
    pub fn of_app(&self, app: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .iter()
            .filter(|(_, (a, _))| a.as_deref() == Some(app))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }
}

/// The registered names chaos holds now (hidden or decoyed) that belong to
/// `victim`'s application.
pub(super) fn held_names_of_app(t: &BeamTarget, victim: &Candidate) -> Vec<String> {
    match &victim.app {
        Some(app) => t.ledger.chaos_names.lock().unwrap().of_app(app),
        None => Vec::new(),
    }
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
