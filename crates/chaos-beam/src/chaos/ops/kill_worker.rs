//! Process chaos: kill a random worker (`exit(Pid, kill)`); confirmed by its
//! `'DOWN'`. Like every kill, it measures the time to detect the death and
//! the time until the supervisor brought the process back (within the run's
//! recovery window) — the same code as `monitor_kill`.

use super::prelude::*;

/// Kill one worker process.
pub struct KillWorker;

impl TypedOperation<BeamTarget> for KillWorker {
    type Params = NoParams;

    fn name(&self) -> &'static str {
        "kill_worker"
    }

    fn category(&self) -> Category {
        Category::Process
    }

    fn describe(&self) -> &'static str {
        "kill a random worker process; confirmed by its 'DOWN'; times its recovery"
    }

    fn plan(&self, _rng: &mut SeededRng, _profile: Profile) -> NoParams {
        NoParams {}
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, _p: NoParams) -> BoxFuture<'a, Outcome> {
        Box::pin(super::monitor_kill::kill_and_time_recovery(ctx))
    }
}
