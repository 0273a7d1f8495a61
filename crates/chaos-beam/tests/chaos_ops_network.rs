//! The on-node network operations against the demo system, and proof that
//! the distribution connection and epmd are never chosen.

mod support;

use chaos_beam::chaos::ops::builtin;
use chaos_beam::chaos::{BeamTarget, Safety};
use chaos_beam::dist::term::TermExt;
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_engine::{Outcome, Profile, SeededRng, Status};
use chaos_testkit::TestNode;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::Demo;

async fn run_op(
    t: &BeamTarget,
    name: &str,
    seed: u64,
    patch: Option<(&str, serde_json::Value)>,
) -> Outcome {
    let ops = builtin();
    let op = ops.iter().find(|o| o.name() == name).unwrap();
    let mut params = op.plan(&mut SeededRng::new(seed), Profile::Demo);
    if let Some((k, v)) = patch {
        params[k] = v;
    }
    op.run(t, &params).await
}

fn ping(port: u16) -> String {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    w.write_all(b"PING\n").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

#[test]
fn drop_connection_closes_a_live_client_connection() {
    let demo = Demo::start("net_drop");
    let port = demo.info().service_port;
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.write_all(b"PING\n").unwrap();
    let mut buf = [0u8; 16];
    let n = client.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"PONG\n");
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        let out = run_op(&t, "drop_connection", 1, None).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        assert!(out.detail.contains("shut down port"), "{out:?}");
        assert_eq!(
            out.victim.as_ref().and_then(|v| v.attr("application")),
            Some("chaos_demo")
        );
        // The owner hears of it, as when a peer goes away, and ends (the
        // demo's connection process stops on tcp_closed): a drop that closed
        // the port under it would leave it waiting for ever.
        let owner = out.measurements["owner"].as_str().unwrap().to_string();
        let client = demo.client().await;
        let alive = format!("erlang:is_process_alive(list_to_pid(\"{owner}\")).");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let r = chaos_beam::eval::eval(&client, &alive, &[]).await.unwrap();
            if r.as_atom() == Some("false") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the connection's owner {owner} still runs 5 s after the drop: {out:?}"
            );
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    });
    // The client sees its connection end.
    let ended = match client.read(&mut buf) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    assert!(ended, "the client connection is still open");
    assert_eq!(ping(port), "PONG", "the service still serves");
}

#[test]
fn malformed_input_gets_errors_and_the_service_keeps_serving() {
    let demo = Demo::start("net_bad");
    let port = demo.info().service_port;
    smol::block_on(async {
        let t = demo.target(Profile::Demo).await;
        // What the demo's line protocol answers each: an error line, or —
        // for half a frame — nothing while it waits for the rest.
        for (kind, answer) in [
            ("overlong_line", "ERR line_too_long\n"),
            ("prefix_then_garbage", "ERR invalid_utf8\n"),
            ("random_bytes", "ERR invalid_utf8\n"),
            ("half_frame", "no_answer"),
        ] {
            let out = run_op(
                &t,
                "malformed_data",
                5,
                Some(("kind", serde_json::json!(kind))),
            )
            .await;
            assert_eq!(out.status, Status::Confirmed, "{kind}: {out:?}");
            let m = &out.measurements;
            let got = m["answer"].as_str().unwrap_or_default();
            assert!(got.starts_with(answer), "{kind}: {out:?} {m}");
            let shown = if answer.starts_with("ERR") {
                format!("{{answered,<<\"{}", answer.trim_end())
            } else {
                format!(": {answer}")
            };
            assert!(out.detail.contains(&shown), "{kind}: {out:?}");
            assert!(
                m["port"].as_u64() == Some(u64::from(port)),
                "{kind}: {out:?}"
            );
        }
        // Half a frame is exactly the request's beginning, nothing more.
        let out = run_op(
            &t,
            "malformed_data",
            5,
            Some(("kind", serde_json::json!("half_frame"))),
        )
        .await;
        assert_eq!(
            out.measurements["bytes"].as_u64(),
            Some("PUT chaos_monkey_half_frame".len() as u64),
            "{out:?}"
        );
        // Confirmed by the server side: its socket for the connection closed after the reset.
        let out = run_op(&t, "mid_request_disconnect", 9, None).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        // The request cut short is the listener's own: asked, it answered a
        // line request ("PING\n"), so part of one of those was sent.
        assert_eq!(out.measurements["protocol"], "line", "{out:?}");
        assert_eq!(out.measurements["request_bytes"], 5, "{out:?}");
        let sent = out.measurements["bytes"].as_u64().unwrap();
        assert!((1..5).contains(&sent), "{out:?}");
        assert!(
            out.detail.contains("the server's side (owned by <"),
            "{out:?}"
        );
        let closed = out.measurements["server_closed_us"].as_u64().unwrap();
        assert!(closed < 300_000, "{out:?}");
        let apps = t
            .client
            .call("application", "which_applications", vec![])
            .await
            .unwrap();
        assert!(chaos_beam::dist::term::show(&apps).contains("chaos_demo"));
    });
    assert_eq!(ping(port), "PONG");
}

