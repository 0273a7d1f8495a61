//! The node's memory against a share of its limit: the machine's RAM, or
//! its cgroup's memory limit when that is lower (read at the baseline).

use super::*;

pub(crate) struct Memory;

impl Check for Memory {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        let Some(limit) = &seen.baseline.memory_limit else {
            return;
        };
        let threshold = seen.settings.memory_threshold;
        let used = seen.steady.memory_bytes;
        if used > (limit.bytes as f64 * threshold) as u64 {
            out.push(problem(
                FailureKind::MemoryExhaustion,
                "node memory",
                format!(
                    "node memory {used} bytes is over {:.1}% of {}",
                    threshold * 100.0,
                    limit.describe()
                ),
                true,
            ));
        }
    }
}
