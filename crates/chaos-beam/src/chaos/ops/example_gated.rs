//! A test-only example of adding a gated operation: this file, plus two
//! lines in `ops/mod.rs` (the `mod` and the entry in `builtin()`). The gate,
//! the parameters and the reply protocol all live here; the CLI's `--allow`
//! and the fuzz tables pick the operation up from `builtin()` by themselves.

use super::prelude::*;

/// Count the processes on the node (harmless; gated only to show the gate).
pub struct ExampleGated;

/// Its parameters.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleGatedParams {
    /// Echoed back in the detail, to show typed parameters arrive.
    pub token: i64,
}

pub(crate) const SNIPPET: &str = r#"
{confirmed,
 iolist_to_binary(io_lib:format("token ~b: ~b processes", [Token, erlang:system_info(process_count)])),
 #{processes => erlang:system_info(process_count)}}.
"#;

impl TypedOperation<BeamTarget> for ExampleGated {
    type Params = ExampleGatedParams;

    fn name(&self) -> &'static str {
        "example_gated"
    }

    fn category(&self) -> Category {
        Category::State
    }

    fn describe(&self) -> &'static str {
        "count the node's processes (a test-only example of a gated operation)"
    }

    fn gate(&self) -> Option<&'static str> {
        Some("it is an example: it runs only when named")
    }

    fn plan(&self, rng: &mut SeededRng, _profile: Profile) -> ExampleGatedParams {
        ExampleGatedParams {
            token: rng.range_inclusive(1, 1_000) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: ExampleGatedParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            ctx.reply(SNIPPET, &[("Token", int(p.token))])
                .await
                .outcome()
        })
    }
}

mod tests {
    use super::*;
    use chaos_engine::admit;
    use std::collections::BTreeSet;

    /// Listed, gated (left out unless allowed), typed, and it runs on a real node.
    #[test]
    fn the_example_operation_plugs_in_with_its_gate() {
        let find = |ops: &[std::sync::Arc<dyn Operation<BeamTarget>>]| {
            ops.iter().any(|o| o.name() == "example_gated")
        };
        assert!(find(&super::super::builtin()));
        assert!(!find(&admit(super::super::builtin(), &BTreeSet::new())));
        let allowed = BTreeSet::from(["example_gated".to_string()]);
        let ops = admit(super::super::builtin(), &allowed);
        let op = ops.iter().find(|o| o.name() == "example_gated").unwrap();

        let node = chaos_testkit::TestNode::start("example_op");
        smol::block_on(async {
            let target = crate::chaos::test_target(&node).await;
            let out = op.run(&target, &json!({ "token": 77 })).await;
            assert_eq!(out.status, Status::Confirmed, "{out:?}");
            assert!(out.detail.starts_with("token 77: "), "{}", out.detail);
            // A missing parameter fails the operation, it does not read 0.
            let out = op.run(&target, &json!({})).await;
            assert_eq!(out.status, Status::Failed);
            assert!(out.detail.contains("token"), "{}", out.detail);
            target.client.close();
        });
    }
}
