//! Runs a schedule against a target: fires each planned operation on time,
//! records what it did, undoes its effects when their time is up (and all of
//! them at the end), samples the target's health and resources, and stops
//! early on request or when the target goes away.

use crate::operation::Status;
use crate::record::{Event, Sample};
use crate::schedule::{PlannedOp, Schedule};
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the runner needs from a target besides its operations.
pub trait Target: Send + Sync + 'static {
    /// Health and resource counts, measured on the target. `Err` means unreachable.
    fn sample(&self) -> BoxFuture<'_, Result<Sample, String>>;
    /// Resolves, with a reason, when the target can no longer be reached.
    fn gone(&self) -> BoxFuture<'_, String>;
}

/// Tells a run to stop early (Ctrl-C, SIGTERM). Cheap to clone.
#[derive(Clone, Default)]
pub struct StopSignal {
    flag: Arc<AtomicBool>,
    event: Arc<event_listener::Event>,
}

impl StopSignal {
    /// A signal not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raise it.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }

    /// Raised?
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once raised.
    pub async fn wait(&self) {
        loop {
            let listener = self.event.listen();
            if self.is_stopped() {
                return;
            }
            listener.await;
        }
    }
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Planned duration.
    pub duration: Duration,
    /// At most this many operations at once; beyond it an operation is skipped.
    pub max_in_flight: usize,
    /// How often to sample health and resources.
    pub sample_every: Duration,
    /// How long to wait at the end for operations and undos to finish.
    pub drain_timeout: Duration,
    /// After clean-up, keep sampling up to this long for the target to recover.
    pub recovery_window: Duration,
    /// Stop the chaos when the steady state stays broken this long (`None`: never).
    pub breaker: Option<Duration>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(60),
            max_in_flight: 64,
            sample_every: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(30),
            recovery_window: Duration::from_secs(5),
            breaker: None,
        }
    }
}

