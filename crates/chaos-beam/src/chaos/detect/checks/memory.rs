//! The node's memory against a share of the machine's.

use super::*;

pub(crate) struct Memory;

impl Check for Memory {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        let Some(total) = seen.baseline.machine_memory else {
            return;
        };
        let threshold = seen.settings.memory_threshold;
        let used = seen.steady.memory_bytes;
        if used > (total as f64 * threshold) as u64 {
            out.push(problem(
                FailureKind::MemoryExhaustion,
                "node memory",
                format!(
                    "node memory {used} bytes is over {:.1}% of the machine's {total} bytes",
                    threshold * 100.0
                ),
                true,
            ));
        }
    }
}
