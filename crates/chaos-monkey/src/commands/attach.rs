//! Attaching to a target: the cookie, then the connection (shared by every
//! command that talks to a node).

use crate::cli::TargetArgs;
use crate::exit::CliError;
use chaos_beam::dist::{ConnectOptions, Cookie, DistClient};

/// Resolve the cookie (exit 2 when there is none) and connect (exit 3 when the node cannot be reached).
pub fn connect(target: &TargetArgs) -> Result<DistClient, CliError> {
    let cookie = Cookie::resolve(
        target.conn.cookie.as_deref(),
        target.conn.cookie_file.as_deref(),
    )
    .map_err(CliError::usage)?;
    tracing::info!(node = %target.node, cookie = %cookie, "connecting");
    smol::block_on(DistClient::connect(&connect_options(target, cookie)))
        .map_err(CliError::unreachable)
}

/// How to reach `target` with `cookie`.
pub fn connect_options(target: &TargetArgs, cookie: Cookie) -> ConnectOptions {
    let mut opts = ConnectOptions::new(target.node.clone(), cookie);
    opts.port = target.conn.port;
    if let Some(p) = target.conn.epmd_port {
        opts.epmd_port = p;
    }
    opts.connect_timeout = target.conn.connect_timeout;
    opts.call_timeout = target.conn.call_timeout;
    opts.tick = target.conn.tick;
    opts
}
