//! The safety rules the user can tune: which applications and names are
//! fair game, and the blast-radius caps. The fixed rules (system processes,
//! kernel/stdlib/sasl/compiler/logger, high priority, distribution, our own
//! helpers) live in the candidates snippet and cannot be turned off.

use super::Candidate;
use globset::{Glob, GlobSet, GlobSetBuilder};

/// Tunable safety rules.
#[derive(Debug, Clone)]
pub struct Safety {
    /// Only these applications (empty: all eligible ones).
    pub only_apps: Vec<String>,
    /// Never these applications.
    pub protect_apps: Vec<String>,
    /// Never processes whose registered name matches one of these globs.
    pub protect_names: Vec<String>,
    protect_set: GlobSet,
    /// Also OTP's own applications (beyond the always-protected ones).
    pub include_otp_apps: bool,
    /// Also processes that belong to no application.
    pub include_no_app: bool,
    /// At most this many kills per second.
    pub max_kills_per_sec: u32,
    /// At most this share of one application's processes under an effect at once.
    pub max_app_share: f64,
    /// How much of a supervisor's restart budget a kill may spend.
    pub budget: BudgetPolicy,
    /// `clear_mailbox` may drop an OTP process's real queued messages
    /// (`--allow-message-loss`, aggressive profile only); otherwise it
    /// drains only the monkey's own tagged messages.
    pub allow_message_loss: bool,
}

/// How much of a supervisor's restart budget chaos may spend (the budget
/// gate, `snippets/budget_gate.erl`, applies it on the node before every
/// kill, exit signal and crash chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BudgetPolicy {
    /// Never spend a supervisor's last restart, never hit a single point of
    /// failure (the default).
    #[default]
    Spare,
    /// Spend budgets up to the last restart, never past it (`--edge`).
    Edge,
    /// Kills may exhaust budgets and hit single points of failure; each
    /// such kill records its prediction and whether it came true
    /// (`--allow-collapse`, aggressive profile only).
    Collapse,
}

/// Suspensions are capped below the default 5 s call timeout of
/// `gen_server`, `gen_statem` and friends unless collapse is allowed: a
/// longer one makes the victim's callers time out and crash, charging
/// restart budgets the gate cannot see.
pub const SUSPENSION_CAP_MS: i64 = 4_500;

impl BudgetPolicy {
    /// Restarts every budget must keep after a kill.
    pub fn margin(self) -> i64 {
        match self {
            BudgetPolicy::Spare => 1,
            BudgetPolicy::Edge | BudgetPolicy::Collapse => 0,
        }
    }

    /// As the report names it.
    pub fn name(self) -> &'static str {
        match self {
            BudgetPolicy::Spare => "spare",
            BudgetPolicy::Edge => "edge",
            BudgetPolicy::Collapse => "collapse",
        }
    }
}

/// A bad safety setting.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SafetyError {
    /// A name pattern is not a valid glob.
    #[error("protect-name pattern '{pattern}' is not valid: {error}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        error: String,
    },
    /// A share outside (0, 1].
    #[error("max-app-share must be above 0 and at most 1, got {0}")]
    BadShare(f64),
}

impl Default for Safety {
    fn default() -> Self {
        Self {
            only_apps: Vec::new(),
            protect_apps: Vec::new(),
            protect_names: Vec::new(),
            protect_set: GlobSet::empty(),
            include_otp_apps: false,
            include_no_app: false,
            max_kills_per_sec: 5,
            max_app_share: 0.25,
            budget: BudgetPolicy::Spare,
            allow_message_loss: false,
        }
    }
}

impl Safety {
    /// Set the name patterns (globs such as `chaos_demo_reg*`).
    pub fn with_protect_names(mut self, patterns: Vec<String>) -> Result<Self, SafetyError> {
        let mut b = GlobSetBuilder::new();
        for p in &patterns {
            let g = Glob::new(p).map_err(|e| SafetyError::BadPattern {
                pattern: p.clone(),
                error: e.kind().to_string(),
            })?;
            b.add(g);
        }
        self.protect_set = b.build().map_err(|e| SafetyError::BadPattern {
            pattern: patterns.join(","),
            error: e.to_string(),
        })?;
        self.protect_names = patterns;
        Ok(self)
    }

    /// Check the numbers.
    pub fn validate(&self) -> Result<(), SafetyError> {
        if !(self.max_app_share > 0.0 && self.max_app_share <= 1.0) {
            return Err(SafetyError::BadShare(self.max_app_share));
        }
        Ok(())
    }

    /// `true` when the user's rules let chaos touch this candidate.
    pub fn allows(&self, c: &Candidate) -> bool {
        if !self.allows_app(c.app.as_deref()) {
            return false;
        }
        if let Some(name) = &c.name {
            if self.protect_set.is_match(name) {
                return false;
            }
        }
        true
    }
}

impl Safety {
    /// `--only-app` and `--protect-app` allow processes of `app` (`None`: of no application).
    pub fn allows_app(&self, app: Option<&str>) -> bool {
        match app {
            Some(app) if self.protect_apps.iter().any(|p| p == app) => false,
            Some(app) => self.only_apps.is_empty() || self.only_apps.iter().any(|o| o == app),
            None => self.only_apps.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(app: Option<&str>, name: Option<&str>) -> Candidate {
        Candidate {
            pid: crate::dist::term::Pid::new("n@h", 1, 0, 1),
            pid_text: "<0.1.0>".into(),
            app: app.map(String::from),
            name: name.map(String::from),
            initial_call: "m:f/1".into(),
            supervisor: false,
            otp: true,
            trap_exit: false,
            owns_ports: false,
            owns_tables: false,
        }
    }

    #[test]
    fn filters_by_app_and_name() {
        let s = Safety {
            protect_apps: vec!["b".into()],
            ..Safety::default()
        }
        .with_protect_names(vec!["keep_*".into()])
        .unwrap();
        assert!(s.allows(&cand(Some("a"), None)));
        assert!(!s.allows(&cand(Some("b"), None)));
        assert!(!s.allows(&cand(Some("a"), Some("keep_me"))));
        assert!(s.allows(&cand(Some("a"), Some("other"))));
        let only = Safety {
            only_apps: vec!["a".into()],
            ..Safety::default()
        };
        assert!(only.allows(&cand(Some("a"), None)));
        assert!(!only.allows(&cand(Some("c"), None)));
        assert!(!only.allows(&cand(None, None)));
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert!(Safety::default()
            .with_protect_names(vec!["[".into()])
            .is_err());
        let s = Safety {
            max_app_share: 0.0,
            ..Safety::default()
        };
        assert!(s.validate().is_err());
    }
}
