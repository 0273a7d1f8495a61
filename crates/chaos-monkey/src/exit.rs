//! Exit codes, and the error type that carries one.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the command failed for another reason |
//! | 2 | usage error: bad flags, bad config, bad node name, no cookie |
//! | 3 | the target cannot be reached (epmd, TCP, handshake, cookie rejected, connection lost) |
//! | 4 | `run`: the node went down during the run (the report so far is written) |
//! | 5 | `run`: inconclusive — no failure mode found, but the planned chaos mostly did not happen (the report says why); `scenarios`: more than half the scenarios were skipped and none failed |

use std::fmt;

/// Success.
pub const SUCCESS: i32 = 0;
/// Any other failure.
pub const FAILURE: i32 = 1;
/// Usage error.
pub const USAGE: i32 = 2;
/// Target unreachable.
pub const UNREACHABLE: i32 = 3;
/// The node went down during a run.
pub const NODE_DOWN: i32 = 4;
/// A run found nothing, but its chaos mostly did not happen.
pub const INCONCLUSIVE: i32 = 5;

/// A command's failure: a message and an exit code.
#[derive(Debug)]
pub struct CliError {
    code: i32,
    message: String,
}

impl CliError {
    /// Usage error (exit 2).
    pub fn usage(message: impl fmt::Display) -> Self {
        Self {
            code: USAGE,
            message: message.to_string(),
        }
    }

    /// Target unreachable (exit 3).
    pub fn unreachable(message: impl fmt::Display) -> Self {
        Self {
            code: UNREACHABLE,
            message: message.to_string(),
        }
    }

    /// Other failure (exit 1).
    pub fn failed(message: impl fmt::Display) -> Self {
        Self {
            code: FAILURE,
            message: message.to_string(),
        }
    }

    /// A chosen exit code.
    pub fn with_code(code: i32, message: impl fmt::Display) -> Self {
        Self {
            code,
            message: message.to_string(),
        }
    }

    /// The exit code.
    pub fn code(&self) -> i32 {
        self.code
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}
