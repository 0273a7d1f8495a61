//! Proxy benchmark with no fault active: small request/response round trips
//! (direct vs through the proxy) and single-connection throughput.
//!
//! Run: `cargo run --release -p chaos-proxy --example bench_proxy [-- --quick]`
//! Everything runs on 127.0.0.1: a blocking echo server and a blocking sink
//! (threads), blocking clients, the proxy, and socat doing the same job
//! beside it when socat is installed (started and killed by the bench).
//! Round trips alternate between direct, proxy and socat in ten rounds.
//! Prints a markdown table.

use chaos_proxy::Proxy;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const MSG: usize = 64;

/// An echo server: one thread per connection.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            stream.set_nodelay(true).unwrap();
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A sink: reads each connection to EOF and reports (bytes, time of EOF).
fn sink_server() -> (SocketAddr, mpsc::Receiver<(u64, Instant)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let tx = tx.clone();
            thread::spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                let mut total = 0u64;
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n as u64,
                    }
                }
                let _ = tx.send((total, Instant::now()));
            });
        }
    });
    (addr, rx)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// Sorted round-trip times of `n` 64-byte request/responses to `addr`.
fn round_trips(addr: SocketAddr, n: usize) -> Vec<Duration> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let req = [7u8; MSG];
    let mut resp = [0u8; MSG];
    for _ in 0..n / 10 {
        stream.write_all(&req).unwrap();
        stream.read_exact(&mut resp).unwrap();
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        stream.write_all(&req).unwrap();
        stream.read_exact(&mut resp).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    times
}

/// Push `total` bytes one way to `addr`; GB/s until the sink saw EOF.
fn throughput(addr: SocketAddr, done: &mpsc::Receiver<(u64, Instant)>, total: u64) -> f64 {
    let mut stream = TcpStream::connect(addr).unwrap();
    let buf = vec![0x5au8; 256 * 1024];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let n = (total - sent).min(buf.len() as u64) as usize;
        stream.write_all(&buf[..n]).unwrap();
        sent += n as u64;
    }
    stream.shutdown(Shutdown::Write).unwrap();
    // Connections that carried nothing (socat's readiness check) are not this one.
    let (got, end) = loop {
        let (got, end) = done.recv_timeout(Duration::from_secs(120)).unwrap();
        if got > 0 {
            break (got, end);
        }
    };
    assert_eq!(got, total, "sink got a different byte count");
    total as f64 / (end - start).as_secs_f64() / 1e9
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// socat forwarding `127.0.0.1:<free port>` to `to`, when socat is
/// installed: the same job as the proxy, measured in the same run. Killed
/// when dropped.
struct Socat {
    child: std::process::Child,
    listen: SocketAddr,
}

impl Socat {
    fn start(to: SocketAddr) -> Option<Socat> {
        let listen = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?;
        let child = std::process::Command::new("socat")
            .args([
                format!(
                    "TCP-LISTEN:{},bind=127.0.0.1,reuseaddr,fork,nodelay",
                    listen.port()
                ),
                format!("TCP:{to},nodelay"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(listen).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
        Some(Socat { child, listen })
    }
}

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Round trips to each address in turn, `rounds` times `trips / rounds`
/// each, so that whatever else the machine does falls on all of them alike.
fn interleaved(addrs: &[SocketAddr], trips: usize, rounds: usize) -> Vec<Vec<Duration>> {
    let mut all = vec![Vec::new(); addrs.len()];
    for _ in 0..rounds {
        for (i, a) in addrs.iter().enumerate() {
            all[i].extend(round_trips(*a, trips / rounds));
        }
    }
    for t in &mut all {
        t.sort();
    }
    all
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let trips = if quick { 5_000 } else { 20_000 };
    let bytes: u64 = if quick { 1 << 30 } else { 4 << 30 };

    let echo = echo_server();
    let (sink, sink_done) = sink_server();
    let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (echo_proxy, sink_proxy) = smol::block_on(async {
        (
            Proxy::start(localhost, echo).await.unwrap(),
            Proxy::start(localhost, sink).await.unwrap(),
        )
    });
    let (echo_socat, sink_socat) = (Socat::start(echo), Socat::start(sink));

    println!(
        "chaos-proxy benchmark ({} mode, no fault active; socat {})",
        if quick { "quick" } else { "full" },
        if echo_socat.is_some() {
            "beside it"
        } else {
            "not installed"
        }
    );
    let mut addrs = vec![echo, echo_proxy.listen_addr()];
    if let Some(s) = &echo_socat {
        addrs.push(s.listen);
    }
    let times = interleaved(&addrs, trips, 10);
    let p = |i: usize, q: f64| us(percentile(&times[i], q));
    let (d50, d99) = (p(0, 0.5), p(0, 0.99));
    let (p50, p99) = (p(1, 0.5), p(1, 0.99));
    let socat = echo_socat.as_ref().map(|_| (p(2, 0.5), p(2, 0.99)));

    let gib = bytes as f64 / (1u64 << 30) as f64;
    let direct_gbs = throughput(sink, &sink_done, bytes);
    let proxied_gbs = throughput(sink_proxy.listen_addr(), &sink_done, bytes);
    let socat_gbs = sink_socat
        .as_ref()
        .map(|s| throughput(s.listen, &sink_done, bytes));

    let ok = |b: bool| if b { "met" } else { "MISSED" };
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    println!();
    println!(
        "| measurement | direct | through proxy | added | through socat | socat added | goal |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {MSG} B request/response RTT p50 ({trips} trips, 10 interleaved rounds) | {d50:.1} µs | {p50:.1} µs | {:.1} µs | {} | {} | ≤ 20 µs added: {} |",
        p50 - d50,
        or_dash(socat.map(|(s, _)| format!("{s:.1} µs"))),
        or_dash(socat.map(|(s, _)| format!("{:.1} µs", s - d50))),
        ok(p50 - d50 <= 20.0)
    );
    println!(
        "| {MSG} B request/response RTT p99 | {d99:.1} µs | {p99:.1} µs | {:.1} µs | {} | {} | — |",
        p99 - d99,
        or_dash(socat.map(|(_, s)| format!("{s:.1} µs"))),
        or_dash(socat.map(|(_, s)| format!("{:.1} µs", s - d99))),
    );
    println!(
        "| one connection, {gib:.0} GiB one way into a sink | {direct_gbs:.2} GB/s | {proxied_gbs:.2} GB/s | — | {} | — | ≥ 1.5 GB/s: {} |",
        or_dash(socat_gbs.map(|g| format!("{g:.2} GB/s"))),
        ok(proxied_gbs >= 1.5)
    );

    let stats = sink_proxy.stats();
    assert_eq!(stats.bytes_upstream, bytes);
    drop((echo_socat, sink_socat));
    smol::block_on(async {
        echo_proxy.shutdown().await;
        sink_proxy.shutdown().await;
    });
}
