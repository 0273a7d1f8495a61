//! The scenarios' watch on the service under test: a [`Prober`] that asks
//! the service's liveness request (whatever protocol its [`Probe`] speaks)
//! on a fresh connection every few milliseconds in the background and
//! records when each answer came (or did not), so detection and recovery
//! times are read off real client experience.

use chaos_probe::{Answer, Probe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::line::error_kind;

/// One probe's result.
#[derive(Debug, Clone)]
pub struct ProbeSample {
    /// When it was sent.
    pub sent: Instant,
    /// When it ended (answer, error or timeout).
    pub done: Instant,
    /// The expected answer came.
    pub ok: bool,
    /// A clean refusal (a protocol error, a rate limit, `503`).
    pub refused: bool,
    /// The answer or the error.
    pub what: String,
}

impl ProbeSample {
    /// Round trip.
    pub fn latency(&self) -> Duration {
        self.done - self.sent
    }
}

/// Probes the service in the background until stopped.
pub struct Prober {
    stop: Arc<AtomicBool>,
    task: smol::Task<()>,
    samples: Arc<Mutex<Vec<ProbeSample>>>,
}

impl Prober {
    /// Ask `probe`'s liveness request on a fresh connection every `every`
    /// (one at a time), each answer awaited at most `limit`.
    pub fn start(probe: Arc<dyn Probe>, every: Duration, limit: Duration) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, out) = (stop.clone(), samples.clone());
        let task = smol::spawn(async move {
            while !s.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let answer = probe.ask(limit).await;
                let done = Instant::now();
                out.lock().unwrap().push(ProbeSample {
                    sent,
                    done,
                    ok: answer.is_ok(),
                    refused: matches!(answer, Answer::Refused(_)),
                    what: answer.what().to_string(),
                });
                smol::Timer::after(every.saturating_sub(done - sent)).await;
            }
        });
        Prober {
            stop,
            task,
            samples,
        }
    }

    /// Probe with `probe` every 20 ms, each answer awaited at most `limit`.
    pub fn every_20ms(probe: Arc<dyn Probe>, limit: Duration) -> Prober {
        Prober::start(probe, Duration::from_millis(20), limit)
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<ProbeSample> {
        self.samples.lock().unwrap().clone()
    }

    /// Wait until a sample sent at or after `since` satisfies `pred`, at most
    /// `limit`; that sample.
    pub async fn wait_for(
        &self,
        since: Instant,
        limit: Duration,
        pred: impl Fn(&ProbeSample) -> bool,
    ) -> Option<ProbeSample> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self
                .samples
                .lock()
                .unwrap()
                .iter()
                .find(|s| s.sent >= since && pred(s))
            {
                return Some(s.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            smol::Timer::after(Duration::from_millis(5)).await;
        }
    }

    /// Stop probing; every sample.
    pub async fn stop(self) -> Vec<ProbeSample> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await;
        let s = self.samples.lock().unwrap().clone();
        s
    }
}

/// One fault under watch — the skeleton the probed scenarios share: the
/// service probed every 20 ms from the fault's start ([`Watch::start`]);
/// recovery measured from the fault's end until a condition on the node
/// holds and a probe has answered since ([`Watch::recovery`]); the probes
/// of the fault's window ([`Watch::window`]).
pub struct Watch {
    prober: Prober,
    /// When the fault started (the probes from here count).
    pub start: Instant,
}

impl Watch {
    /// Start probing the service with `probe` (2 s per probe); the fault starts now.
    pub fn start(probe: Arc<dyn Probe>) -> Watch {
        Watch::with_limit(probe, Duration::from_secs(2))
    }

    /// The same, with `limit` per probe.
    pub fn with_limit(probe: Arc<dyn Probe>, limit: Duration) -> Watch {
        Watch {
            prober: Prober::every_20ms(probe, limit),
            start: Instant::now(),
        }
    }

    /// The prober, for scenario-specific waits.
    pub fn prober(&self) -> &Prober {
        &self.prober
    }

    /// From `ended` (the fault's end), checked every `every` for at most
    /// `bound`: how long until `back` holds and a probe answered since.
    pub async fn recovery<F, Fut>(
        &self,
        ended: Instant,
        bound: Duration,
        every: Duration,
        mut back: F,
    ) -> Option<Duration>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let prober = &self.prober;
        super::poll_until(ended, bound, every, || {
            let node_back = back();
            async move {
                node_back.await
                    && prober
                        .wait_for(ended, Duration::ZERO, |s| s.ok)
                        .await
                        .is_some()
            }
        })
        .await
    }

    /// Stop probing: what the probes saw from the fault's start to `ended`.
    pub async fn window(self, ended: Instant) -> Window {
        Window::of(&self.prober.stop().await, self.start, ended)
    }
}

