//! The AMQP probe against a real broker: a private RabbitMQ node started
//! by the test (Debian's `rabbitmq-server`, loopback only), where it is
//! installed; elsewhere the test says it did not run.

use chaos_probe::guess::guess;
use chaos_probe::kinds::amqp::AmqpProbe;
use chaos_probe::kinds::tcp::TcpProbe;
use chaos_probe::{Answer, LineProtocol, Probe};
use chaos_testkit::RabbitNode;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(5);

fn pairs(tag: &str) -> Vec<(String, String)> {
    (0..3)
        .map(|i| (format!("k{i}"), format!("{tag}_{i}")))
        .collect()
}

#[test]
fn the_amqp_probe_against_rabbitmq() {
    if !RabbitNode::installed() {
        // CI installs it (scripts/ensure-rabbitmq.sh): there a missing
        // broker is a broken set-up, not a reason to pass.
        assert!(
            std::env::var_os("CI").is_none(),
            "rabbitmq-server is not installed, and CI must test against it (scripts/ensure-rabbitmq.sh)"
        );
        eprintln!("not run: rabbitmq-server is not installed (apt-get install rabbitmq-server)");
        return;
    }
    let rabbit = RabbitNode::start(false);
    let addr = ([127, 0, 0, 1], rabbit.amqp_port).into();
    let probe = AmqpProbe::new(addr);
    smol::block_on(async {
        // What it speaks, by asking.
        let g = guess(addr, &LineProtocol::default(), LIMIT).await;
        assert_eq!(g.kind, "amqp", "{g:?}");
        // Up, and a session's round trips.
        assert!(probe.ask(LIMIT).await.is_ok());
        let mut s = probe.open(LIMIT).await.expect("a session");
        for _ in 0..3 {
            let a = s.request(LIMIT).await;
            assert!(a.is_ok(), "{a:?}");
        }
        drop(s);
        // Confirmed writes read back: nothing lost.
        let w = pairs("first");
        let acked = probe.write(&w, LIMIT).await.expect("amqp writes");
        assert_eq!(acked, w);
        let r = probe.read_back(&acked, LIMIT).await;
        assert_eq!((r.lost, r.unsure), (0, false), "{r:?}");
        // Confirmed, then purged behind the probe's back: lost, and counted.
        let w = pairs("second");
        let acked = probe.write(&w, LIMIT).await.expect("amqp writes");
        assert_eq!(acked.len(), 3);
        let purged = rabbit.ctl(&["-q", "purge_queue", &probe.queue]).unwrap();
        assert!(purged.status.success(), "{purged:?}");
        let r = probe.read_back(&acked, LIMIT).await;
        assert_eq!(r.lost, 3, "{r:?}");
        // Every malformed frame refused cleanly, and the broker still up.
        let m = probe.malformed();
        assert!(m.len() >= 5);
        for bad in &m {
            let t0 = std::time::Instant::now();
            let a = probe.send_malformed(bad, LIMIT).await;
            eprintln!("{}: {:?} in {:?}", bad.kind, a.said, t0.elapsed());
            assert!(a.protocol_error, "{}: {a:?}", bad.kind);
            assert!(probe.ask(LIMIT).await.is_ok(), "after {}", bad.kind);
        }
        // A 400 kB message: under RabbitMQ's limit, so accepted (not refused).
        let large = probe.send_large(400 * 1024, LIMIT).await.unwrap();
        assert!(!large.refused, "{large:?}");
        // Nothing left behind.
        probe.cleanup(LIMIT).await;
        let queues = rabbit.eval(
            "[N || Q <- rabbit_amqqueue:list(), {resource, _, queue, N} <- [element(2, Q)]].",
        );
        assert!(!queues.contains(&probe.queue), "{queues}");
        // A bare TCP probe of the same port: accepted.
        let tcp = TcpProbe { addr };
        assert_eq!(tcp.ask(LIMIT).await, Answer::Ok("accepted".into()));
    });
    drop(rabbit);
    // Stopped: the probe says so.
    let after = smol::block_on(probe.ask(Duration::from_secs(2)));
    assert!(!after.is_ok(), "{after:?}");
}
