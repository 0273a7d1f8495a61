//! The demo's client workload: a few connections speaking the demo system's
//! line protocol (`PING`, `PUT k v`, `GET k`) at a steady rate, through the
//! fault proxy when there is one, so network faults are felt by a real
//! client. It counts what the client saw: answers, errors, latencies, and
//! writes that were acknowledged but read back wrong or missing.

use chaos_beam::line::Line;
use serde::Serialize;
use std::net::SocketAddr;
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
    /// `ERR ...` answers, by reason.
    pub err_answers: std::collections::BTreeMap<String, u64>,
    /// Connection failures (refused, reset, timed out, closed).
    pub connection_errors: std::collections::BTreeMap<String, u64>,
    /// `PUT` acknowledged, then `GET` gave another value or nothing.
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
    address: SocketAddr,
}

#[derive(Default)]
struct Shared {
    stats: WorkloadStats,
    latencies: Vec<u64>,
}

/// Per request timeout: a stalled proxy shows up as a timeout, not a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

impl Workload {
    /// Start `clients` connections, each sending `rate_per_client` requests per second to `address`.
    pub fn start(address: SocketAddr, clients: usize, rate_per_client: f64) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let tasks = (0..clients)
            .map(|i| {
                let (stop, shared) = (stop.clone(), shared.clone());
                smol::spawn(client(i, address, rate_per_client, stop, shared))
            })
            .collect();
        Workload {
            stop,
            tasks,
            shared,
            address,
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
        stats.address = self.address.to_string();
        stats.latency_p50_us = pick(0.5);
        stats.latency_p99_us = pick(0.99);
        stats.latency_max_us = lat.last().copied().unwrap_or(0);
        stats
    }
}

async fn client(
    id: usize,
    address: SocketAddr,
    rate: f64,
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
) {
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut conn: Option<Line> = None;
    let mut n: u64 = 0;
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        smol::Timer::at(next).await;
        next += interval;
        if conn.is_none() {
            match Line::connect(address, REQUEST_TIMEOUT).await {
                Ok(line) => conn = Some(line),
                Err(e) => {
                    count_conn_error(&shared, &e);
                    continue;
                }
            }
        }
        let line = conn.as_mut().expect("connected above");
        n += 1;
        let key = format!("wl{id}_{n}");
        let value = format!("v{n}");
        // One PUT and its GET, then a PING: a round of three requests.
        let script = [
            (format!("PUT {key} {value}"), "OK".to_string()),
            (format!("GET {key}"), format!("VALUE {value}")),
            ("PING".to_string(), "PONG".to_string()),
        ];
        let mut put_acked = false;
        for (i, (request, expected)) in script.iter().enumerate() {
            let t0 = Instant::now();
            let answer = line.ask(request, REQUEST_TIMEOUT).await;
            let mut sh = shared.lock().unwrap();
            sh.stats.requests += 1;
            match answer {
                Ok(line) => {
                    sh.latencies.push(t0.elapsed().as_micros() as u64);
                    if line == *expected {
                        sh.stats.ok += 1;
                        if i == 0 {
                            put_acked = true;
                        }
                    } else if let Some(reason) = line.strip_prefix("ERR ") {
                        *sh.stats.err_answers.entry(reason.to_string()).or_default() += 1;
                    } else if i == 1
                        && put_acked
                        && (line == "NOT_FOUND" || line.starts_with("VALUE "))
                    {
                        sh.stats.lost_writes += 1;
                    } else {
                        *sh.stats
                            .err_answers
                            .entry(format!("unexpected answer {line:?}"))
                            .or_default() += 1;
                    }
                }
                Err(e) => {
                    drop(sh);
                    count_conn_error(&shared, &e);
                    conn = None;
                    break;
                }
            }
        }
    }
}

fn count_conn_error(shared: &Arc<Mutex<Shared>>, e: &std::io::Error) {
    let kind = match e.kind() {
        std::io::ErrorKind::TimedOut => "timeout".to_string(),
        std::io::ErrorKind::ConnectionRefused => "refused".to_string(),
        std::io::ErrorKind::ConnectionReset => "reset".to_string(),
        std::io::ErrorKind::UnexpectedEof => "closed".to_string(),
        std::io::ErrorKind::BrokenPipe => "broken pipe".to_string(),
        other => format!("{other:?}"),
    };
    *shared
        .lock()
        .unwrap()
        .stats
        .connection_errors
        .entry(kind)
        .or_default() += 1;
}
