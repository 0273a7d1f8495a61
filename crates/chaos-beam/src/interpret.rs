//! Interpreting Erlang source on the target with `erl_eval`, and why an
//! evaluation fails ([`EvalError`]).
//!
//! The text is scanned and parsed on the target (`erl_scan:string/2`,
//! `erl_parse:parse_exprs/1`) once per connection and per text; the abstract
//! syntax is cached and every later evaluation is a single
//! `erl_eval:exprs/2` call. The source is wrapped in `(fun() -> ... end)()`
//! so the variables it binds stay inside: only the value crosses the wire,
//! never a snippet's intermediate data. The call's group leader is the
//! target's `user`, so remote output never comes back to us.

use crate::dist::term::{atom, list, show, tuple, Term, TermExt};
use crate::dist::{CallError, DistClient};
use std::time::Duration;

/// Why an evaluation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EvalError {
    /// The source does not scan or parse.
    #[error("Erlang source does not parse at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the source text.
        line: i64,
        /// 1-based column (0 when unknown).
        column: i64,
        /// The scanner's or parser's message.
        message: String,
    },
    /// The evaluation raised an exception.
    #[error("evaluation raised {class}: {reason}")]
    Raised {
        /// `error`, `exit` or `throw`.
        class: String,
        /// Reason as text.
        reason: String,
        /// Reason term.
        term: Box<Term>,
    },
    /// The call itself failed (timeout, disconnect, ...).
    #[error(transparent)]
    Call(CallError),
}

impl EvalError {
    /// `true` when the connection is gone.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Self::Call(e) if e.is_disconnect())
    }
}

impl From<CallError> for EvalError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Raised {
                class,
                reason,
                term,
                ..
            } => EvalError::Raised {
                class,
                reason,
                term,
            },
            other => EvalError::Call(other),
        }
    }
}

/// Evaluate with `erl_eval`, never compiled.
pub(crate) async fn interpret(
    client: &DistClient,
    source: &str,
    bindings: &[(&str, Term)],
    timeout: Duration,
) -> Result<Term, EvalError> {
    interpret_with(client, source, bindings, &[], timeout).await
}

/// [`interpret`] with the bindings in two parts (see `eval::eval_with_extra`).
pub(crate) async fn interpret_with(
    client: &DistClient,
    source: &str,
    bindings: &[(&str, Term)],
    extra: &[(&str, Term)],
    timeout: Duration,
) -> Result<Term, EvalError> {
    let exprs = match client.cached_parse(source) {
        Some(e) => e,
        None => {
            let e = parse(client, source).await?;
            client.cache_parse(source, e.clone());
            e
        }
    };
    let mut sorted: Vec<&(&str, Term)> = bindings.iter().chain(extra).collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let orddict = list(
        sorted
            .into_iter()
            .map(|(k, v)| tuple(vec![atom(k), v.clone()]))
            .collect(),
    );
    let result = client
        .call_with_timeout("erl_eval", "exprs", vec![exprs, orddict], timeout)
        .await?;
    match result {
        Term::Tuple(mut t) if t.elements.len() == 3 && t.elements[0].as_atom() == Some("value") => {
            Ok(t.elements.swap_remove(1))
        }
        _ => Err(EvalError::Raised {
            class: "error".into(),
            reason: format!("unexpected erl_eval result {}", show(&result)),
            term: Box::new(result),
        }),
    }
}

/// Wrap so bound variables stay local; line 1 of `source` stays line 1.
fn wrap(source: &str) -> String {
    let body = source.trim_end();
    let body = body.strip_suffix('.').unwrap_or(body);
    format!("(fun() ->\n{body}\nend)().")
}

async fn parse(client: &DistClient, source: &str) -> Result<Term, EvalError> {
    let text = wrap(source);
    // Start at line 0 so the user's first line is line 1.
    let start = tuple(vec![crate::dist::term::int(0), crate::dist::term::int(1)]);
    let scanned = client
        .call("erl_scan", "string", vec![Term::from(text), start])
        .await?;
    let tokens = match scanned.as_tuple() {
        Some([ok, tokens, _]) if ok.as_atom() == Some("ok") => tokens.clone(),
        Some([_, info, _]) => return Err(syntax_error(client, info).await),
        _ => return Err(unexpected(&scanned)),
    };
    let parsed = client
        .call("erl_parse", "parse_exprs", vec![tokens])
        .await?;
    match parsed.as_tuple() {
        Some([ok, exprs]) if ok.as_atom() == Some("ok") => Ok(exprs.clone()),
        Some([_, info]) => Err(syntax_error(client, info).await),
        _ => Err(unexpected(&parsed)),
    }
}

fn unexpected(t: &Term) -> EvalError {
    EvalError::Raised {
        class: "error".into(),
        reason: format!("unexpected parser answer {}", show(t)),
        term: Box::new(t.clone()),
    }
}

/// `{Location, Module, Descriptor}` → a message formatted by `Module:format_error/1` on the target.
async fn syntax_error(client: &DistClient, info: &Term) -> EvalError {
    let (line, column, module, desc) = match info.as_tuple() {
        Some([loc, module, desc]) => {
            let (l, c) = match loc.as_tuple() {
                Some([l, c]) => (l.as_i64().unwrap_or(0), c.as_i64().unwrap_or(0)),
                _ => (loc.as_i64().unwrap_or(0), 0),
            };
            (
                l,
                c,
                module.as_atom().unwrap_or("erl_parse").to_string(),
                desc.clone(),
            )
        }
        _ => (0, 0, "erl_parse".to_string(), info.clone()),
    };
    let message = match client
        .call(&module, "format_error", vec![desc.clone()])
        .await
    {
        Ok(t) => flatten_text(&t).unwrap_or_else(|| show(&t)),
        Err(_) => show(&desc),
    };
    EvalError::Syntax {
        line,
        column,
        message,
    }
}

/// Flatten an iolist/charlist answer into text.
fn flatten_text(t: &Term) -> Option<String> {
    let mut out = String::new();
    fn walk(t: &Term, out: &mut String) -> Option<()> {
        match t {
            Term::Binary(b) => out.push_str(&String::from_utf8_lossy(&b.bytes)),
            Term::ByteList(b) => out.push_str(&String::from_utf8_lossy(&b.bytes)),
            Term::List(l) => {
                for e in &l.elements {
                    match e.as_i64() {
                        Some(c) => out.push(char::from_u32(u32::try_from(c).ok()?)?),
                        None => walk(e, out)?,
                    }
                }
            }
            _ => return None,
        }
        Some(())
    }
    walk(t, &mut out)?;
    Some(out)
}
