//! The safety settings `run` and `scenarios` share: which processes chaos
//! may touch and how hard (`--only-app`, `--protect-*`, kill rate and
//! blast radius, the restart-budget policy), flags over the config's
//! `[safety]` table over the defaults, validated.

use crate::cli::SafetyArgs;
use crate::commands::layered::{layered, usage};
use crate::config::FileConfig;
use crate::exit::CliError;
use chaos_beam::chaos::Safety;
use chaos_engine::Profile;

/// The safety `args` and `file` ask for. `profile`: the run's level, which
/// `--allow-collapse` needs to be aggressive; `None` (scenarios, which
/// choose their victims one at a time) lets it through.
pub(crate) fn safety(
    args: &SafetyArgs,
    file: &FileConfig,
    profile: Option<Profile>,
    at: &dyn Fn(&str) -> String,
) -> Result<Safety, CliError> {
    let s = &file.safety;
    let pick = |flag: &Vec<String>, file: &Option<Vec<String>>| {
        if flag.is_empty() {
            file.clone().unwrap_or_default()
        } else {
            flag.clone()
        }
    };
    let max_kills = layered(
        args.max_kills_per_sec,
        s.max_kills_per_sec,
        "max_kills_per_sec",
        &at,
        Ok,
        |v| u32::try_from(v).map_err(|_| format!("must be a whole number ≥ 0, got {v}")),
    )?
    .unwrap_or(Safety::default().max_kills_per_sec);
    let mut safety = Safety::default();
    safety.only_apps = pick(&args.only_app, &s.only_apps);
    safety.protect_apps = pick(&args.protect_app, &s.protect_apps);
    safety.include_otp_apps = args.include_otp_apps || s.include_otp_apps.unwrap_or(false);
    safety.include_no_app = args.include_no_app || s.include_no_app.unwrap_or(false);
    safety.max_kills_per_sec = max_kills;
    safety.max_app_share = args
        .max_app_share
        .or(s.max_app_share)
        .unwrap_or(safety.max_app_share);
    let edge = args.edge || s.edge.unwrap_or(false);
    let collapse = args.allow_collapse || s.allow_collapse.unwrap_or(false);
    safety.budget = match (edge, collapse) {
        (true, true) => {
            return Err(usage(format!(
                "{}: edge and allow_collapse exclude each other (edge never spends a budget's last restart; collapse spends past it)",
                if args.edge || args.allow_collapse { "--edge/--allow-collapse".to_string() } else { at("edge") }
            )))
        }
        (_, true) if profile.is_some_and(|p| p != Profile::Aggressive) => {
            return Err(usage(format!(
                "{}: letting kills exhaust restart budgets needs the aggressive profile (add --profile aggressive)",
                if args.allow_collapse { "--allow-collapse".to_string() } else { at("allow_collapse") }
            )))
        }
        (_, true) => chaos_beam::chaos::BudgetPolicy::Collapse,
        (true, _) => chaos_beam::chaos::BudgetPolicy::Edge,
        _ => chaos_beam::chaos::BudgetPolicy::Spare,
    };
    safety.allow_message_loss = args.allow_message_loss || s.allow_message_loss.unwrap_or(false);
    if safety.allow_message_loss && profile.is_some_and(|p| p != Profile::Aggressive) {
        return Err(usage(format!(
            "{}: dropping real messages needs the aggressive profile (add --profile aggressive)",
            if args.allow_message_loss {
                "--allow-message-loss".to_string()
            } else {
                at("allow_message_loss")
            }
        )));
    }
    let safety = safety
        .with_protect_names(pick(&args.protect_name, &s.protect_names))
        .map_err(|e| {
            usage(if args.protect_name.is_empty() {
                format!("{}: {e}", at("protect_names"))
            } else {
                format!("--protect-name: {e}")
            })
        })?;
    safety.validate().map_err(|e| {
        usage(if args.max_app_share.is_some() {
            format!("--max-app-share: {e}")
        } else {
            format!("{}: {e}", at("max_app_share"))
        })
    })?;
    Ok(safety)
}
