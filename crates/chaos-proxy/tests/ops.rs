//! The proxy faults as chaos operations: each is judged when it ends by the
//! traffic it touched — a fault nothing went through is unconfirmed.

mod support;

use chaos_engine::{Profile, SeededRng, Status};
use chaos_proxy::ops::{proxy_ops, ProxyHost};
use chaos_proxy::Proxy;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::*;

struct Host(Vec<Proxy>);

impl ProxyHost for Host {
    fn proxies(&self) -> &[Proxy] {
        &self.0
    }
}

/// Turn each kind of fault on (reset aside: it is judged at once by the
/// connections it reset), let `traffic` run while it is on, end it, and
/// return each operation's name with its verdict.
fn judge_every_fault(traffic: impl Fn(&Proxy)) -> Vec<(&'static str, Status, String, u64)> {
    let host = Host(vec![start(echo_server())]);
    let proxy = host.0[0].clone();
    let mut rng = SeededRng::new(7);
    let mut verdicts = Vec::new();
    for op in proxy_ops::<Host>() {
        if op.name() == "proxy_reset" {
            continue;
        }
        let params = op.plan(&mut rng, Profile::Demo);
        let outcome = smol::block_on(op.run(&host, &params));
        assert_eq!(outcome.status, Status::Confirmed, "{}", outcome.detail);
        let effect = outcome.effect.expect("a proxy fault is undone later");
        assert!(effect.judged_when_undone(), "{}", op.name());
        traffic(&proxy);
        smol::block_on(effect.undo()).unwrap();
        let v = effect.verdict().expect("a verdict");
        let touched = v.measurements["touched_connections"].as_u64().unwrap();
        verdicts.push((op.name(), v.status, v.detail, touched));
        wait_no_faults(&proxy);
    }
    smol::block_on(proxy.shutdown());
    verdicts
}

#[test]
fn a_fault_nothing_went_through_is_unconfirmed() {
    let verdicts = judge_every_fault(|_| {});
    assert_eq!(verdicts.len(), 7);
    for (op, status, detail, touched) in verdicts {
        assert_eq!(status, Status::Unconfirmed, "{op}: {detail}");
        assert!(
            detail.contains("no traffic while it was on"),
            "{op}: {detail}"
        );
        assert_eq!(touched, 0, "{op}");
    }
}

#[test]
fn a_fault_that_touched_traffic_is_confirmed_with_what_it_touched() {
    let verdicts = judge_every_fault(|proxy| {
        // A new connection (a refusing fault turns it away) that sends and
        // waits a little for the echo: both directions carry bytes.
        if let Ok(mut c) = TcpStream::connect(proxy.listen_addr()) {
            let _ = c.write_all(b"through the fault\n");
            c.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let _ = c.read(&mut [0u8; 64]);
        }
        wait_until(
            "the fault to touch the connection",
            Duration::from_secs(3),
            || {
                let stats = proxy.stats();
                // The newest fault (ids rise), on or already ended by itself.
                stats.faults.last().expect("a fault").connections > 0
            },
        );
    });
    assert_eq!(verdicts.len(), 7);
    for (op, status, detail, touched) in verdicts {
        assert_eq!(status, Status::Confirmed, "{op}: {detail}");
        assert!(touched > 0, "{op}: {detail}");
        let said = if op == "proxy_refuse" {
            "refused"
        } else {
            "touched"
        };
        assert!(detail.contains(said), "{op}: {detail}");
    }
}
