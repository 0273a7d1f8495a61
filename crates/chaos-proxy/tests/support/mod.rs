//! Real components for the proxy tests: echo and sink servers on 127.0.0.1
//! (blocking threads), blocking clients, and polling with deadlines.

#![allow(dead_code)]

use chaos_proxy::Proxy;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What a recording echo server saw on a connection.
#[derive(Debug, PartialEq)]
pub enum Seen {
    Data(Vec<u8>),
    Eof,
    Error(io::ErrorKind),
}

/// An echo server that also reports everything it reads.
pub fn recording_echo_server() -> (SocketAddr, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tx = tx.clone();
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) => {
                            let _ = tx.send(Seen::Eof);
                            return;
                        }
                        Ok(n) => {
                            let _ = tx.send(Seen::Data(buf[..n].to_vec()));
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Seen::Error(e.kind()));
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// A plain echo server.
pub fn echo_server() -> SocketAddr {
    let (addr, rx) = recording_echo_server();
    // Keep the reports flowing into nowhere without blocking the server.
    thread::spawn(move || while rx.recv().is_ok() {});
    addr
}

/// A sink: reads each connection to EOF, then reports how many bytes came.
pub fn sink_server() -> (SocketAddr, mpsc::Receiver<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tx = tx.clone();
            thread::spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                let mut total = 0u64;
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    total += n as u64;
                }
                let _ = tx.send(total);
            });
        }
    });
    (addr, rx)
}

pub fn start(upstream: SocketAddr) -> Proxy {
    smol::block_on(Proxy::start("127.0.0.1:0".parse().unwrap(), upstream)).unwrap()
}

/// A client connected through the proxy, reads time out after 5 s.
pub fn connect(proxy: &Proxy) -> TcpStream {
    let stream = TcpStream::connect(proxy.listen_addr()).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Send `msg`, read the echo back; returns the round-trip time.
pub fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> Duration {
    let t = Instant::now();
    stream.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back).unwrap();
    let took = t.elapsed();
    assert_eq!(back, msg);
    took
}

/// Whether a read within `within` returns nothing (times out).
pub fn nothing_arrives(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    let r = stream.read(&mut buf);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    match r {
        Err(e) => matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        Ok(n) => panic!("expected silence, got {n} bytes"),
    }
}

/// Poll `cond` every few ms until it holds; panic after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Wait until the proxy reports no active fault.
pub fn wait_no_faults(proxy: &Proxy) {
    wait_until("faults to end", Duration::from_secs(5), || {
        proxy.active_faults().is_empty()
    });
}
