//! `run --html --junit` against the demo system: the page renders in headless
//! Chromium (Debian's `chromium`) with every chart drawn and nothing loaded
//! from anywhere, and the JUnit file validates against the Jenkins xUnit
//! schema with `xmllint`. scripts/ensure-chromium.sh installs both tools.

mod support;
#[path = "../../chaos-report/tests/support/xmllint.rs"]
mod xmllint;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{assert_self_contained, monkey_run, run, Demo};
use xmllint::validate_junit;

/// The page's colours that must be painted: the categories' bars and the
/// resource lines (crates/chaos-report/src/html/run.rs and chart.rs).
const PAINTED: [(&str, [u8; 3]); 6] = [
    ("process bars", [0xd1, 0x49, 0x5b]),
    ("memory bars", [0xed, 0xae, 0x49]),
    ("network bars", [0x00, 0x79, 0x8c]),
    ("state bars", [0x30, 0x63, 0x8e]),
    ("timing bars", [0x8e, 0x6c, 0x8a]),
    ("resource lines", [0x1f, 0x5f, 0x99]),
];

/// Chromium's output for `page`: (stdout, stderr). Killed after 60 s.
fn chromium(page: &Path, args: &[&str], scratch: &Path) -> (String, String) {
    let profile = scratch.join(format!("chromium-profile-{}", args.len()));
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args([
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium runs (scripts/ensure-chromium.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What Chromium's log says failed to load or was blocked. The page's
/// Content-Security-Policy (`default-src 'none'`) blocks every fetch, local or
/// remote, and Chromium logs each block as a console message.
fn failed_loads(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || l.contains("Content Security Policy")
                || l.contains("net::ERR_")
                || l.contains("Failed to load")
        })
        .collect()
}

/// Pixels of the screenshot within a few levels of `rgb`.
fn count_colour(png_path: &Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    assert!(
        step >= 3,
        "unexpected PNG colour type {:?}",
        info.color_type
    );
    buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 6))
        .count()
}

#[test]
fn a_demo_runs_html_renders_in_chromium_and_its_junit_validates() {
    let demo = Demo::start("rhtml");
    let port = demo.node.as_ref().unwrap().info.service_port;
    let (html, junit, json) = (
        demo.file("report.html"),
        demo.file("junit.xml"),
        demo.file("report.json"),
    );
    let (code, out, err) = run(monkey_run(&demo).args([
        "--duration",
        "8s",
        "--seed",
        "11",
        "--probe-tcp",
        &format!("127.0.0.1:{port}|PING|^PONG$|500ms"),
        "--html",
        html.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
    ]));
    assert!(code == 0 || code == 1, "exit {code}\n{out}\n{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();

    assert_self_contained(&page);
    // With a probe, the probe check looked: its case is not skipped.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let probe_case = &xml[xml.find("<testcase name=\"no probe_failure\"").unwrap()..];
    let probe_case = &probe_case[..probe_case.find("<testcase").map_or(probe_case.len(), |_| {
        probe_case[1..]
            .find("<testcase")
            .map_or(probe_case.len(), |i| i + 1)
    })];
    assert!(!probe_case.contains("<skipped"), "{probe_case}");

    // Chromium parses it: one chart for the operations and one per resource,
    // the probe's latency among them, each with its data drawn.
    let scratch = demo.file("chromium");
    std::fs::create_dir_all(&scratch).unwrap();
    let (dom, log) = chromium(&html, &["--dump-dom"], &scratch);
    let resources = report["resources"].as_object().unwrap().len();
    assert!(resources >= 7, "{}", report["resources"]);
    assert!(report["resources"]
        .as_object()
        .unwrap()
        .keys()
        .any(|k| k.starts_with("probe_latency_us:")));
    assert_eq!(
        dom.matches("<svg class=\"chart\"").count(),
        1 + resources,
        "{dom}"
    );
    let series = dom.matches("<path class=\"series\"").count();
    assert!(
        series + 1 >= resources,
        "{series} lines for {resources} resources"
    );
    let bars = dom.matches("<rect class=\"bar\"").count();
    assert!(bars >= 8 * 3, "{bars} bars for 8 s at 10/s");
    assert!(
        dom.contains("class=\"m-end\""),
        "the end of the chaos is not marked"
    );
    assert!(dom.contains("<dd>") && dom.contains("survival rate"));
    assert!(failed_loads(&log).is_empty(), "{:#?}", failed_loads(&log));

    // Chromium paints it: every category's bars and the resource lines.
    let shot = scratch.join("report.png");
    let (_, log) = chromium(
        &html,
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
        ],
        &scratch,
    );
    assert!(failed_loads(&log).is_empty(), "{:#?}", failed_loads(&log));
    for (what, rgb) in PAINTED {
        let n = count_colour(&shot, rgb);
        assert!(n >= 200, "{what} ({rgb:?}): {n} pixels");
    }

    // The load check can fail: the same page with an image from elsewhere.
    let bad = scratch.join("bad.html");
    std::fs::write(
        &bad,
        page.replacen("<main>", "<main><img src=\"http://127.0.0.1:9/x.png\">", 1),
    )
    .unwrap();
    let (_, log) = chromium(&bad, &["--dump-dom"], &scratch);
    assert!(
        !failed_loads(&log).is_empty(),
        "a blocked load went unnoticed"
    );

    // JUnit: valid, a case per failure-mode kind plus left-behind and survival,
    // failing exactly where the report found something.
    validate_junit(&junit).unwrap();
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(
        xml.matches("<testcase ").count(),
        chaos_beam::chaos::detect::FAILURE_KINDS.len() + 2
    );
    let mut kinds: Vec<&str> = report["failure_modes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    kinds.dedup();
    let lb = &report["left_behind"];
    let left_behind = !(lb["audit"].as_array().unwrap().is_empty()
        && lb["undo_failures"].as_array().unwrap().is_empty()
        && lb["pending_effects"] == 0
        && lb["pending_ops"] == 0);
    let failures = kinds.len() + left_behind as usize + (report["survived"] != true) as usize;
    assert_eq!(xml.matches("<failure ").count(), failures, "{xml}");
    assert!(xml.contains("<testcase name=\"nothing left behind\""));
    // The schema check can fail too.
    let broken = demo.file("broken.xml");
    std::fs::write(
        &broken,
        xml.replacen("<testcase name=", "<testcase nom=", 1),
    )
    .unwrap();
    assert!(validate_junit(&broken).is_err());
}