#[test]
fn distribution_and_epmd_connections_are_never_chosen() {
    // A plain node with every widening switch on: its only TCP sockets are
    // the distribution listener and connections and the epmd connection.
    let node = TestNode::start("net_dist");
    smol::block_on(async {
        let opts = ConnectOptions::new(
            node.name.parse().unwrap(),
            Cookie::new(node.cookie.clone(), CookieSource::Flag).unwrap(),
        );
        let client = DistClient::connect(&opts).await.unwrap();
        let mut safety = Safety::default();
        safety.include_otp_apps = true;
        safety.include_no_app = true;
        let t = BeamTarget::new(client.clone(), Profile::Demo, safety, 1)
            .await
            .unwrap();
        let ports_before = chaos_beam::eval::eval(&client, "length(erlang:ports()).", &[])
            .await
            .unwrap();
        for seed in 0..20 {
            for op in [
                "drop_connection",
                "malformed_data",
                "mid_request_disconnect",
            ] {
                let out = run_op(&t, op, seed, None).await;
                assert_eq!(out.status, Status::Skipped, "{op}: {out:?}");
            }
        }
        let ports_after = chaos_beam::eval::eval(&client, "length(erlang:ports()).", &[])
            .await
            .unwrap();
        assert_eq!(ports_before, ports_after);
        assert!(client.closed_reason().is_none());
        assert!(client.call("erlang", "node", vec![]).await.is_ok());
    });
}

/// A target on `node` whose only service is a listener of no application,
/// owned by a process that runs `then` on its listen socket `L` once it
/// listens; victims of no application are allowed. With the listener's port.
async fn lone_listener(node: &TestNode, then: &str) -> (BeamTarget, u16) {
    let opts = ConnectOptions::new(
        node.name.parse().unwrap(),
        Cookie::new(node.cookie.clone(), CookieSource::Flag).unwrap(),
    );
    let client = DistClient::connect(&opts).await.unwrap();
    let source = format!(
        "Parent = self(),
         Pid = proc_lib:spawn(fun() ->
             {{ok, L}} = gen_tcp:listen(0, [binary, {{ip, {{127,0,0,1}}}}, {{active, false}}]),
             {{ok, Port}} = inet:port(L),
             Parent ! {{listening, self(), Port}},
             {then}
         end),
         receive {{listening, Pid, P}} -> P after 5000 -> timeout end."
    );
    let started = chaos_beam::eval::eval(&client, &source, &[]).await.unwrap();
    let port: u16 = chaos_beam::dist::term::show(&started)
        .parse()
        .expect("the listener's port");
    let mut safety = Safety::default();
    safety.include_no_app = true;
    let t = BeamTarget::new(client, Profile::Demo, safety, 1)
        .await
        .unwrap();
    (t, port)
}

#[test]
fn a_server_that_keeps_its_side_open_leaves_mid_request_disconnect_unconfirmed() {
    // It accepts and never reads: the reset reaches a socket nobody looks
    // at, which stays open.
    let node = TestNode::start("net_deaf");
    smol::block_on(async {
        let (t, port) = lone_listener(
            &node,
            "Accept = fun Loop(Held) -> {ok, C} = gen_tcp:accept(L), Loop([C | Held]) end, Accept([])",
        )
        .await;
        // Asked what it speaks, it answers nothing: no request of its
        // protocol is known, so none is cut.
        let out = run_op(&t, "mid_request_disconnect", 3, None).await;
        assert_eq!(out.status, Status::Skipped, "{out:?}");
        assert!(
            out.detail.contains(&format!(
                "the listener on port {port} speaks no protocol known here"
            )),
            "{out:?}"
        );
        // A probe configured for its port says what it speaks.
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let probe = chaos_probe::kinds::line::LineProbe::new(addr, Default::default());
        let t = t.with_request_probes(vec![std::sync::Arc::new(probe)]);
        let out = run_op(&t, "mid_request_disconnect", 3, None).await;
        assert_eq!(out.status, Status::Unconfirmed, "{out:?}");
        assert!(
            out.detail
                .contains("the server's side was still open 300 ms after the reset"),
            "{out:?}"
        );
    });
}

#[test]
fn silence_after_half_a_frame_confirms_only_an_accepted_connection() {
    // It never accepts: the kernel takes the connection into its backlog,
    // the server never sees it, and its silence says nothing about how it
    // handles half a frame.
    let node = TestNode::start("net_noaccept");
    smol::block_on(async {
        let (t, _) = lone_listener(&node, "receive never -> L end").await;
        let out = run_op(
            &t,
            "malformed_data",
            5,
            Some(("kind", serde_json::json!("half_frame"))),
        )
        .await;
        assert_eq!(out.status, Status::Unconfirmed, "{out:?}");
        assert!(
            out.detail
                .contains("the server never accepted the connection"),
            "{out:?}"
        );
    });
}
