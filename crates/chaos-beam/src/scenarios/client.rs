//! The scenarios' clients of the service under test: the line-protocol
//! connection ([`Line`], from [`crate::line`]), and a [`Prober`] that asks the service's probe
//! request on a fresh connection every few milliseconds in the background
//! and records when each answer came (or did not), so detection and
//! recovery times are read off real client experience.

use regex::Regex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::line::{error_kind, read_line, Line};
pub use chaos_engine::deadline::within_io as within;

/// One probe's result.
#[derive(Debug, Clone)]
pub struct ProbeSample {
    /// When it was sent.
    pub sent: Instant,
    /// When it ended (answer, error or timeout).
    pub done: Instant,
    /// The expected answer came.
    pub ok: bool,
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
    /// Ask `send` on a fresh connection to `addr` every `every` (one at a
    /// time), expecting a line matching `expect` within `limit`.
    pub fn start(
        addr: SocketAddr,
        send: String,
        expect: Regex,
        every: Duration,
        limit: Duration,
    ) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, out) = (stop.clone(), samples.clone());
        let task = smol::spawn(async move {
            while !s.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let r = crate::line::ask_once(addr, &send, limit).await;
                let done = Instant::now();
                let (ok, what) = match r {
                    Ok(line) => (expect.is_match(&line), line),
                    Err(e) => (false, error_kind(&e)),
                };
                out.lock().unwrap().push(ProbeSample {
                    sent,
                    done,
                    ok,
                    what,
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

    /// Probe `addr` with `protocol`'s probe request every 20 ms, each
    /// answer awaited at most `limit`.
    pub fn every_20ms(addr: SocketAddr, protocol: &super::Protocol, limit: Duration) -> Prober {
        Prober::start(
            addr,
            protocol.ping.clone(),
            protocol.pong.clone(),
            Duration::from_millis(20),
            limit,
        )
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
    error: Regex,
}

impl Watch {
    /// Start probing the service at `addr` (2 s per probe); the fault starts now.
    pub fn start(addr: SocketAddr, protocol: &super::Protocol) -> Watch {
        Watch::with_limit(addr, protocol, Duration::from_secs(2))
    }

    /// The same, with `limit` per probe.
    pub fn with_limit(addr: SocketAddr, protocol: &super::Protocol, limit: Duration) -> Watch {
        Watch {
            prober: Prober::every_20ms(addr, protocol, limit),
            start: Instant::now(),
            error: protocol.error.clone(),
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
        Window::of(&self.prober.stop().await, self.start, ended, &self.error)
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
    /// The probes of `samples` sent at or after `from` and ended by `to`;
    /// answers matching `error` are clean refusals.
    pub fn of(samples: &[ProbeSample], from: Instant, to: Instant, error: &Regex) -> Window {
        let during: Vec<ProbeSample> = samples
            .iter()
            .filter(|s| s.sent >= from && s.done <= to)
            .cloned()
            .collect();
        let refusal = |s: &ProbeSample| !s.ok && error.is_match(&s.what);
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
