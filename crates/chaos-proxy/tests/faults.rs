//! Each fault, observed from a real client through the proxy to a real
//! server on 127.0.0.1.

mod support;

use chaos_proxy::{Direction, Fault, FaultKind};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

const LONG: Duration = Duration::from_secs(30);
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn latency_delays_each_direction_and_stops_when_removed() {
    let proxy = start(echo_server());
    let mut c = connect(&proxy);
    round_trip(&mut c, b"warm");

    let fault = Fault::Latency {
        latency_ms: 150,
        jitter_ms: 0,
        seed: 0,
    };
    let up = proxy.add_fault(fault, Direction::Upstream, LONG);
    let rtt = round_trip(&mut c, b"ping");
    assert!(rtt >= ms(150), "upstream latency: rtt {rtt:?}");
    assert!(rtt < ms(1500), "upstream latency: rtt {rtt:?}");

    let down = proxy.add_fault(
        Fault::Latency {
            latency_ms: 100,
            jitter_ms: 0,
            seed: 0,
        },
        Direction::Downstream,
        LONG,
    );
    let rtt = round_trip(&mut c, b"ping");
    assert!(rtt >= ms(250), "both ways: rtt {rtt:?}");

    let stats = proxy.stats();
    let delayed = stats.faults.iter().find(|f| f.id == up).unwrap();
    assert_eq!(delayed.kind, FaultKind::Latency);
    assert_eq!(delayed.bytes, 8, "bytes delayed upstream");

    assert!(proxy.remove_fault(up));
    assert!(proxy.remove_fault(down));
    let rtt = round_trip(&mut c, b"ping");
    assert!(rtt < ms(100), "after removal: rtt {rtt:?}");
}

#[test]
fn latency_jitter_stays_in_range() {
    let proxy = start(echo_server());
    let mut c = connect(&proxy);
    proxy.add_fault(
        Fault::Latency {
            latency_ms: 40,
            jitter_ms: 20,
            seed: 7,
        },
        Direction::Both,
        LONG,
    );
    for _ in 0..5 {
        let rtt = round_trip(&mut c, b"x");
        // Two delays of 20–60 ms each.
        assert!(rtt >= ms(40), "rtt {rtt:?}");
        assert!(rtt < ms(1000), "rtt {rtt:?}");
    }
}

#[test]
fn bandwidth_limits_throughput() {
    let proxy = start(echo_server());
    let mut c = connect(&proxy);
    round_trip(&mut c, b"warm");
    proxy.add_fault(
        Fault::Bandwidth {
            bytes_per_sec: 200 * 1024,
        },
        Direction::Upstream,
        LONG,
    );
    let data = vec![0xabu8; 100 * 1024];
    let mut writer = c.try_clone().unwrap();
    let start = Instant::now();
    let sent = data.clone();
    let w = thread::spawn(move || writer.write_all(&sent).unwrap());
    let mut back = vec![0u8; data.len()];
    c.read_exact(&mut back).unwrap();
    let took = start.elapsed();
    w.join().unwrap();
    assert_eq!(back, data);
    assert!(took >= ms(450), "100 KiB at 200 KiB/s took {took:?}");
    assert!(took < ms(3000), "100 KiB at 200 KiB/s took {took:?}");
}

#[test]
fn stall_holds_data_until_it_ends() {
    let proxy = start(echo_server());
    let mut c = connect(&proxy);
    round_trip(&mut c, b"warm");

    let t0 = Instant::now();
    proxy.add_fault(Fault::Stall, Direction::Upstream, ms(800));
    c.write_all(b"held").unwrap();
    assert!(nothing_arrives(&mut c, ms(300)), "data got through a stall");

    let mut back = [0u8; 4];
    c.read_exact(&mut back).unwrap();
    assert_eq!(
        &back, b"held",
        "held data must arrive intact after the stall"
    );
    assert!(t0.elapsed() >= ms(750), "arrived after {:?}", t0.elapsed());
    assert!(proxy.active_faults().is_empty());
    round_trip(&mut c, b"after");
}

#[test]
fn stall_pushes_back_on_the_sender_and_loses_nothing() {
    let (sink, received) = sink_server();
    let proxy = start(sink);
    let mut c = connect(&proxy);
    let stall = proxy.add_fault(Fault::Stall, Direction::Upstream, LONG);

    // With the proxy not reading, the kernel buffers fill and writes block.
    c.set_nonblocking(true).unwrap();
    let chunk = vec![1u8; 64 * 1024];
    let mut written = 0u64;
    let mut quiet_since = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.write(&chunk) {
            Ok(n) => {
                written += n as u64;
                quiet_since = None;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= ms(200) {
                    break;
                }
                thread::sleep(ms(2));
            }
            Err(e) => panic!("write failed: {e}"),
        }
        assert!(
            written < 256 << 20,
            "no backpressure: wrote {written} bytes"
        );
        assert!(Instant::now() < deadline, "writes never blocked");
    }
    assert!(written > 0);

    assert!(proxy.remove_fault(stall));
    c.set_nonblocking(false).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let got = received.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(got, written, "bytes lost across a stall");
}

#[test]
fn reset_resets_live_connections_only() {
    let proxy = start(echo_server());
    let mut c = connect(&proxy);
    round_trip(&mut c, b"alive");

    proxy.add_fault(Fault::Reset, Direction::Downstream, LONG);
    let mut buf = [0u8; 16];
    let err = c.read(&mut buf).expect_err("read after reset must fail");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    wait_until("reset counted", ms(2000), || {
        proxy.stats().connections_reset == 1
    });

    // Connections made after the activation are left alone.
    let mut later = connect(&proxy);
    round_trip(&mut later, b"later");
}

