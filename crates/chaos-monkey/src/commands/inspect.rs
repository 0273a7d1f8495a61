//! `chaos-monkey inspect`.

use crate::cli::InspectArgs;
use crate::exit::CliError;
use crate::output;
use chaos_beam::chaos::{reach, Safety};
use chaos_beam::inspect::{inspect, InspectOptions};
use chaos_beam::services;

pub fn run(mut args: InspectArgs) -> Result<(), CliError> {
    super::attach::resolve(&mut args.target)?;
    let client = super::attach::connect(&args.target)?;
    let opts = InspectOptions {
        top: usize::from(args.top),
        timeout: args.timeout,
        ..InspectOptions::default()
    };
    let mut report = smol::block_on(inspect(&client, &opts)).map_err(|e| {
        if e.is_disconnect() {
            CliError::unreachable(e)
        } else {
            CliError::failed(e)
        }
    })?;
    // What chaos could reach with the default safety rules (read-only).
    report.reach = smol::block_on(reach(&client, &Safety::default(), Vec::new())).ok();
    // The services: every listener, asked what it speaks (a line request, then HEAD /).
    if let Ok(mut found) = smol::block_on(services::listeners(&client)) {
        smol::block_on(services::guess_protocols(
            &mut found,
            &chaos_probe::LineProtocol::default(),
            std::time::Duration::from_millis(1500),
        ));
        report.listeners = found;
    }
    client.close();
    if args.json {
        output::print_json(&report);
    } else {
        print!("{}", output::inspection_text(&report));
    }
    Ok(())
}
