//! The target-agnostic chaos engine. Nothing in here knows about Erlang: the
//! BEAM target (and later OS processes, a TCP fault proxy, actor systems)
//! plug into it.
//!
//! What lives here so far:
//! * [`rng`] — seeded, portable random streams (ChaCha8), so a run is replayed
//!   exactly from its seed on any machine;
//! * [`weights`] — weighted choice among named categories or operations, parsed
//!   from `process=30,memory=20,...` with precise errors.
//!
//! The schedule, safety policy, accounting and report model arrive with the
//! chaos-run issue.

pub mod rng;
pub mod weights;

pub use rng::SeededRng;
pub use weights::{Weights, WeightsError};