#[test]
fn reset_upstream_resets_the_server_side() {
    let (echo, seen) = recording_echo_server();
    let proxy = start(echo);
    let mut c = connect(&proxy);
    round_trip(&mut c, b"alive");
    assert_eq!(seen.recv().unwrap(), Seen::Data(b"alive".to_vec()));

    proxy.add_fault(Fault::Reset, Direction::Upstream, LONG);
    let event = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(event, Seen::Error(ErrorKind::ConnectionReset));
    // The client side was closed normally.
    let mut buf = [0u8; 16];
    assert_eq!(c.read(&mut buf).unwrap(), 0);
}

#[test]
fn half_open_drops_one_direction_only() {
    let (echo, seen) = recording_echo_server();
    let proxy = start(echo);
    let mut c = connect(&proxy);
    round_trip(&mut c, b"warm");
    assert_eq!(seen.recv().unwrap(), Seen::Data(b"warm".to_vec()));

    proxy.add_fault(Fault::HalfOpen, Direction::Downstream, ms(700));
    c.write_all(b"lost").unwrap();
    // Upstream still works: the server gets the bytes ...
    let got = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(got, Seen::Data(b"lost".to_vec()));
    // ... but its answer never reaches the client.
    assert!(nothing_arrives(&mut c, ms(300)));

    wait_no_faults(&proxy);
    round_trip(&mut c, b"back");
    let dropped = proxy.stats().faults[0].bytes;
    assert_eq!(dropped, 4, "bytes dropped");
}

#[test]
fn slicer_delivers_small_pieces() {
    let proxy = start(echo_server());
    let mut c = connect(&proxy);
    round_trip(&mut c, b"warm");
    proxy.add_fault(
        Fault::Slicer {
            max_chunk: 10,
            delay_us: 25_000,
        },
        Direction::Downstream,
        LONG,
    );
    let msg: Vec<u8> = (0..60u8).collect();
    let start = Instant::now();
    c.write_all(&msg).unwrap();
    let mut got = Vec::new();
    let mut reads = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < msg.len() {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "early EOF");
        reads.push(n);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, msg);
    assert!(reads.iter().all(|&n| n <= 10), "reads {reads:?}");
    assert!(reads.len() >= 6, "reads {reads:?}");
    assert!(start.elapsed() >= ms(125), "took {:?}", start.elapsed());
}

fn corrupted_echo(probability: f64, seed: u64, data: &[u8]) -> (Vec<u8>, u64) {
    let proxy = start(echo_server());
    let mut c = connect(&proxy);
    let id = proxy.add_fault(
        Fault::Corrupt { probability, seed },
        Direction::Upstream,
        LONG,
    );
    c.write_all(data).unwrap();
    let mut back = vec![0u8; data.len()];
    c.read_exact(&mut back).unwrap();
    let changed = proxy
        .stats()
        .faults
        .iter()
        .find(|f| f.id == id)
        .unwrap()
        .bytes;
    (back, changed)
}

#[test]
fn corrupt_changes_bytes_by_probability_reproducibly() {
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();

    let (all, changed) = corrupted_echo(1.0, 1, &data);
    assert!(
        all.iter().zip(&data).all(|(a, b)| a != b),
        "p=1 left a byte alone"
    );
    assert_eq!(changed, 4096);

    let (none, changed) = corrupted_echo(0.0, 1, &data);
    assert_eq!(none, data, "p=0 changed bytes");
    assert_eq!(changed, 0);

    let (a, changed_a) = corrupted_echo(0.5, 42, &data);
    let (b, _) = corrupted_echo(0.5, 42, &data);
    assert_eq!(a, b, "same seed, same connection number: same corruption");
    let diff = a.iter().zip(&data).filter(|(x, y)| x != y).count() as u64;
    assert_eq!(diff, changed_a);
    assert!(
        (1200..2900).contains(&diff),
        "{diff} of 4096 changed at p=0.5"
    );
    let (c, _) = corrupted_echo(0.5, 43, &data);
    assert_ne!(a, c, "another seed, other corruption");
}

#[test]
fn refuse_turns_connections_away_while_active() {
    let proxy = start(echo_server());
    proxy.add_fault(Fault::Refuse, Direction::Both, ms(600));

    let mut c = connect(&proxy);
    let mut buf = [0u8; 16];
    match c.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("refused connection gave {other:?}"),
    }
    let stats = proxy.stats();
    assert_eq!(stats.connections_refused, 1);
    assert_eq!(stats.connections_accepted, 0);
    assert_eq!(stats.faults[0].connections, 1);

    wait_no_faults(&proxy);
    let mut c = connect(&proxy);
    round_trip(&mut c, b"served again");
}

#[test]
fn removing_a_shaping_fault_releases_the_rest_at_once() {
    let proxy = start(echo_server());
    let mut c = connect(&proxy);
    round_trip(&mut c, b"warm");
    let slicer = proxy.add_fault(
        Fault::Slicer {
            max_chunk: 1,
            delay_us: 5_000_000,
        },
        Direction::Downstream,
        LONG,
    );
    c.write_all(b"abc").unwrap();
    let mut first = [0u8; 8];
    assert_eq!(c.read(&mut first).unwrap(), 1);
    assert_eq!(first[0], b'a');

    let t0 = Instant::now();
    assert!(proxy.remove_fault(slicer));
    let mut rest = [0u8; 2];
    c.read_exact(&mut rest).unwrap();
    assert_eq!(&rest, b"bc");
    assert!(t0.elapsed() < ms(1000), "took {:?}", t0.elapsed());
}
