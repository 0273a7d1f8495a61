//! Attaching to a target: the cookie, then the connection (shared by every
//! command that talks to a node).

use crate::cli::TargetArgs;
use crate::exit::CliError;
use chaos_beam::dist::{ConnectOptions, Cookie, DistClient};

/// Fill in what `--release PATH` says: the node (unless `--node` gave one)
/// and the cookie (used unless `--cookie`/`--cookie-file` give one). Exit 2
/// when the release's files do not say, or when there is no node at all.
pub fn resolve(target: &mut TargetArgs) -> Result<(), CliError> {
    if let Some(dir) = target.conn.release.clone() {
        let r = chaos_beam::release::read(&dir, &|k| std::env::var(k).ok())
            .map_err(|e| CliError::usage(format!("--release {}", e)))?;
        tracing::info!(release = %r.name, node = %r.node, from = %r.node_from, "release");
        target.node.get_or_insert(r.node);
        target.conn.release_cookie = Some(r.cookie);
    }
    if target.node.is_none() {
        return Err(CliError::usage(
            "no target node: pass --node NAME@HOST or --release PATH",
        ));
    }
    Ok(())
}

/// The cookie: `--cookie`, `--cookie-file`, the release's, then `$ERLANG_COOKIE`
/// and `~/.erlang.cookie` (exit 2 when there is none).
pub fn cookie(target: &TargetArgs) -> Result<Cookie, CliError> {
    let c = &target.conn;
    match (&c.cookie, &c.cookie_file, &c.release_cookie) {
        (None, None, Some(from_release)) => Ok(from_release.clone()),
        _ => {
            Cookie::resolve(c.cookie.as_deref(), c.cookie_file.as_deref()).map_err(CliError::usage)
        }
    }
}

/// Resolve the cookie (exit 2 when there is none) and connect (exit 3 when the node cannot be reached).
pub fn connect(target: &TargetArgs) -> Result<DistClient, CliError> {
    let cookie = cookie(target)?;
    tracing::info!(node = %target.node(), cookie = %cookie, "connecting");
    smol::block_on(DistClient::connect(&connect_options(target, cookie)))
        .map_err(CliError::unreachable)
}

/// How to reach `target` with `cookie`.
pub fn connect_options(target: &TargetArgs, cookie: Cookie) -> ConnectOptions {
    let mut opts = ConnectOptions::new(target.node().clone(), cookie);
    opts.port = target.conn.port;
    if let Some(p) = target.conn.epmd_port {
        opts.epmd_port = p;
    }
    opts.connect_timeout = target.conn.connect_timeout;
    opts.call_timeout = target.conn.call_timeout;
    opts.tick = target.conn.tick;
    opts
}
