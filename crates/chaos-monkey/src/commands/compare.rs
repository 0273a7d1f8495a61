//! `chaos-monkey compare A B`: what changed between two recorded runs, as
//! text, JSON or a self-contained HTML page with each figure's trend.

use super::history::open_for_reading;
use crate::exit::CliError;
use crate::history_args::CompareArgs;

/// `chaos-monkey compare`.
pub fn run(args: &CompareArgs) -> Result<(), CliError> {
    let store = open_for_reading(&args.history)?;
    let node = args.node.as_deref();
    let a = store
        .resolve(&args.a, node)
        .and_then(|id| store.get(id))
        .map_err(CliError::failed)?;
    let b = store
        .resolve(&args.b, node)
        .and_then(|id| store.get(id))
        .map_err(CliError::failed)?;
    let c = chaos_history::compare(&a, &b);
    if let Some(p) = &args.html {
        let runs = store.runs_of(&b.target.node).map_err(CliError::failed)?;
        std::fs::write(p, chaos_history::html::render(&c, &a, &b, &runs)).map_err(|e| {
            CliError::failed(format!("cannot write the HTML page {}: {e}", p.display()))
        })?;
    }
    if args.json {
        crate::output::print_json(&c);
    } else {
        print!("{}", c.to_text());
    }
    Ok(())
}
