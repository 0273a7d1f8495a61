//! The end of a run's compiled snippets: the janitor unloads the modules
//! ([`unload`]), or they stop being used ([`disable`]) when it already does.

use super::{of, PURGE_WAIT};
use crate::dist::term::{int, show, Term, TermExt};
use crate::dist::DistClient;
use crate::interpret::{interpret, EvalError};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What [`unload`] found.
#[derive(Debug, Default)]
pub struct Unloaded {
    /// Modules that had to be purged while a process still ran their code.
    pub forced: Vec<String>,
    /// Modules still loaded afterwards (should be none).
    pub still_loaded: Vec<String>,
}

/// End of run: every module of the run deleted and purged by the janitor,
/// which then exits; later snippets are interpreted again.
pub async fn unload(client: &DistClient) -> Result<Unloaded, EvalError> {
    let Some(m) = of(client) else {
        return Ok(Unloaded::default());
    };
    m.disabled.store(true, Ordering::SeqCst);
    let t = interpret(
        client,
        "R = erlang:monitor(process, Janitor), Janitor ! {unload, self()}, \
         receive {unloaded, Janitor, Result} -> erlang:demonitor(R, [flush]), Result; \
                 {'DOWN', R, process, _, Why} -> {gone, Why} \
         after WaitMs -> timeout end.",
        &[
            ("Janitor", m.janitor.clone()),
            ("WaitMs", int(PURGE_WAIT.as_millis() as i64 + 5_000)),
        ],
        PURGE_WAIT + Duration::from_secs(10),
    )
    .await?;
    let names = |t: Option<&Term>| -> Vec<String> {
        t.and_then(|t| t.as_list())
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m.as_atom().map(str::to_string))
            .collect()
    };
    match t.as_tuple() {
        Some([result, still]) => Ok(Unloaded {
            forced: match result.as_tuple() {
                Some([_, forced]) => names(Some(forced)),
                _ => Vec::new(),
            },
            still_loaded: names(Some(still)),
        }),
        _ => Ok(Unloaded {
            forced: Vec::new(),
            still_loaded: vec![format!("the janitor did not unload: {}", show(&t))],
        }),
    }
}

/// Stop using the compiled modules (they are being unloaded by the janitor,
/// e.g. after the lease ended early): snippets are interpreted from now on.
pub fn disable(client: &DistClient) {
    if let Some(m) = of(client) {
        m.disabled.store(true, Ordering::SeqCst);
    }
}

/// The prefix of this run's module names (for the left-behind audit).
pub fn module_prefix(client: &DistClient) -> Option<String> {
    of(client).map(|m| format!("chaos_monkey_{}_", m.run_tag))
}
