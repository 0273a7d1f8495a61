//! The words a target brings to its report. The engine counts, times and
//! judges; the target says what survival means for it, what its victims are
//! grouped by, and what its failure kinds are called — so the engine's
//! report model holds no target's words.

use serde::{Deserialize, Serialize};

/// How a target names what the engine reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    /// What a healthy sample means, written into every report.
    pub survival_definition: String,
    /// What victims are grouped by in the recovery figures (`by` of a recovery row).
    pub victim_group: String,
    /// The victims, in the plural, for counts in evidence text.
    pub victims: String,
    /// The failure kind when the target itself could not be reached any more.
    pub target_lost: String,
    /// The failure kind of a killed victim that was not back in time.
    pub victim_lost: String,
}

/// Something the target's after-run audit found still in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFinding {
    /// What is left, in the target's words.
    pub detail: String,
    /// When the finding is itself a failure mode of the target (not only
    /// something the monkey left behind): its kind.
    pub failure_kind: Option<String>,
}

impl AuditFinding {
    /// Something left behind, not a failure of the target.
    pub fn left(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            failure_kind: None,
        }
    }

    /// Something left behind that is also a failure mode of the given kind.
    pub fn failure(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            failure_kind: Some(kind.into()),
        }
    }
}