/// What the probes saw between two instants.
#[derive(Debug, Clone)]
pub struct Window {
    /// Probes sent and ended in the window.
    pub probes: usize,
    /// Answered as expected.
    pub answered: usize,
    /// Refused with a protocol error (a clean refusal).
    pub refused: usize,
    /// Neither: no answer, a broken connection, a wrong answer.
    pub failed: usize,
    /// The first failure's answer or error.
    pub first_failure: Option<String>,
    /// Latency of the answered probes, ms.
    pub p50: f64,
    /// Latency of the answered probes, ms.
    pub p99: f64,
    /// Latency of the answered probes, ms.
    pub max: f64,
}

impl Window {
    /// The probes of `samples` sent at or after `from` and before `to`,
    /// each with its real outcome — also one still in flight when the
    /// window closed (the prober finishes it before its samples are read):
    /// a probe a fault stalls ends failed (its timeout), never dropped.
    pub fn of(samples: &[ProbeSample], from: Instant, to: Instant) -> Window {
        let during: Vec<ProbeSample> = samples
            .iter()
            .filter(|s| s.sent >= from && s.sent < to)
            .cloned()
            .collect();
        let refusal = |s: &ProbeSample| s.refused;
        let failed: Vec<&ProbeSample> = during.iter().filter(|s| !s.ok && !refusal(s)).collect();
        let (p50, p99, max) = latency_ms(&during);
        Window {
            probes: during.len(),
            answered: during.iter().filter(|s| s.ok).count(),
            refused: during.iter().filter(|s| refusal(s)).count(),
            failed: failed.len(),
            first_failure: failed.first().map(|s| s.what.clone()),
            p50,
            p99,
            max,
        }
    }

    /// Some probes ran and none failed.
    pub fn clean(&self) -> bool {
        self.probes > 0 && self.failed == 0
    }

    /// One line, for the observation.
    pub fn describe(&self) -> String {
        format!(
            "{} probes: {} answered, {} refused cleanly, {} failed{}; p50 {} ms, p99 {} ms, max {} ms",
            self.probes,
            self.answered,
            self.refused,
            self.failed,
            self.first_failure
                .as_ref()
                .map(|w| format!(" (first: {w})"))
                .unwrap_or_default(),
            self.p50,
            self.p99,
            self.max
        )
    }

    /// For the measurements.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "probes": self.probes, "answered": self.answered, "refused": self.refused,
            "failed": self.failed, "latency_p50_ms": self.p50, "latency_p99_ms": self.p99,
            "latency_max_ms": self.max,
        })
    }
}

/// Latency percentiles of `samples` that answered, in ms: (p50, p99, max).
pub fn latency_ms(samples: &[ProbeSample]) -> (f64, f64, f64) {
    let mut l: Vec<f64> = samples
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.latency().as_secs_f64() * 1e3)
        .collect();
    if l.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    l.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pick = |p: f64| l[((l.len() as f64 - 1.0) * p).round() as usize];
    let r = |x: f64| (x * 1e3).round() / 1e3;
    (r(pick(0.5)), r(pick(0.99)), r(*l.last().unwrap()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t0: Instant, sent_ms: u64, done_ms: u64, ok: bool) -> ProbeSample {
        ProbeSample {
            sent: t0 + Duration::from_millis(sent_ms),
            done: t0 + Duration::from_millis(done_ms),
            ok,
            refused: false,
            what: if ok { "PONG".into() } else { "reset".into() },
        }
    }

    #[test]
    fn a_probe_in_flight_when_the_window_closes_is_counted_not_dropped() {
        let t0 = Instant::now();
        let mut stalled = sample(t0, 91, 2091, false);
        stalled.what = "timeout".into();
        let samples = vec![
            sample(t0, 0, 5, true),
            sample(t0, 10, 15, false),
            // Sent inside, answered just after the window's end: answered.
            sample(t0, 90, 93, true),
            // Sent inside, stalled past the end until its timeout: failed.
            stalled,
            // Sent after the end: not this window's.
            sample(t0, 120, 125, true),
        ];
        let w = Window::of(&samples, t0, t0 + Duration::from_millis(92));
        assert_eq!((w.probes, w.answered, w.failed), (4, 2, 2), "{w:?}");
        assert!(!w.clean());
        // A window in which every answer stalls has failed probes, not none.
        let w = Window::of(&samples[3..4], t0, t0 + Duration::from_millis(100));
        assert_eq!((w.probes, w.failed), (1, 1), "{w:?}");
        assert_eq!(w.first_failure.as_deref(), Some("timeout"));
    }
}
