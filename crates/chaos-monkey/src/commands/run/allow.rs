//! Which gated operations a run may use. An operation gates itself
//! ([`chaos_engine::Operation::gate`], with the reason); the user names it
//! with `--allow NAME` (repeatable or comma-separated) or `[allow] ops =
//! [...]`. The older one-flag-per-operation switches (`--allow-supervisor-kill`,
//! `[allow] supervisor_kill = true`, ...) stay as aliases.

use crate::cli::SafetyArgs;
use crate::config::FileConfig;
use crate::exit::CliError;
use chaos_engine::Profile;
use std::collections::BTreeSet;

/// The older switches: (flag, `[allow]` key, the operation they allow).
pub(super) const ALIASES: [(&str, &str, &str); 4] = [
    (
        "--allow-supervisor-kill",
        "supervisor_kill",
        "kill_supervisor",
    ),
    (
        "--allow-atom-exhaustion",
        "atom_exhaustion",
        "atom_exhaustion",
    ),
    (
        "--allow-port-exhaustion",
        "port_exhaustion",
        "port_exhaustion",
    ),
    ("--allow-node-kill", "node_kill", "node_loss"),
];

/// Every gated operation (single-node and cluster), with why it is gated.
pub fn gated() -> Vec<(&'static str, &'static str)> {
    let node = chaos_beam::chaos::ops::builtin()
        .into_iter()
        .filter_map(|o| o.gate().map(|why| (o.name(), why)));
    let cluster = chaos_beam::cluster::ops::node_ops()
        .into_iter()
        .filter_map(|o| o.gate().map(|why| (o.name(), why)));
    node.chain(cluster).collect()
}

