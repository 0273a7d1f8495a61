//! Probes by protocol against real servers started by the tests: an HTTP
//! service on OTP's own web server (fixture `weak_http`: inets httpd, a
//! body limit, a key-value path) found by `inspect` and probed by
//! `scenarios` and `run`; a suite that mostly skipped is inconclusive. The
//! AMQP probe's own test runs against RabbitMQ (crates/chaos-probe/tests).

mod detect_support;
mod support;
#[path = "../../chaos-report/tests/support/xmllint.rs"]
mod xmllint;

use detect_support::Weak;
use serde_json::Value;
use support::{monkey, run};

/// The fixture on a fixed port: a restarted web server comes back where it was.
fn web() -> (Weak, u16) {
    let port = chaos_testkit::unused_port();
    let w = Weak::start("weak_http", |b, _| {
        b.arg("-weak_http").arg("port").arg(&port.to_string())
    });
    (w, port)
}

/// `chaos-monkey scenarios` against the fixture, with `args`.
fn scenarios(w: &Weak, args: &[&str]) -> (i32, String, String) {
    run(monkey()
        .args([
            "scenarios",
            "--node",
            &w.node.name,
            "--cookie-file",
            w.cookie_file.to_str().unwrap(),
        ])
        .args(args))
}

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn inspect_finds_the_listener_and_what_it_speaks() {
    let (w, port) = web();
    let (code, out, err) = run(monkey().args([
        "inspect",
        "--node",
        &w.node.name,
        "--cookie-file",
        w.cookie_file.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let listeners = r["listeners"].as_array().unwrap();
    let l = listeners
        .iter()
        .find(|l| l["port"] == port)
        .unwrap_or_else(|| panic!("port {port} not listed: {listeners:#?}"));
    assert_eq!(l["application"], "weak_http", "{l:#}");
    assert_eq!(l["reach"], format!("127.0.0.1:{port}"), "{l:#}");
    assert_eq!(l["protocol"]["kind"], "http", "{l:#}");
    // The distribution listener is the runtime's, not a service.
    assert_eq!(listeners.len(), 1, "{listeners:#?}");
    let (_, text, _) = run(monkey().args([
        "inspect",
        "--node",
        &w.node.name,
        "--cookie-file",
        w.cookie_file.to_str().unwrap(),
    ]));
    assert!(
        text.contains(&format!("127.0.0.1:{port} (weak_http")) && text.contains("speaks http"),
        "{text}"
    );
}

#[test]
fn scenarios_speak_http_to_an_http_service() {
    let (w, port) = web();
    let cfg = w.file("http.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[scenarios]
load_duration = "1s"

[scenarios.probe]
url = "http://127.0.0.1:{port}/health"
expect_body = "^ok$"
write_path = "/kv/{{key}}"
"#
        ),
    )
    .unwrap();
    let report = w.file("suite.json");
    let (code, out, err) = scenarios(
        &w,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--only",
            "large_payload,slow_consumer,process_crash",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let ctx = format!("exit {code}\n{out}\n{err}");
    let r = json(&report);
    assert_eq!(r["context"]["probe"]["kind"], "http", "{ctx}");
    assert_eq!(r["summary"]["skipped"], 0, "{ctx}");
    let res = |name: &str| -> Value {
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["scenario"] == name)
            .cloned()
            .unwrap()
    };
    // httpd refuses a 409,600-byte body with 413 (its max_body_size is 4096).
    let large = res("large_payload");
    assert_eq!(large["passed"], true, "{large:#}");
    assert!(
        large["measurements"]["answer"]
            .as_str()
            .unwrap()
            .contains(" 413 "),
        "{large:#}"
    );
    // Pipelined GETs nobody reads: a real HTTP slow client.
    let slow = res("slow_consumer");
    assert!(
        slow["measurements"]["unread_requests"].as_u64().unwrap() > 0,
        "{slow:#}"
    );
    // The probe writes went through the write path and were read back.
    let crash = res("process_crash");
    assert!(crash["data_loss"].as_u64().is_some(), "{crash:#}");
    // Up after, with the key-value path still answering (asked here, not
    // by a tool that may be missing).
    let status = |answer: &str| answer.split_whitespace().nth(1).map(str::to_string);
    let health = http(port, "GET", "/health", "");
    assert_eq!(status(&health).as_deref(), Some("200"), "{health}");
    assert!(health.ends_with("\r\n\r\nok"), "{health}");
    let put = http(port, "PUT", "/kv/after_the_suite", "still here");
    assert_eq!(status(&put).as_deref(), Some("200"), "{put}");
    let got = http(port, "GET", "/kv/after_the_suite", "");
    assert!(got.ends_with("\r\n\r\nstill here"), "{got}");
}

/// One HTTP/1.0 request (the server closes after its answer); the whole
/// answer, head and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the service is up");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("a whole answer");
    answer
}

#[test]
fn a_service_that_takes_no_probe_write_cannot_pass_on_no_data_lost() {
    let (w, port) = web();
    let cfg = w.file("nowhere.toml");
    // PUT to a path the service has not: 404 for every probe write.
    std::fs::write(
        &cfg,
        format!(
            "[scenarios.probe]\nurl = \"http://127.0.0.1:{port}/health\"\nwrite_path = \"/nowhere/{{key}}\"\n"
        ),
    )
    .unwrap();
    let report = w.file("nowhere.json");
    let (code, out, err) = scenarios(
        &w,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--only",
            "process_crash",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let ctx = format!("exit {code}\n{out}\n{err}");
    assert_eq!(code, 1, "{ctx}");
    let r = json(&report);
    let res = &r["results"][0];
    assert_eq!(res["passed"], false, "{ctx}");
    assert!(
        res["observed"]
            .as_str()
            .unwrap()
            .contains("none of the 5 probe writes was acknowledged"),
        "{ctx}"
    );
    assert!(res["data_loss"].is_null(), "{ctx}");
}

#[test]
fn a_suite_that_mostly_skipped_is_inconclusive() {
    let (w, port) = web();
    let junit = w.file("suite.xml");
    let report = w.file("suite.json");
    // A bare TCP probe can tell neither a protocol error nor a payload's refusal.
    let (code, out, err) = scenarios(
        &w,
        &[
            "--probe",
            &format!("tcp://127.0.0.1:{port}"),
            "--only",
            "invalid_payload,large_payload,process_crash",
            "--junit",
            junit.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let ctx = format!("exit {code}\n{out}\n{err}");
    assert_eq!(code, 5, "{ctx}");
    assert!(out.contains("verdict: inconclusive"), "{ctx}");
    assert!(
        err.contains("inconclusive: 2 of 3 scenarios were skipped"),
        "{ctx}"
    );
    let r = json(&report);
    assert_eq!(r["summary"]["verdict"], "inconclusive", "{ctx}");
    assert_eq!(r["summary"]["passed"], 1, "{ctx}");
    let because = r["summary"]["inconclusive_because"].to_string();
    assert!(because.contains("the tcp probe cannot tell"), "{because}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("skipped=\"2\""), "{xml}");
    xmllint::validate_junit(&junit).unwrap();
}

#[test]
fn run_probes_an_http_service_and_reports_a_failing_one() {
    let (w, port) = web();
    // /health answers: no probe failure. /missing answers 404: probe_failure.
    let good = format!("http://127.0.0.1:{port}/health");
    let bad = format!("http://127.0.0.1:{port}/missing");
    let r = w.monkey(
        "3s",
        &["--weights", "timing=1", "--probe", &good, "--probe", &bad],
    );
    r.assert_completed(&[0, 1]);
    let modes = r.assert_mode("probe_failure", Some("/missing"));
    assert!(
        modes.iter().all(|m| !m.to_string().contains("/health")),
        "{modes:#?}"
    );
    assert!(
        modes.iter().any(|m| m.to_string().contains("404")),
        "{modes:#?}"
    );
    // A bad URL is a usage error that says what is wrong.
    let (code, _, err) = run(monkey().args([
        "run",
        "--node",
        &w.node.name,
        "--cookie-file",
        w.cookie_file.to_str().unwrap(),
        "--duration",
        "1s",
        "--probe",
        "http://10.0.0.1:80/",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--probe") && err.contains("not a loopback address"),
        "{err}"
    );
}
