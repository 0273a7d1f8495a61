//! What a run left on its target: effects it could not undo, what was still
//! pending when it stopped waiting, the target's own audit, and how long the
//! clean-up took.

use serde::{Deserialize, Serialize};

/// What is still there after clean-up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LeftBehind {
    /// Effects that could not be undone, with the reason.
    pub undo_failures: Vec<String>,
    /// Effects still in place when the run stopped waiting.
    pub pending_effects: usize,
    /// Operations still running when the run stopped waiting.
    pub pending_ops: usize,
    /// Found by the target's own audit after clean-up.
    pub audit: Vec<String>,
    /// Seconds from the chaos's end (every effect undone) to the end of the
    /// target's clean-up and audit: a big node's unloading shows here.
    #[serde(default)]
    pub clean_up_s: f64,
}

impl LeftBehind {
    /// Nothing at all was left behind.
    pub fn is_clean(&self) -> bool {
        self.undo_failures.is_empty()
            && self.pending_effects == 0
            && self.pending_ops == 0
            && self.audit.is_empty()
    }
}
