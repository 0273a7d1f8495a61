//! `chaos-monkey scenarios`: settings (flags over the config's
//! `[scenarios]` table), the suite run one scenario at a time with a line
//! per result, then the summary, the JSON report, the HTML page and the
//! JUnit file.

use crate::cli::ScenariosArgs;
use crate::commands::layered::{layered, layered_duration};
use crate::config::{self, ScenariosConfig};
use crate::exit::{self, CliError};
use chaos_beam::chaos::detect::DetectSettings;
use chaos_beam::chaos::{BeamTarget, BudgetPolicy};
use chaos_beam::scenarios::{self, Protocol, ScenarioCtx, Settings};
use chaos_engine::scenario::{ScenarioResult, SuiteReport, SuiteVerdict};
use chaos_engine::{Profile, StopSignal};
use regex::Regex;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `chaos-monkey scenarios`.
pub fn run(args: &ScenariosArgs) -> Result<(), CliError> {
    let all = scenarios::all();
    let unknown: Vec<&String> = args
        .only
        .iter()
        .filter(|n| !all.iter().any(|s| s.name() == n.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(CliError::usage(format!(
            "--only: unknown scenario {}; known: {}",
            unknown
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", "),
            all.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
        )));
    }
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|n| n == s.name()))
        .collect();
    let (file, text, cfg_path) = match &args.config {
        Some(p) => {
            let (f, t) = config::load(p).map_err(CliError::usage)?;
            (f, t, p.clone())
        }
        None => (config::FileConfig::default(), String::new(), PathBuf::new()),
    };
    let at = |key: &str| config::locate(&cfg_path, &text, key);
    let (mut settings, html) = settings(args, &file.scenarios, &at)?;
    // The same safety as a run's: [safety] and [allow], --only-app, --protect-*, --allow-….
    let mut safety = crate::commands::safety::safety(&args.safety, &file, None, &at)?;
    let allow = super::run::allow::allowed(&args.safety, &file, &at)?;
    settings.allow_supervisor_kill = allow.contains("kill_supervisor");
    if args.list {
        // What each would do with these settings; no node needed.
        for s in &chosen {
            println!(
                "{:<20} {}\n{:<20} expected: {}",
                s.name(),
                s.fault(),
                "",
                s.expected(&settings)
            );
        }
        return Ok(());
    }
    let seed = args.seed.unwrap_or_else(rand::random);

    let mut target = args.target.clone();
    super::attach::resolve(&mut target)?;
    let client = super::attach::connect(&target)?;
    let node = target.node().to_string();
    let detect = DetectSettings {
        recovery_window: settings.recovery,
        ..DetectSettings::default()
    };
    // The scenarios' kills go through the same restart-budget gate as a run's.
    if args.safety.allow_collapse {
        safety.budget = BudgetPolicy::Collapse;
    }
    let target = smol::block_on(async {
        BeamTarget::new(client.clone(), Profile::Demo, safety, seed)
            .await?
            .with_detection(detect)
            .await
    })
    .map_err(|e| CliError::unreachable(format!("cannot read the node's steady state: {e}")))?;
    let stop = StopSignal::new();
    let ctx = smol::block_on(ScenarioCtx::new(target, settings, stop.clone()));
    {
        let presses = std::sync::atomic::AtomicUsize::new(0);
        // Ctrl-C / SIGTERM: the running scenario undoes its fault, the rest are skipped.
        let _ = ctrlc::set_handler(move || {
            if presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                eprintln!("chaos-monkey: second interrupt, exiting at once (helpers on the node undo their effects at their deadlines)");
                scenarios::remove_fill_files();
                std::process::exit(130);
            }
            eprintln!("chaos-monkey: interrupted, undoing the running scenario's fault (press again to exit at once)");
            stop.stop();
        });
    }
    println!(
        "chaos-monkey scenarios against {node} (seed {seed}); service: {}",
        ctx.service_source
    );
    let started = Instant::now();
    let started_at_ms = chaos_history::now_ms();
    let outcome = smol::block_on(scenarios::run_suite(&ctx, &chosen, print_result));
    let (results, lost) = match outcome {
        Ok(r) => (r, None),
        Err((why, r)) => (r, Some(why)),
    };
    let left_behind = if lost.is_none() {
        match smol::block_on(ctx.target.audit()) {
            Ok(l) => l.into_iter().map(|a| a.detail).collect(),
            Err(e) => vec![format!("the after-run audit failed: {e}")],
        }
    } else {
        Vec::new()
    };
    client.close();
    let report = SuiteReport::new(
        format!("chaos-monkey {}", env!("CARGO_PKG_VERSION")),
        node,
        started.elapsed(),
        ctx.stop.is_stopped(),
        results,
        serde_json::json!({
            "seed": seed,
            "service": ctx.probe.as_ref().map(|p| p.addr().to_string()),
            "probe": ctx.probe.as_ref().map(|p| serde_json::json!({"kind": p.kind(), "describe": p.describe()})),
            "service_source": ctx.service_source,
            "listeners": ctx.listeners,
            "left_behind": left_behind,
            "target_lost": lost,
        }),
    );
    print_summary(&report, &left_behind);
    if let Some(p) = &args.report {
        let json = serde_json::to_string_pretty(&report).expect("serialisable");
        write(p, &json, "report")?;
    }
    if let Some(p) = &html {
        write(p, &chaos_report::scenarios_html(&report), "HTML report")?;
    }
    if let Some(p) = &args.junit {
        write(p, &junit(&report)?, "JUnit file")?;
    }
    super::history::record_suite(&args.history, &report, started_at_ms, seed);
    if let Some(why) = lost {
        return Err(CliError::with_code(
            exit::NODE_DOWN,
            format!("the node went down during the suite: {why}"),
        ));
    }
    match report.summary.verdict {
        SuiteVerdict::Passed => Ok(()),
        SuiteVerdict::Failed => Err(CliError::failed(format!(
            "{} of {} scenarios failed",
            report.summary.failed,
            report.summary.total - report.summary.skipped
        ))),
        SuiteVerdict::Inconclusive => Err(CliError::with_code(
            exit::INCONCLUSIVE,
            format!(
                "inconclusive: {} of {} scenarios were skipped, so the suite tested little: {}",
                report.summary.skipped,
                report.summary.total,
                report.summary.inconclusive_because.join("; ")
            ),
        )),
    }
}

