//! A test-only example of adding a detector: this file, plus two lines in
//! `checks/mod.rs` (the `mod` and the entry in `all()`). It uses an existing
//! failure kind; a new kind would add a [`FailureKind`] variant (one more
//! file, `failure_kind.rs`).

use super::*;

/// How many more processes than at the start the example tolerates.
const EXAMPLE_GROWTH: u64 = 40;

/// Flags any growth of the process count past a small margin.
pub(crate) struct ExampleGrowth;

impl Check for ExampleGrowth {
    fn check(&mut self, seen: &Seen<'_>, out: &mut Vec<Problem>) {
        let (now, base) = (seen.steady.processes, seen.baseline.processes);
        if now > base + EXAMPLE_GROWTH {
            out.push(problem(
                FailureKind::ProcessLeak,
                "example: processes",
                format!("{now} processes, {base} at the start (example detector)"),
                false,
            ));
        }
    }
}

mod tests {
    use chaos_engine::Target;

    /// Listed, and it sees what it looks for on a real node.
    #[test]
    fn the_example_detector_plugs_in() {
        let node = chaos_testkit::TestNode::start("example_check");
        smol::block_on(async {
            let target = crate::chaos::test_target(&node)
                .await
                .with_detection(Default::default())
                .await
                .unwrap();
            let example = |s: &chaos_engine::Sample| {
                s.problems.iter().any(|p| p.subject == "example: processes")
            };
            assert!(!example(&target.sample().await.unwrap()));
            // 100 processes that wait until the node stops.
            target
                .exec(
                    "[erlang:spawn(fun() -> receive never -> ok end end) || _ <- lists:seq(1, 100)], ok.",
                    &[],
                )
                .await
                .unwrap();
            let s = target.sample().await.unwrap();
            assert!(example(&s), "{:?}", s.problems);
            target.client.close();
        });
    }
}
