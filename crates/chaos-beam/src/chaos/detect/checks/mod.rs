//! The detectors, one family per file, each behind [`Check`]: given one
//! steady-state sample and the baseline, push the problems it sees. To add
//! one: a file here with a type implementing [`Check`], listed in [`all`];
//! its failure kind is a [`FailureKind`] variant.

mod applications;
#[cfg(test)]
mod example;
mod leaks;
mod limits;
mod mailboxes;
mod memory;
mod names;
mod supervisors;
mod tables;

use super::{problem, Baseline, DetectSettings, Steady};
use crate::failure_kind::FailureKind;
use chaos_engine::Problem;
use std::time::Instant;

/// What a check sees at one sample.
pub(crate) struct Seen<'a> {
    /// The sample.
    pub steady: &'a Steady,
    /// Before chaos.
    pub baseline: &'a Baseline,
    /// Thresholds.
    pub settings: &'a DetectSettings,
    /// When the sample was taken.
    pub now: Instant,
    /// When the first sample was taken.
    pub started: Instant,
}

/// One family of detectors.
pub(crate) trait Check: Send + Sync {
    /// Look at one sample; push what is wrong.
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>);
}

/// Every detector, in the order their problems are listed.
pub(crate) fn all() -> Vec<Box<dyn Check>> {
    #[allow(unused_mut)]
    let mut checks: Vec<Box<dyn Check>> = vec![
        Box::new(applications::Applications),
        Box::new(supervisors::Supervisors),
        Box::new(names::Names),
        Box::new(tables::Tables),
        Box::new(mailboxes::Mailboxes),
        Box::new(memory::Memory),
        Box::new(limits::Limits::default()),
        Box::new(leaks::Leaks),
    ];
    #[cfg(test)]
    checks.push(Box::new(example::ExampleGrowth));
    checks
}
