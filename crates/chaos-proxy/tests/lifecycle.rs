//! The proxy around the faults: plain forwarding, lifetimes, removal,
//! shutdown, the loopback-only rule, stats and serde.

mod support;

use chaos_proxy::{Direction, Fault, FaultKind, Proxy, ProxyError};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::time::{Duration, Instant};
use support::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn proxy_handle_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Proxy>();
}

#[test]
fn forwards_both_ways_and_counts_bytes() {
    let (echo, seen) = recording_echo_server();
    let proxy = start(echo);
    assert_eq!(proxy.upstream_addr(), echo);
    assert_ne!(proxy.listen_addr().port(), 0);

    let mut c = connect(&proxy);
    round_trip(&mut c, b"hello");
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut writer = c.try_clone().unwrap();
    let sent = big.clone();
    let w = std::thread::spawn(move || writer.write_all(&sent).unwrap());
    let mut back = vec![0u8; big.len()];
    c.read_exact(&mut back).unwrap();
    w.join().unwrap();
    assert_eq!(back, big);

    // Half-close travels through: the server sees EOF, then so do we.
    c.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    wait_until("server EOF", ms(2000), || {
        seen.try_iter().any(|s| s == Seen::Eof)
    });

    wait_until("connection closed", ms(2000), || {
        proxy.stats().connections_active == 0
    });
    let stats = proxy.stats();
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.bytes_upstream, 5 + 1_000_000);
    assert_eq!(stats.bytes_downstream, 5 + 1_000_000);
    assert!(stats.faults.is_empty());
}

#[test]
fn faults_end_by_themselves() {
    let proxy = start(echo_server());
    let mut c = connect(&proxy);
    let t0 = Instant::now();
    let id = proxy.add_fault(
        Fault::Latency {
            latency_ms: 200,
            jitter_ms: 0,
            seed: 0,
        },
        Direction::Both,
        ms(400),
    );
    let active = proxy.active_faults();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, id);
    assert_eq!(active[0].kind, FaultKind::Latency);
    assert_eq!(active[0].direction, Direction::Both);
    assert!(active[0].remaining <= ms(400));
    assert!(round_trip(&mut c, b"slow") >= ms(400));

    wait_no_faults(&proxy);
    assert!(t0.elapsed() >= ms(400));
    assert!(round_trip(&mut c, b"fast") < ms(100));
    assert!(!proxy.remove_fault(id), "an ended fault is not active");

    let stats = proxy.stats();
    assert_eq!(stats.faults.len(), 1);
    assert!(!stats.faults[0].active);
    assert_eq!(stats.faults[0].bytes, 8);
}

#[test]
fn remove_fault_ends_it_early() {
    let proxy = start(echo_server());
    let mut c = connect(&proxy);
    let stall = proxy.add_fault(Fault::Stall, Direction::Downstream, Duration::from_secs(60));
    c.write_all(b"wait").unwrap();
    assert!(nothing_arrives(&mut c, ms(200)));
    assert!(proxy.remove_fault(stall));
    assert!(!proxy.remove_fault(stall));
    let mut back = [0u8; 4];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"wait");
    assert!(proxy.active_faults().is_empty());
}

#[test]
fn parameters_are_clamped() {
    let proxy = start(echo_server());
    proxy.add_fault(
        Fault::Latency {
            latency_ms: 60_000,
            jitter_ms: 0,
            seed: 0,
        },
        Direction::Upstream,
        Duration::from_secs(5),
    );
    proxy.add_fault(
        Fault::Corrupt {
            probability: 7.0,
            seed: 0,
        },
        Direction::Upstream,
        Duration::from_secs(5),
    );
    let active = proxy.active_faults();
    assert!(matches!(
        active[0].fault,
        Fault::Latency {
            latency_ms: 10_000,
            ..
        }
    ));
    assert!(matches!(active[1].fault, Fault::Corrupt { probability, .. } if probability == 1.0));
}

