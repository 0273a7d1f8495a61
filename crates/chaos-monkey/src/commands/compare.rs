//! `chaos-monkey compare A B`: what changed between two recorded runs, as
//! text, JSON or a self-contained HTML page with each figure's trend.

use super::history::open_for_reading;
use crate::exit::CliError;
use std::path::PathBuf;

/// `chaos-monkey compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The baseline: a run id, `last` or `previous`.
    #[arg(value_name = "A", default_value = "previous")]
    pub a: String,
    /// The run to compare with it: a run id, `last` or `previous`.
    #[arg(value_name = "B", default_value = "last")]
    pub b: String,
    /// `last` and `previous` count only the runs against this node.
    #[arg(long, value_name = "NAME@HOST")]
    pub node: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write one self-contained HTML page: the figures, failure modes
    /// new and gone, and each figure's trend across the target's runs.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// The history file [default: $XDG_DATA_HOME/chaos-monkey/history.db, else ~/.local/share/chaos-monkey/history.db].
    #[arg(long, value_name = "PATH", env = "CHAOS_MONKEY_HISTORY")]
    pub history: Option<PathBuf>,
}

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
