//! TODO(this session): not implemented yet.

use super::prelude::*;

/// Not implemented yet.
pub struct MailboxFlood;

impl Operation<BeamTarget> for MailboxFlood {
    fn name(&self) -> &'static str {
        "mailbox_flood"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn describe(&self) -> &'static str {
        "not implemented yet"
    }

    fn plan(&self, _rng: &mut SeededRng, _profile: Profile) -> Value {
        json!({})
    }

    fn run<'a>(&'a self, _ctx: &'a BeamTarget, _params: &'a Value) -> BoxFuture<'a, Outcome> {
        Box::pin(async { Outcome::skipped("not implemented yet") })
    }
}
