//! The target-agnostic chaos engine. Nothing in here knows about Erlang: the
//! BEAM target (and later OS processes, a TCP fault proxy, actor systems)
//! plug into it through two traits, [`Operation`] (how one fault is done and
//! confirmed — the nemesis) and [`Target`] (health and resources).
//!
//! * [`rng`] — seeded, portable random streams (ChaCha8);
//! * [`weights`] — weighted choice, parsed from `process=30,memory=20,...`;
//! * [`deadline`] — the one time limit on a future ([`deadline::within`]);
//! * [`duration`] — human-written durations, without humantime's overflow panic;
//! * [`category`] — the five categories and the run profiles;
//! * [`operation`] — the operation interface, outcomes, effects to undo;
//! * [`schedule`] — the generator: what happens when, from the seed alone;
//! * [`record`] — what a run produces, as plain data (events, samples, problems, failure modes);
//! * [`runner`] — fires the schedule, undoes effects, samples the target;
//! * [`report`] — the checker's input and the report model;
//! * [`tally`] — running totals of a run, in bounded memory;
//! * [`scenario`] — structured scenarios: the interface, results, the suite report;
//! * [`timeline`] — the run over time (bounded buckets and markers), for charts;
//! * [`vocabulary`] — the target's words in the report (survival, groups, failure kinds).

pub mod budget;
pub mod category;
pub mod deadline;
pub mod duration;
pub mod operation;
pub mod record;
pub mod report;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod tally;
pub mod timeline;
pub mod vocabulary;
pub mod weights;

pub use category::{Category, Profile};
pub use operation::{
    admit, Effect, NoParams, Operation, Outcome, Recovery, Status, TypedOperation, Verdict, Victim,
};
pub use record::{Event, Problem, Sample};
pub use report::{FailureMode, Reach, Report, ReportInput};
pub use rng::SeededRng;
pub use runner::{run, RunConfig, RunRecord, StopSignal, Target, Update};
pub use schedule::{PlannedOp, Schedule, ScheduleError, SkippedCategory};
pub use timeline::Timeline;
pub use vocabulary::{AuditFinding, Vocabulary};
pub use weights::{Weights, WeightsError};
