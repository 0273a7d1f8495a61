//! Evaluate Erlang source on the target without installing anything there:
//! through the run's compiled snippets when a run turned them on for the
//! connection (`compiled`), else interpreted by `erl_eval` (`interpret`).

use crate::dist::term::Term;
use crate::dist::DistClient;
use crate::interpret::interpret_with;
use std::time::Duration;

pub use crate::interpret::EvalError;

/// Evaluate `source` (expressions separated by commas, optional final `.`)
/// with `bindings`, using the client's default call timeout.
pub async fn eval(
    client: &DistClient,
    source: &str,
    bindings: &[(&str, Term)],
) -> Result<Term, EvalError> {
    eval_with_timeout(client, source, bindings, client.call_timeout()).await
}

/// [`eval`] with an explicit timeout (the parse, when needed, uses the default one).
/// When the run turned compiled snippets on for this connection
/// (`compiled`), the snippet runs as compiled code instead.
pub async fn eval_with_timeout(
    client: &DistClient,
    source: &str,
    bindings: &[(&str, Term)],
    timeout: Duration,
) -> Result<Term, EvalError> {
    eval_with_extra(client, source, bindings, &[], timeout).await
}

/// [`eval_with_timeout`] with the bindings in two parts, `bindings` and
/// `extra`, so a caller adding its own need not copy the others.
pub async fn eval_with_extra(
    client: &DistClient,
    source: &str,
    bindings: &[(&str, Term)],
    extra: &[(&str, Term)],
    timeout: Duration,
) -> Result<Term, EvalError> {
    if let Some(modules) = crate::compiled::of(client) {
        if let Some(result) = modules.exec(client, source, bindings, extra, timeout).await {
            return result;
        }
    }
    interpret_with(client, source, bindings, extra, timeout).await
}
