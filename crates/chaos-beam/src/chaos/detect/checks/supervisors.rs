//! Static supervisors with fewer children than at the start, or gone from
//! their application's tree.

use super::*;
use crate::chaos::detect::SupState;
use std::collections::BTreeMap;

pub(crate) struct Supervisors;

impl Check for Supervisors {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        let s = seen.steady;
        let now_sups: BTreeMap<&str, &SupState> =
            s.supervisors.iter().map(|x| (x.key.as_str(), x)).collect();
        for (key, base_active) in &seen.baseline.supervisors {
            match now_sups.get(key.as_str()) {
                Some(sup) if sup.answered && sup.active < *base_active => out.push(problem(
                    FailureKind::ProcessCrash,
                    key.clone(),
                    format!(
                        "supervisor {} ({}) has {} active children, {} at the start; {}",
                        sup.name.clone().unwrap_or_else(|| sup.pid.clone()),
                        key,
                        sup.active,
                        base_active,
                        if sup.missing.is_empty() {
                            "a temporary child that died was not replaced".to_string()
                        } else {
                            format!("not running: {}", sup.missing.join(", "))
                        }
                    ),
                    false,
                )),
                Some(_) => {}
                None if s
                    .applications
                    .contains(&key.split('/').next().unwrap_or("").to_string()) =>
                {
                    out.push(problem(
                        FailureKind::SupervisorCollapse,
                        key.clone(),
                        format!("supervisor {key} is gone from its application's tree"),
                        false,
                    ))
                }
                None => {}
            }
        }
    }
}