/// The gated operations the flags and the file allow, checked: each one
/// exists and is gated (the profile is checked by [`only_aggressive`]).
pub(crate) fn allowed(
    args: &SafetyArgs,
    file: &FileConfig,
    at: &dyn Fn(&str) -> String,
) -> Result<BTreeSet<String>, CliError> {
    let switches = [
        args.allow_supervisor_kill,
        args.allow_atom_exhaustion,
        args.allow_port_exhaustion,
        args.allow_node_kill,
    ];
    let file_switches = [
        file.allow.supervisor_kill,
        file.allow.atom_exhaustion,
        file.allow.port_exhaustion,
        file.allow.node_kill,
    ];
    // (name, where it was asked for), for error messages.
    let mut asked: Vec<(String, String)> = Vec::new();
    for (i, (flag, key, op)) in ALIASES.iter().enumerate() {
        if switches[i] {
            asked.push((op.to_string(), flag.to_string()));
        }
        if file_switches[i] == Some(true) {
            asked.push((op.to_string(), format!("{}: [allow] {key}", at(key))));
        }
    }
    for name in &args.allow {
        asked.push((name.clone(), format!("--allow {name}")));
    }
    for name in file.allow.ops.iter().flatten() {
        asked.push((name.clone(), format!("{}: [allow] ops", at("ops"))));
    }
    let gated = gated();
    let list = || {
        gated
            .iter()
            .map(|(n, why)| format!("{n} ({why})"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    for (name, from) in &asked {
        if gated.iter().any(|(n, _)| n == name) {
            continue;
        }
        let known = chaos_beam::chaos::ops::builtin()
            .iter()
            .map(|o| o.name())
            .chain(chaos_beam::cluster::ops::NAMES)
            .any(|n| n == name);
        let why = if known {
            format!("'{name}' runs without being allowed")
        } else {
            format!("unknown operation '{name}'")
        };
        return Err(CliError::usage(format!(
            "{from}: {why}; the operations that need --allow are: {}",
            list()
        )));
    }
    Ok(asked.into_iter().map(|(n, _)| n).collect())
}

/// Gated operations run only at the aggressive level.
pub(super) fn only_aggressive(allow: &BTreeSet<String>, profile: Profile) -> Result<(), CliError> {
    if allow.is_empty() || profile == Profile::Aggressive {
        return Ok(());
    }
    let names: Vec<&str> = allow.iter().map(String::as_str).collect();
    Err(CliError::usage(format!(
        "--allow {}: the --allow-… operations only run with --profile aggressive",
        names.join(",")
    )))
}

#[cfg(test)]
mod tests {
    use super::super::settings::{settings_for, RunSettings};
    use crate::exit::{CliError, USAGE};

    fn settings(flags: &[&str], toml: &str) -> Result<RunSettings, CliError> {
        let flags: Vec<&str> = ["--node", "a@h"].iter().chain(flags).copied().collect();
        settings_for(&flags, toml)
    }

    fn allowed(flags: &[&str], toml: &str) -> Vec<String> {
        settings(flags, toml).unwrap().allow.into_iter().collect()
    }

    fn refused(flags: &[&str], toml: &str) -> String {
        let e = settings(flags, toml).unwrap_err();
        assert_eq!(e.code(), USAGE, "{e}");
        e.to_string()
    }

    #[test]
    fn every_gated_operation_says_why() {
        let gated = super::gated();
        let names: Vec<&str> = gated.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "kill_supervisor",
                "atom_exhaustion",
                "port_exhaustion",
                "node_loss"
            ]
        );
        assert!(gated.iter().all(|(_, why)| why.len() > 20), "{gated:?}");
        // Each old switch names a gated operation.
        for (_, _, op) in super::ALIASES {
            assert!(names.contains(&op), "{op}");
        }
    }

    #[test]
    fn allow_takes_names_lists_aliases_and_the_file() {
        let aggressive = ["--profile", "aggressive"];
        let with = |extra: &[&str]| -> Vec<String> {
            let flags: Vec<&str> = aggressive.iter().chain(extra).copied().collect();
            allowed(&flags, "")
        };
        assert!(with(&[]).is_empty());
        assert_eq!(with(&["--allow", "kill_supervisor"]), ["kill_supervisor"]);
        assert_eq!(
            with(&["--allow", "port_exhaustion,atom_exhaustion"]),
            ["atom_exhaustion", "port_exhaustion"]
        );
        assert_eq!(
            with(&["--allow", "kill_supervisor", "--allow-atom-exhaustion"]),
            ["atom_exhaustion", "kill_supervisor"]
        );
        assert_eq!(
            allowed(
                &aggressive,
                "[allow]\nops = [\"port_exhaustion\"]\nsupervisor_kill = true\n"
            ),
            ["kill_supervisor", "port_exhaustion"]
        );
    }

    #[test]
    fn allow_refuses_unknown_ungated_and_demo() {
        let e = refused(&["--profile", "aggressive", "--allow", "nope"], "");
        assert!(
            e.starts_with("--allow nope: unknown operation 'nope'"),
            "{e}"
        );
        assert!(e.contains("kill_supervisor ("), "lists the gated ones: {e}");
        let e = refused(&["--profile", "aggressive", "--allow", "kill_worker"], "");
        assert!(
            e.contains("'kill_worker' runs without being allowed"),
            "{e}"
        );
        let e = refused(&["--allow", "kill_supervisor"], "");
        assert!(e.contains("--profile aggressive"), "{e}");
        let e = refused(
            &["--profile", "aggressive"],
            "[allow]\nops = [\"spawn_burst\"]\n",
        );
        assert!(e.starts_with("c.toml:2"), "says where: {e}");
    }

    #[test]
    fn allow_message_loss_needs_the_aggressive_profile() {
        let e = refused(&["--allow-message-loss"], "");
        assert!(e.starts_with("--allow-message-loss:"), "{e}");
        assert!(e.contains("aggressive"), "{e}");
        let loss =
            |flags: &[&str], toml: &str| settings(flags, toml).unwrap().safety.allow_message_loss;
        assert!(loss(
            &["--profile", "aggressive", "--allow-message-loss"],
            ""
        ));
        assert!(loss(
            &["--profile", "aggressive"],
            "[safety]\nallow_message_loss = true\n"
        ));
        assert!(!loss(&["--profile", "aggressive"], ""));
        let e = refused(&[], "[safety]\nallow_message_loss = true\n");
        assert!(e.contains("aggressive"), "{e}");
    }
}
