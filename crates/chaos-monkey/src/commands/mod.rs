//! The commands, one module each, and what they share: attaching to a
//! target ([`attach`]), reading settings flag > file > default
//! ([`layered`]), and the safety settings ([`safety`]).

pub mod attach;
pub mod compare;
mod demo;
pub mod history;
mod inspect;
pub(crate) mod layered;
pub mod replay;
pub mod run;
pub(crate) mod safety;
mod scenarios;

use crate::cli::{Cli, Command};
use crate::exit::CliError;

/// Run the command the user asked for.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Run(args) => run::run(&args, cli.global.verbose > 0, cli.global.quiet),
        Command::DemoNode(cmd) => demo::node_command(cmd),
        Command::Demo(args) => demo::run(args),
        Command::Scenarios(args) => scenarios::run(&args),
        Command::History(args) => history::list(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Replay(args) => replay::run(&args, cli.global.verbose > 0, cli.global.quiet),
    }
}
