//! A client workload: a few clients of a service speaking its protocol
//! through its probe (`chaos_probe::Probe`; the demo's is the line
//! protocol), at a steady rate, through the fault proxy when there is one,
//! so network faults are felt by a real client. Each round writes a value
//! and reads it back (where the protocol can) and asks a request on a
//! connection it keeps. It counts what the clients saw: answers, refusals,
//! connection failures, latencies, and writes that were acknowledged but
//! read back wrong or missing.

use chaos_probe::{error_kind, Answer, Probe, Session};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the workload saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkloadStats {
    /// Where it sent requests.
    pub address: String,
    /// Requests sent.
    pub requests: u64,
    /// Expected answers.
    pub ok: u64,
    /// Clean refusals (`ERR ...`, `503`, a broker's close) and writes not acknowledged, by answer.
    pub err_answers: std::collections::BTreeMap<String, u64>,
    /// Connection failures (refused, reset, timed out, closed).
    pub connection_errors: std::collections::BTreeMap<String, u64>,
    /// Writes acknowledged, then read back with another value or not at all.
    pub lost_writes: u64,
    /// Round-trip latency of answered requests.
    pub latency_p50_us: u64,
    /// Round-trip latency of answered requests.
    pub latency_p99_us: u64,
    /// Slowest answered request.
    pub latency_max_us: u64,
}

/// A running workload; [`Workload::stop`] ends it and returns what it saw.
pub struct Workload {
    stop: Arc<AtomicBool>,
    tasks: Vec<smol::Task<()>>,
    shared: Arc<Mutex<Shared>>,
    address: String,
}

#[derive(Default)]
struct Shared {
    stats: WorkloadStats,
    latencies: Vec<u64>,
}

/// Per request timeout: a stalled proxy shows up as a timeout, not a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

impl Workload {
    /// Start `clients` clients of `probe`'s service, each doing
    /// `rate_per_client` rounds per second.
    pub fn start(probe: Arc<dyn Probe>, clients: usize, rate_per_client: f64) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let tasks = (0..clients)
            .map(|i| {
                let (stop, shared, probe) = (stop.clone(), shared.clone(), probe.clone());
                smol::spawn(client(i, probe, rate_per_client, stop, shared))
            })
            .collect();
        Workload {
            stop,
            tasks,
            shared,
            address: probe.addr().to_string(),
        }
    }

    /// Stop every client and return the figures.
    pub async fn stop(self) -> WorkloadStats {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await;
        }
        let mut shared = self.shared.lock().unwrap();
        let mut lat = std::mem::take(&mut shared.latencies);
        lat.sort_unstable();
        let pick = |p: f64| {
            lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        let mut stats = shared.stats.clone();
        stats.address = self.address.clone();
        stats.latency_p50_us = pick(0.5);
        stats.latency_p99_us = pick(0.99);
        stats.latency_max_us = lat.last().copied().unwrap_or(0);
        stats
    }
}

async fn client(
    id: usize,
    probe: Arc<dyn Probe>,
    rate: f64,
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
) {
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut session: Option<Box<dyn Session>> = None;
    let mut n: u64 = 0;
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        smol::Timer::at(next).await;
        next += interval;
        n += 1;
        // A write and its read-back, in the service's own protocol.
        let pair = [(format!("wl{id}_{n}"), format!("v{n}"))];
        let t0 = Instant::now();
        if let Some(acked) = probe.write(&pair, REQUEST_TIMEOUT).await {
            let took = t0.elapsed();
            {
                let mut sh = shared.lock().unwrap();
                sh.stats.requests += 1;
                if acked.is_empty() {
                    *sh.stats
                        .err_answers
                        .entry("write not acknowledged (refused, or no connection)".into())
                        .or_default() += 1;
                } else {
                    sh.stats.ok += 1;
                    sh.latencies.push(took.as_micros() as u64);
                }
            }
            if !acked.is_empty() {
                let back = probe.read_back(&acked, REQUEST_TIMEOUT).await;
                let mut sh = shared.lock().unwrap();
                sh.stats.requests += 1;
                if back.unsure {
                    *sh.stats
                        .connection_errors
                        .entry("read-back failed".into())
                        .or_default() += 1;
                } else if back.lost > 0 {
                    sh.stats.lost_writes += back.lost;
                } else {
                    sh.stats.ok += 1;
                }
            }
        }
        // A request on the connection this client keeps.
        if session.is_none() {
            match probe.open(REQUEST_TIMEOUT).await {
                Ok(s) => session = Some(s),
                Err(e) => {
                    shared.lock().unwrap().stats.requests += 1;
                    count(&shared, |st| &mut st.connection_errors, error_kind(&e));
                    continue;
                }
            }
        }
        let t0 = Instant::now();
        let answer = session
            .as_mut()
            .expect("opened above")
            .request(REQUEST_TIMEOUT)
            .await;
        let took = t0.elapsed();
        shared.lock().unwrap().stats.requests += 1;
        match answer {
            Answer::Ok(_) => {
                let mut sh = shared.lock().unwrap();
                sh.stats.ok += 1;
                sh.latencies.push(took.as_micros() as u64);
            }
            Answer::Refused(what) => count(&shared, |st| &mut st.err_answers, what),
            Answer::Failed(what) => {
                count(&shared, |st| &mut st.connection_errors, what);
                session = None;
            }
        }
    }
}

/// One more of `what` in the map `field` picks.
fn count(
    shared: &Arc<Mutex<Shared>>,
    field: impl Fn(&mut WorkloadStats) -> &mut std::collections::BTreeMap<String, u64>,
    what: String,
) {
    *field(&mut shared.lock().unwrap().stats)
        .entry(what)
        .or_default() += 1;
}