/// Something the observer (progress bar, live log, events file) is told.
#[derive(Debug)]
pub enum Update<'a> {
    /// An operation finished.
    Event(&'a Event),
    /// A sample was taken (or failed).
    Sample(&'a Result<Sample, String>),
    /// An effect could not be undone.
    UndoFailed(&'a str),
}

/// Everything a run produced, before it is turned into a report.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    /// Running totals of every executed operation (the observer saw each one whole).
    pub tally: crate::tally::Tally,
    /// Every sample (failed samples as `Err`).
    pub samples: Vec<Result<Sample, String>>,
    /// Effects that could not be undone.
    pub undo_failures: Vec<String>,
    /// Effects still in place when the run gave up waiting.
    pub pending_effects: usize,
    /// Operations still running when the run gave up waiting.
    pub pending_ops: usize,
    /// Stopped early on request.
    pub interrupted: bool,
    /// The target went away: why.
    pub target_lost: Option<String>,
    /// The circuit breaker stopped the chaos: why.
    pub breaker_tripped: Option<String>,
    /// Actual duration (chaos, clean-up and recovery).
    pub elapsed: Duration,
    /// Operations, samples and markers over time, for charts.
    pub timeline: crate::timeline::Timeline,
}

enum Msg {
    Event(Box<Event>),
    Sample(Result<Sample, String>),
    UndoFailed(String),
    Gone(String),
    ScheduleDone,
}

/// Run `schedule` against `ctx`, reporting progress to `observer`.
pub async fn run<C: Target>(
    ctx: Arc<C>,
    schedule: Schedule<C>,
    cfg: &RunConfig,
    stop: StopSignal,
    observer: &mut (dyn FnMut(Update<'_>) + Send),
) -> RunRecord {
    let started = Instant::now();
    let (tx, rx) = async_channel::unbounded::<Msg>();
    // Raised when effects must be undone now (end of run, stop, target gone).
    let release = StopSignal::new();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let effects = Arc::new(AtomicUsize::new(0));

    let scheduler = {
        let (ctx, tx, stop, release) = (ctx.clone(), tx.clone(), stop.clone(), release.clone());
        let (in_flight, effects) = (in_flight.clone(), effects.clone());
        let max_in_flight = cfg.max_in_flight;
        smol::spawn(async move {
            let mut schedule = schedule;
            while let Some(planned) = schedule.next() {
                let due = started + planned.at;
                if !sleep_until(due, &stop).await {
                    break;
                }
                let op = schedule.op(planned.op).expect("planned ops exist");
                if in_flight.load(Ordering::SeqCst) >= max_in_flight {
                    let event =
                        skipped_event(&planned, started, "too many operations still in flight");
                    let _ = tx.send(Msg::Event(Box::new(event))).await;
                    continue;
                }
                in_flight.fetch_add(1, Ordering::SeqCst);
                let (ctx, tx, release) = (ctx.clone(), tx.clone(), release.clone());
                let (in_flight, effects) = (in_flight.clone(), effects.clone());
                smol::spawn(async move {
                    let t0 = Instant::now();
                    let outcome = op.run(&ctx, &planned.params).await;
                    let event = Event {
                        seq: planned.seq,
                        t_ms: t0.duration_since(started).as_millis() as u64,
                        scheduled_ms: planned.at.as_millis() as u64,
                        late_us: t0
                            .saturating_duration_since(started + planned.at)
                            .as_micros() as u64,
                        category: planned.category,
                        op: planned.op,
                        params: planned.params.clone(),
                        victim: outcome.victim.clone(),
                        outcome: outcome.status,
                        detail: outcome.detail.clone(),
                        duration_us: t0.elapsed().as_micros() as u64,
                        measurements: outcome.measurements.clone(),
                        killed: outcome.killed,
                        recovery: outcome.recovery,
                        budget: outcome.budget.clone(),
                    };
                    let judged = outcome
                        .effect
                        .as_ref()
                        .is_some_and(|e| e.judged_when_undone());
                    let mut event = Some(event);
                    if !judged {
                        let event = event.take().expect("not sent yet");
                        let _ = tx.send(Msg::Event(Box::new(event))).await;
                    }
                    if let Some(effect) = outcome.effect {
                        effects.fetch_add(1, Ordering::SeqCst);
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        let timer = smol::Timer::after(effect.hold());
                        futures::future::select(Box::pin(timer), Box::pin(release.wait())).await;
                        if let Err(e) = effect.undo().await {
                            let _ = tx
                                .send(Msg::UndoFailed(format!("{}: {e}", effect.describe())))
                                .await;
                        }
                        if let Some(mut event) = event.take() {
                            if let Some(verdict) = effect.verdict() {
                                regrade(&mut event, verdict);
                            }
                            let _ = tx.send(Msg::Event(Box::new(event))).await;
                        }
                        effects.fetch_sub(1, Ordering::SeqCst);
                    } else {
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                })
                .detach();
            }
            let _ = tx.send(Msg::ScheduleDone).await;
        })
    };

    let sampler = {
        let (ctx, tx, every) = (ctx.clone(), tx.clone(), cfg.sample_every);
        smol::spawn(async move {
            loop {
                let t = started.elapsed();
                let mut s = ctx.sample().await;
                if let Ok(s) = &mut s {
                    s.t_ms = t.as_millis() as u64;
                }
                if tx.send(Msg::Sample(s)).await.is_err() {
                    return;
                }
                smol::Timer::after(every).await;
            }
        })
    };
    let watcher = {
        let (ctx, tx) = (ctx.clone(), tx.clone());
        smol::spawn(async move {
            let reason = ctx.gone().await;
            let _ = tx.send(Msg::Gone(reason)).await;
        })
    };
    drop(tx);

    let mut record = RunRecord::default();
    let end = started + cfg.duration;
    // Phase 1: until the schedule is done and the duration is over (or a stop).
    let mut schedule_done = false;
    let mut broken_since: Option<Instant> = None;
    loop {
        if schedule_done && Instant::now() >= end {
            break;
        }
        let done_now = schedule_done;
        let wait_end = async move {
            if done_now {
                smol::Timer::at(end).await;
            } else {
                futures::future::pending::<()>().await;
            }
        };
        let msg = futures::future::select(Box::pin(rx.recv()), Box::pin(wait_end)).await;
        let msg = match msg {
            futures::future::Either::Left((Ok(m), _)) => m,
            futures::future::Either::Left((Err(_), _)) => break,
            futures::future::Either::Right(_) => break,
        };
        match msg {
            Msg::ScheduleDone => {
                schedule_done = true;
                if stop.is_stopped() {
                    record.interrupted = true;
                    break;
                }
            }
            Msg::Gone(reason) => {
                record.target_lost = Some(reason);
                stop.stop();
                break;
            }
            Msg::Sample(s) => {
                let broken = match &s {
                    Ok(s) => !s.problems.is_empty(),
                    Err(_) => true,
                };
                broken_since = if broken {
                    broken_since.or(Some(Instant::now()))
                } else {
                    None
                };
                let tripped = cfg
                    .breaker
                    .zip(broken_since)
                    .is_some_and(|(limit, since)| since.elapsed() >= limit);
                let what = match &s {
                    Ok(s) => s
                        .problems
                        .iter()
                        .map(|p| p.detail.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                    Err(e) => e.clone(),
                };
                handle(Msg::Sample(s), &mut record, observer);
                if tripped {
                    record.breaker_tripped = Some(format!(
                        "the steady state stayed broken for {:.1} s: {what}",
                        broken_since
                            .map(|t| t.elapsed().as_secs_f64())
                            .unwrap_or(0.0)
                    ));
                    stop.stop();
                    break;
                }
            }
            other => handle(other, &mut record, observer),
        }
    }
    if stop.is_stopped() && record.target_lost.is_none() && record.breaker_tripped.is_none() {
        record.interrupted = true;
    }
    stop.stop();
    release.stop();
    drop(scheduler);
    record.timeline.end_of_chaos(
        started.elapsed().as_millis() as u64,
        record.interrupted,
        record.breaker_tripped.as_deref(),
        record.target_lost.as_deref(),
    );

    // Phase 2: let running operations finish and every effect be undone.
    let drain_deadline = Instant::now() + cfg.drain_timeout;
    while in_flight.load(Ordering::SeqCst) + effects.load(Ordering::SeqCst) > 0
        && Instant::now() < drain_deadline
        && record.target_lost.is_none()
    {
        let tick = smol::Timer::after(Duration::from_millis(10));
        match futures::future::select(Box::pin(rx.recv()), Box::pin(tick)).await {
            futures::future::Either::Left((Ok(Msg::Gone(reason)), _)) => {
                record.target_lost = Some(reason)
            }
            futures::future::Either::Left((Ok(m), _)) => handle(m, &mut record, observer),
            _ => {}
        }
    }
    while let Ok(m) = rx.try_recv() {
        match m {
            Msg::Gone(reason) => record.target_lost = Some(reason),
            Msg::Sample(_) | Msg::ScheduleDone => {}
            m => handle(m, &mut record, observer),
        }
    }
    record.pending_ops = in_flight.load(Ordering::SeqCst);
    record.pending_effects = effects.load(Ordering::SeqCst);
    drop(sampler);
    drop(watcher);
    // Phase 3: after everything was put back, give the target its recovery
    // window; the last sample is the verdict.
    if record.target_lost.is_none() {
        let deadline = Instant::now() + cfg.recovery_window;
        loop {
            let mut s = ctx.sample().await;
            if let Ok(s) = &mut s {
                s.t_ms = started.elapsed().as_millis() as u64;
            }
            let clean = matches!(&s, Ok(s) if s.problems.is_empty() && s.healthy);
            let lost = s.is_err() && ctx_gone_now(&*ctx).await;
            observer(Update::Sample(&s));
            if let Ok(s) = &s {
                record.timeline.add_sample(s);
            }
            record.samples.push(s);
            if lost {
                record.target_lost =
                    Some("the target stopped answering during the recovery window".to_string());
                break;
            }
            if clean || Instant::now() >= deadline {
                break;
            }
            smol::Timer::after(
                cfg.sample_every
                    .min(deadline.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }
    record.elapsed = started.elapsed();
    record
}

async fn ctx_gone_now<C: Target>(ctx: &C) -> bool {
    let gone = ctx.gone();
    matches!(
        futures::future::select(
            gone,
            Box::pin(smol::Timer::after(Duration::from_millis(50)))
        )
        .await,
        futures::future::Either::Left(_)
    )
}

fn handle(msg: Msg, record: &mut RunRecord, observer: &mut (dyn FnMut(Update<'_>) + Send)) {
    match msg {
        Msg::Event(e) => {
            observer(Update::Event(&e));
            record.tally.add(&e);
            record.timeline.add_event(&e);
        }
        Msg::Sample(s) => {
            observer(Update::Sample(&s));
            if let Ok(s) = &s {
                record.timeline.add_sample(s);
            }
            record.samples.push(s);
        }
        Msg::UndoFailed(what) => {
            observer(Update::UndoFailed(&what));
            record.undo_failures.push(what);
        }
        Msg::Gone(_) | Msg::ScheduleDone => {}
    }
}

/// An operation's event re-graded by its effect's verdict at the effect's end.
fn regrade(event: &mut Event, verdict: crate::operation::Verdict) {
    event.outcome = verdict.status;
    event.detail = verdict.detail;
    match (&mut event.measurements, verdict.measurements) {
        (Value::Object(into), Value::Object(from)) => into.extend(from),
        (_, Value::Null) => {}
        (slot, from) => *slot = from,
    }
}

fn skipped_event(planned: &PlannedOp, started: Instant, why: &str) -> Event {
    Event {
        seq: planned.seq,
        t_ms: started.elapsed().as_millis() as u64,
        scheduled_ms: planned.at.as_millis() as u64,
        late_us: started.elapsed().saturating_sub(planned.at).as_micros() as u64,
        category: planned.category,
        op: planned.op,
        params: planned.params.clone(),
        victim: None,
        outcome: Status::Skipped,
        detail: why.to_string(),
        duration_us: 0,
        measurements: Value::Null,
        killed: false,
        recovery: None,
        budget: None,
    }
}

/// Sleep until `due`; `false` when stopped first.
async fn sleep_until(due: Instant, stop: &StopSignal) -> bool {
    if stop.is_stopped() {
        return false;
    }
    if due > Instant::now() {
        let timer = smol::Timer::at(due);
        match futures::future::select(Box::pin(timer), Box::pin(stop.wait())).await {
            futures::future::Either::Left(_) => {}
            futures::future::Either::Right(_) => return false,
        }
    }
    !stop.is_stopped()
}