#[test]
fn shutdown_closes_connections_and_releases_the_port() {
    let proxy = start(echo_server());
    let addr = proxy.listen_addr();
    let mut c = connect(&proxy);
    round_trip(&mut c, b"hi");
    // A stalled connection must not hold shutdown up.
    let mut stalled = connect(&proxy);
    round_trip(&mut stalled, b"hi");
    proxy.add_fault(Fault::Stall, Direction::Both, Duration::from_secs(60));
    stalled.write_all(b"stuck").unwrap();

    let t0 = Instant::now();
    smol::block_on(proxy.shutdown());
    assert!(t0.elapsed() < ms(2000), "shutdown took {:?}", t0.elapsed());
    assert!(proxy.active_faults().is_empty());
    assert_eq!(proxy.stats().connections_active, 0);

    for stream in [&mut c, &mut stalled] {
        let mut buf = [0u8; 16];
        match stream.read(&mut buf) {
            Ok(0) => {}
            other => panic!("expected EOF after shutdown, got {other:?}"),
        }
    }
    let again = TcpListener::bind(addr).expect("port released by shutdown");
    drop(again);
    smol::block_on(proxy.shutdown()); // idempotent
}

#[test]
fn upstream_down_means_connection_reset() {
    // A port with nothing listening on it.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let proxy = start(dead);
    let mut c = connect(&proxy);
    let mut buf = [0u8; 8];
    match c.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected reset, got {other:?}"),
    }
    wait_until("failure counted", ms(2000), || {
        proxy.stats().upstream_connect_failures == 1
    });
}

#[test]
fn only_loopback_addresses_are_allowed() {
    let lo: SocketAddr = "127.0.0.1:9".parse().unwrap();
    for (listen, upstream, role) in [
        ("0.0.0.0:0", "127.0.0.1:9", "listen"),
        ("10.1.2.3:0", "127.0.0.1:9", "listen"),
        ("[::]:0", "127.0.0.1:9", "listen"),
        ("127.0.0.1:0", "192.0.2.1:80", "upstream"),
        ("127.0.0.1:0", "0.0.0.0:80", "upstream"),
    ] {
        let err = smol::block_on(Proxy::start(
            listen.parse().unwrap(),
            upstream.parse().unwrap(),
        ))
        .err()
        .unwrap_or_else(|| panic!("{listen} -> {upstream} was accepted"));
        match &err {
            ProxyError::NotLoopback { role: r, .. } => assert_eq!(*r, role),
            other => panic!("unexpected error {other}"),
        }
        assert!(err.to_string().contains("loopback"), "{err}");
    }
    // The whole 127.0.0.0/8 range is loopback.
    let echo = echo_server();
    let proxy = smol::block_on(Proxy::start("127.0.0.2:0".parse().unwrap(), echo)).unwrap();
    let mut c = connect(&proxy);
    round_trip(&mut c, b"127.0.0.2");
    assert_ne!(proxy.listen_addr(), lo);
}

#[test]
fn faults_round_trip_through_serde() {
    let f: Fault = serde_json::from_str(r#"{"kind":"latency","latency_ms":100}"#).unwrap();
    assert_eq!(
        f,
        Fault::Latency {
            latency_ms: 100,
            jitter_ms: 0,
            seed: 0
        }
    );
    let f: Fault = serde_json::from_str(r#"{"kind":"half_open"}"#).unwrap();
    assert_eq!(f, Fault::HalfOpen);
    let d: Direction = serde_json::from_str(r#""downstream""#).unwrap();
    assert_eq!(d, Direction::Downstream);
    let json = serde_json::to_string(&Fault::Slicer {
        max_chunk: 8,
        delay_us: 10,
    })
    .unwrap();
    assert_eq!(json, r#"{"kind":"slicer","max_chunk":8,"delay_us":10}"#);

    let proxy = start(echo_server());
    proxy.add_fault(Fault::Refuse, Direction::Both, ms(1000));
    let info = serde_json::to_value(proxy.active_faults()).unwrap();
    assert_eq!(info[0]["kind"], "refuse");
    assert_eq!(info[0]["direction"], "both");
    let stats = serde_json::to_value(proxy.stats()).unwrap();
    assert_eq!(stats["faults"][0]["kind"], "refuse");
}