fn write(path: &Path, text: &str, what: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::failed(format!("cannot write the {what} {}: {e}", path.display())))
}

/// Flags over the config's `[scenarios]` table over the defaults; and
/// where the HTML page goes, if anywhere.
fn settings(
    args: &ScenariosArgs,
    file: &ScenariosConfig,
    at: &dyn Fn(&str) -> String,
) -> Result<(Settings, Option<PathBuf>), CliError> {
    let mut s = Settings::default();
    let durations: [(Option<&String>, &Option<String>, &str, &mut Duration); 8] = [
        (
            args.recovery.as_ref(),
            &file.recovery,
            "recovery",
            &mut s.recovery,
        ),
        (
            None,
            &file.process_restart,
            "process_restart",
            &mut s.process_restart,
        ),
        (
            None,
            &file.subtree_restart,
            "subtree_restart",
            &mut s.subtree_restart,
        ),
        (None, &file.partition, "partition", &mut s.partition),
        (None, &file.memory_hold, "memory_hold", &mut s.memory_hold),
        (
            None,
            &file.flood_duration,
            "flood_duration",
            &mut s.flood_duration,
        ),
        (
            None,
            &file.load_duration,
            "load_duration",
            &mut s.load_duration,
        ),
        (
            None,
            &file.latency_objective,
            "latency_objective",
            &mut s.latency_objective,
        ),
    ];
    for (flag, from_file, key, into) in durations {
        if let Some(d) = layered_duration(&flag.cloned(), from_file, key, &at)? {
            *into = d;
        }
    }
    if s.recovery > Duration::from_secs(3600) {
        return Err(CliError::usage("recovery: at most 1h"));
    }
    let positive = |v: Option<u64>, key: &str, max: u64| -> Result<Option<u64>, CliError> {
        match v {
            Some(n) if n == 0 || n > max => Err(CliError::usage(format!(
                "{}: {key} must be between 1 and {max}, got {n}",
                at(key)
            ))),
            other => Ok(other),
        }
    };
    if let Some(v) = positive(file.memory_percent.map(u64::from), "memory_percent", 200)? {
        s.memory_percent = v as u32;
    }
    if let Some(v) = positive(file.mailbox_bound, "mailbox_bound", u64::MAX)? {
        s.mailbox_bound = v;
    }
    if let Some(v) = positive(file.payload_factor, "payload_factor", 10_000)? {
        s.payload_factor = v;
    }
    if let Some(v) = positive(file.disk_bytes, "disk_bytes", 1 << 40)? {
        s.disk_bytes = v;
    }
    if let Some(v) = positive(file.probe_keys.map(u64::from), "probe_keys", 10_000)? {
        s.probe_keys = v as u32;
    }
    let in_range = |max: u64| {
        move |n: u64| -> Result<u64, String> {
            if n == 0 || n > max {
                Err(format!("must be between 1 and {max}, got {n}"))
            } else {
                Ok(n)
            }
        }
    };
    if let Some(n) = layered(
        args.connection_limit.map(u64::from),
        file.connection_limit.map(u64::from),
        "connection_limit",
        &at,
        in_range(20_000),
        in_range(20_000),
    )? {
        s.connection_limit = n as u32;
    }
    if let Some(n) = layered(
        args.max_request_bytes,
        file.max_request_bytes,
        "max_request_bytes",
        &at,
        in_range(1 << 30),
        in_range(1 << 30),
    )? {
        s.max_request_bytes = n;
    }
    if s.max_request_bytes * s.payload_factor > 1 << 30 {
        return Err(CliError::usage(
            "large_payload would send more than 1 GiB: lower max_request_bytes or payload_factor",
        ));
    }
    if let Some(f) = file.flood_factor {
        if !(f.is_finite() && f > 0.0 && f <= 1000.0) {
            return Err(CliError::usage(format!(
                "{}: flood_factor must be above 0 and at most 1000, got {f}",
                at("flood_factor")
            )));
        }
        s.flood_factor = f;
    }
    if let Some(v) = file.max_data_loss {
        s.max_data_loss = v;
    }
    if let Some(v) = file.kills_keep_data {
        s.kills_keep_data = v;
    }
    if let Some(service) = args.service.as_ref().or(file.service.as_ref()) {
        let loc = if args.service.is_some() {
            "--service".to_string()
        } else {
            at("service")
        };
        let addr: std::net::SocketAddr = service
            .parse()
            .map_err(|_| CliError::usage(format!("{loc}: '{service}' is not IP:PORT")))?;
        if !addr.ip().is_loopback() {
            return Err(CliError::usage(format!(
                "{loc}: {addr} is not a loopback address; scenarios only go to 127.0.0.0/8 and ::1"
            )));
        }
        s.service = Some(addr);
    }
    if let Some(dir) = args.disk_dir.as_ref().or(file.disk_dir.as_ref()) {
        if !dir.is_dir() {
            return Err(CliError::usage(format!(
                "{}: {} is not a directory",
                if args.disk_dir.is_some() {
                    "--disk-dir".to_string()
                } else {
                    at("disk_dir")
                },
                dir.display()
            )));
        }
        s.disk_dir = Some(dir.clone());
    }
    s.protocol = protocol(file, &at)?;
    let probe = match (&args.probe, &file.probe) {
        (Some(url), _) => Some((
            crate::probes::ServiceProbeConfig::url(url),
            "--probe".to_string(),
        )),
        (None, Some(table)) => Some((table.clone(), at("probe"))),
        (None, None) => None,
    };
    if let Some((cfg, loc)) = probe {
        if s.service.is_some() {
            return Err(CliError::usage(format!(
                "{loc}: give a probe or a service address, not both"
            )));
        }
        if cfg.objective.is_some() {
            return Err(CliError::usage(format!(
                "{loc}: objective is a setting of run's probes; scenarios judge latency by latency_objective"
            )));
        }
        s.probe = Some(
            crate::probes::build(&cfg, &s.protocol)
                .map_err(|e| CliError::usage(format!("{loc}: {e}")))?,
        );
    }
    Ok((s, args.html.clone().or(file.html.clone())))
}

