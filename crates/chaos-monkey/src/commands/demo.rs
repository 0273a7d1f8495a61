//! `chaos-monkey demo-node start|stop|status` and `chaos-monkey demo`.

use crate::cli::{DemoArgs, DemoNodeCommand};
use crate::exit::CliError;

pub fn node_command(cmd: DemoNodeCommand) -> Result<(), CliError> {
    let _ = cmd;
    Err(CliError::failed("not yet"))
}

pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let _ = args;
    Err(CliError::failed("not yet"))
}
