//! One layered mechanism for settings: a value from its flag, else the
//! config file (errors name the file and line), else a default; and the
//! usage errors (exit 2) that say where a bad value came from.

use crate::config::{self, ConfigError};
use crate::exit::CliError;
use std::time::Duration;

/// A duration from its flag (`--name-with-dashes`), else the config file's
/// `name` (errors say the file and line, through `at`); `None` when neither
/// gives one (the caller's default applies).
pub(super) fn layered_duration(
    flag: &Option<String>,
    file: &Option<String>,
    name: &str,
    at: &dyn Fn(&str) -> String,
) -> Result<Option<Duration>, CliError> {
    match (flag, file) {
        (Some(v), _) => config::parse_duration(v).map(Some).map_err(|e| {
            cfg_err(ConfigError::flag(
                &format!("--{}", name.replace('_', "-")),
                e,
            ))
        }),
        (None, Some(v)) => config::parse_duration(v)
            .map(Some)
            .map_err(|e| usage(format!("{}: {name}: {e}", at(name)))),
        (None, None) => Ok(None),
    }
}

pub(super) fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::usage(e)
}

pub(super) fn cfg_err(e: ConfigError) -> CliError {
    CliError::usage(e)
}