fn protocol(file: &ScenariosConfig, at: &dyn Fn(&str) -> String) -> Result<Protocol, CliError> {
    let mut p = Protocol::default();
    let re = |v: &Option<String>, key: &str, into: &mut Regex| {
        if let Some(v) = v {
            *into = Regex::new(v)
                .map_err(|e| CliError::usage(format!("{}: {key}: bad regex: {e}", at(key))))?;
        }
        Ok::<(), CliError>(())
    };
    re(&file.pong, "pong", &mut p.pong)?;
    re(&file.put_ok, "put_ok", &mut p.put_ok)?;
    re(&file.error, "error", &mut p.error)?;
    for (v, into) in [
        (&file.ping, &mut p.ping),
        (&file.put, &mut p.put),
        (&file.get, &mut p.get),
        (&file.get_ok, &mut p.get_ok),
    ] {
        if let Some(v) = v {
            *into = v.clone();
        }
    }
    Ok(p)
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1} ms"))
        .unwrap_or_else(|| "-".into())
}

fn print_result(r: &ScenarioResult) {
    let status = match (&r.skipped, r.passed) {
        (Some(_), _) => "SKIP",
        (None, true) => "PASS",
        (None, false) => "FAIL",
    };
    println!(
        "{status} {:<19} detection {:>12}  recovery {:>12}  data loss {}  cascading {}",
        r.scenario,
        fmt_ms(r.detection_time_ms),
        fmt_ms(r.recovery_time_ms),
        r.data_loss
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into()),
        r.cascading_failures.len()
    );
    println!("     expected: {}", r.expected);
    println!("     observed: {}", r.observed);
    for f in &r.failures {
        println!("     FAILED: {f}");
    }
}

