//! One layered mechanism for settings: a value from its flag, else the
//! config file (errors name the file and line), else a default; and the
//! usage errors (exit 2) that say where a bad value came from.

use crate::config::{self, ConfigError};
use crate::exit::CliError;
use std::time::Duration;

/// A setting from its flag (`--key-with-dashes`, read by `from_flag`), else
/// the config file's `key` (read by `from_file`; errors say the file and
/// line, through `at`); `None` when neither gives one (the caller's default
/// applies, written once at the call).
pub(crate) fn layered<A, B, T>(
    flag: Option<A>,
    file: Option<B>,
    key: &str,
    at: &dyn Fn(&str) -> String,
    from_flag: impl FnOnce(A) -> Result<T, String>,
    from_file: impl FnOnce(B) -> Result<T, String>,
) -> Result<Option<T>, CliError> {
    match (flag, file) {
        (Some(v), _) => from_flag(v).map(Some).map_err(|e| {
            cfg_err(ConfigError::flag(
                &format!("--{}", key.trim_matches(['[', ']']).replace('_', "-")),
                e,
            ))
        }),
        (None, Some(v)) => from_file(v)
            .map(Some)
            .map_err(|e| usage(format!("{}: {key}: {e}", at(key)))),
        (None, None) => Ok(None),
    }
}

/// A duration, layered (see [`layered`]).
pub(crate) fn layered_duration(
    flag: &Option<String>,
    file: &Option<String>,
    name: &str,
    at: &dyn Fn(&str) -> String,
) -> Result<Option<Duration>, CliError> {
    layered(
        flag.as_deref(),
        file.as_deref(),
        name,
        at,
        config::parse_duration,
        config::parse_duration,
    )
}

pub(crate) fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::usage(e)
}

pub(crate) fn cfg_err(e: ConfigError) -> CliError {
    CliError::usage(e)
}
