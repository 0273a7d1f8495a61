//! `chaos-monkey`: random, reproducible chaos for live Erlang/OTP systems.
//!
//! This binary is thin: argument parsing ([`cli`]), the commands
//! ([`commands`]) and how results are printed ([`output`]). The work is done
//! by the `chaos-engine` and `chaos-beam` crates.

mod cli;
mod commands;
mod config;
mod exit;
#[cfg(test)]
mod fuzz_tests;
mod history_args;
mod output;
mod probes;
mod workload;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    init_logging(args.global.verbose, args.global.quiet);
    let code = match commands::run(args) {
        Ok(()) => exit::SUCCESS,
        Err(e) => {
            eprintln!("chaos-monkey: error: {e}");
            e.code()
        }
    };
    std::process::exit(code);
}

/// Logs go to stderr; `-v` raises the level, `RUST_LOG` overrides it.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    // The AMQP client logs every channel a broker closes as an error; the
    // probe reports what it saw, so its own logs stay quiet unless asked for.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},lapin=off,amq_protocol=off"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
