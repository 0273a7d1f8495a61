//! Registered names of the applications: gone with their owner (a crash
//! nobody repaired), gone while the owner runs, or pointing elsewhere.

use super::*;
use crate::chaos::detect::NameState;
use std::collections::BTreeMap;

pub(crate) struct Names;

impl Check for Names {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        let s = seen.steady;
        let names: BTreeMap<&str, &NameState> =
            s.names.iter().map(|n| (n.name.as_str(), n)).collect();
        for (name, (old_pid, app)) in &seen.baseline.names {
            if !s.applications.contains(app) {
                continue;
            }
            match names.get(name.as_str()) {
                None if !s.alive_owners.contains(old_pid) => out.push(problem(
                    FailureKind::ProcessCrash,
                    format!("name {name}"),
                    format!("registered process {name} ({old_pid} at the start) died and nothing registered the name again"),
                    false,
                )),
                None => out.push(problem(
                    FailureKind::RegistryCorruption,
                    format!("name {name}"),
                    format!("the name {name} is missing while its owner {old_pid} still runs"),
                    false,
                )),
                Some(n) if n.app.as_deref() != Some(app) => out.push(problem(
                    FailureKind::RegistryCorruption,
                    format!("name {name}"),
                    format!(
                        "the name {name} points at {} which is not a process of {app}",
                        n.pid
                    ),
                    false,
                )),
                Some(_) => {}
            }
        }
    }
}