fn print_summary(r: &SuiteReport, left_behind: &[String]) {
    let s = &r.summary;
    println!(
        "\n{} scenarios: {} passed, {} failed, {} skipped in {:.1} s; average detection {}, average recovery {}{}\nverdict: {}",
        s.total,
        s.passed,
        s.failed,
        s.skipped,
        r.duration_s,
        fmt_ms(s.average_detection_ms),
        fmt_ms(s.average_recovery_ms),
        if r.interrupted { " (interrupted)" } else { "" },
        s.verdict.as_str()
    );
    for why in &s.inconclusive_because {
        println!("  {why}");
    }
    if left_behind.is_empty() {
        println!("left behind on the node: nothing");
    } else {
        println!("left behind on the node:");
        for l in left_behind {
            println!("  {l}");
        }
    }
}

/// One JUnit test case per scenario: skipped ones skipped with the reason,
/// failed ones with the observation as the message and why they failed in
/// the description. Through `chaos_report::junit::document`, so the file
/// validates against the Jenkins xUnit schema.
fn junit(r: &SuiteReport) -> Result<String, CliError> {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let time = Duration::from_secs_f64(r.duration_s.max(0.0));
    let mut suite = TestSuite::new(format!("scenarios against {}", r.target));
    suite.set_time(time);
    for res in &r.results {
        let status = match (&res.skipped, res.passed) {
            (Some(why), _) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(why.clone());
                s
            }
            (None, true) => TestCaseStatus::success(),
            (None, false) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(res.observed.clone())
                    .set_type("scenario")
                    .set_description(format!(
                        "{}\nexpected: {}\nobserved: {}",
                        res.failures.join("\n"),
                        res.expected,
                        res.observed
                    ));
                s
            }
        };
        let mut case = TestCase::new(res.scenario.clone(), status);
        case.set_classname("chaos_monkey.scenarios");
        case.set_time(Duration::from_secs_f64(res.duration_ms.max(0.0) / 1e3));
        case.set_system_out(format!(
            "fault: {}\nexpected: {}\nobserved: {}\ndetection_time_ms: {}\nrecovery_time_ms: {}\ndata_loss: {}\ncascading_failures: {}",
            res.fault,
            res.expected,
            res.observed,
            fmt_ms(res.detection_time_ms),
            fmt_ms(res.recovery_time_ms),
            res.data_loss.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            if res.cascading_failures.is_empty() { "none".into() } else { res.cascading_failures.join("; ") }
        ));
        suite.add_test_case(case);
    }
    chaos_report::junit::document("chaos-monkey scenarios", time, [suite])
        .map_err(|e| CliError::failed(format!("cannot write JUnit XML: {e}")))
}
