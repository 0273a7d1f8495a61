//! The run itself: proxies, the steady-state baseline, compiled snippets,
//! the first victims, the schedule (with Ctrl-C, the events file and the
//! progress bar), clean-up, the audit, the report and its files.

use super::settings::{RunSettings, NETWORK_NONE};
use super::target::RunTarget;
use crate::commands::layered::usage;
use crate::exit::CliError;
use crate::output;
use chaos_engine::{
    AuditFinding, Category, Report, ReportInput, RunConfig, Schedule, Status, StopSignal, Update,
};
use chaos_history::OpSequence;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

pub(super) fn execute_on<T: RunTarget>(
    s: &RunSettings,
    target: T,
    identity: chaos_history::TargetIdentity,
) -> Result<Option<Report>, CliError> {
    // Fault proxies (real runs only; a dry run starts nothing).
    let mut proxies = Vec::new();
    if !s.dry_run {
        for (listen, upstream) in &s.proxies {
            let p = smol::block_on(chaos_proxy::Proxy::start(*listen, *upstream))
                .map_err(|e| CliError::usage(format!("--proxy {listen}={upstream}: {e}")))?;
            eprintln!(
                "  proxy {} → {} (clients connect to {})",
                p.listen_addr(),
                p.upstream_addr(),
                p.listen_addr()
            );
            proxies.push(p);
        }
    }
    let target = if s.dry_run {
        target
    } else {
        // Probes aimed at a proxied service go through its proxy, like the workload.
        let mut detect = s.detect.clone();
        for p in &mut detect.probes {
            match p {
                chaos_beam::chaos::detect::Probe::Tcp { addr, .. } => {
                    if let Some(px) = proxies.iter().find(|px| px.upstream_addr() == *addr) {
                        *addr = px.listen_addr();
                    }
                }
                chaos_beam::chaos::detect::Probe::Service { probe, .. } => {
                    if let Some(px) = proxies.iter().find(|px| px.upstream_addr() == probe.addr()) {
                        *probe = probe.at(px.listen_addr());
                    }
                }
                chaos_beam::chaos::detect::Probe::Erlang { .. } => {}
            }
        }
        target.with_detection(detect)?
    };
    // After the baseline, so the run's own snippets share the first module.
    if !s.dry_run && !s.interpreted {
        target.compile_snippets().map_err(|e| {
            if e.is_disconnect() {
                CliError::unreachable(e)
            } else {
                CliError::failed(format!("could not start the snippet janitor: {e}"))
            }
        })?;
    }
    if !s.dry_run {
        // The first victim list, before the clock starts: on a big node it
        // takes a second or two, and operations would queue behind it.
        target.first_victims().map_err(|e| {
            if e.is_disconnect() {
                CliError::unreachable(e)
            } else {
                CliError::failed(format!("could not list the node's processes: {e}"))
            }
        })?;
    }
    // What the chaos can reach, counted before the clock starts.
    let reach = if s.dry_run { None } else { target.reach() };
    if !s.dry_run {
        target.read_structure(s.duration);
    }
    let target = Arc::new(target.with_proxies(proxies.clone()));
    let mut reasons = BTreeMap::new();
    reasons.insert(Category::Network, NETWORK_NONE.to_string());
    let schedule = Schedule::new(
        s.seed,
        s.rate,
        s.duration,
        s.profile,
        &s.weights,
        T::operations(s),
        &reasons,
    )
    .map_err(usage)?;
    let shares = schedule.shares();
    let skipped = schedule.skipped().to_vec();

    eprintln!(
        "chaos-monkey: {} against {} for {} at {}/s, profile {}, seed {}{}",
        if s.dry_run { "dry run" } else { "run" },
        target.describe(s),
        humantime::format_duration(s.duration),
        s.rate,
        s.profile,
        s.seed,
        if s.seed_given {
            ""
        } else {
            " (random; replay with --seed)"
        }
    );
    for sk in &skipped {
        eprintln!(
            "  {} (weight {}) skipped: {}",
            sk.category, sk.weight, sk.reason
        );
    }

    if s.dry_run {
        target.dry_run(schedule)?;
        target.close();
        return Ok(None);
    }

    let stop = StopSignal::new();
    {
        let stop = stop.clone();
        let presses = std::sync::atomic::AtomicUsize::new(0);
        // Ctrl-C / SIGTERM: stop, undo everything, write the report. A second one exits at once.
        let _ = ctrlc::set_handler(move || {
            if presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                eprintln!("chaos-monkey: second interrupt, exiting without clean-up (helpers on the node undo their effects at their deadlines)");
                std::process::exit(130);
            }
            eprintln!("chaos-monkey: interrupted, undoing effects and writing the report (press again to exit at once)");
            stop.stop();
        });
    }

    let mut events_file = match &s.events {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| {
                CliError::failed(format!(
                    "cannot create the events file {}: {e}",
                    p.display()
                ))
            },
        )?)),
        None => None,
    };
    let total = schedule.len();
    let bar = (s.progress && std::io::stderr().is_terminal())
        .then(|| output::progress_bar(total, s.duration));
    let log_lines = s.verbose || (bar.is_none() && !s.quiet);
    let mut ops_done = 0u64;
    let mut errors = 0u64;
    let mut healthy = true;
    // The operations by schedule position, for the history (replay checks them).
    let recording = s.history.path.is_some();
    let mut ops_run = OpSequence::default();
    let mut observer = |u: Update<'_>| match u {
        Update::Event(e) => {
            ops_done += 1;
            if recording {
                ops_run.record(e.seq, e.op);
            }
            if e.outcome == Status::Failed {
                errors += 1;
            }
            if let Some(f) = events_file.as_mut() {
                let _ = serde_json::to_writer(&mut *f, e);
                let _ = f.write_all(b"\n");
            }
            if log_lines {
                let line = output::event_line(e);
                match &bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
            if let Some(b) = &bar {
                b.set_position(ops_done);
                b.set_message(output::bar_message(ops_done, errors, healthy, b.elapsed()));
            }
        }
        Update::Sample(s) => {
            healthy = matches!(s, Ok(s) if s.healthy);
            if let Some(b) = &bar {
                b.set_message(output::bar_message(ops_done, errors, healthy, b.elapsed()));
            }
        }
        Update::UndoFailed(what) => {
            let line = format!("chaos-monkey: could not undo: {what}");
            match &bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }
    };
    let cfg = RunConfig {
        duration: s.duration,
        max_in_flight: s.max_in_flight,
        recovery_window: s.detect.recovery_window,
        breaker: s.breaker,
        ..RunConfig::default()
    };
    // The workload goes through the proxy in front of its address, when there is one.
    let workload = s.workload.map(|(addr, clients, rate)| {
        let via = proxies
            .iter()
            .find(|p| p.upstream_addr() == addr)
            .map(|p| p.listen_addr())
            .unwrap_or(addr);
        // The demo's service speaks the line protocol.
        let probe =
            chaos_probe::kinds::line::LineProbe::new(via, chaos_probe::LineProtocol::default());
        crate::workload::Workload::start(std::sync::Arc::new(probe), clients, rate)
    });
    let started_at_ms = chaos_history::now_ms();
    let record = smol::block_on(chaos_engine::run(
        target.clone(),
        schedule,
        &cfg,
        stop,
        &mut observer,
    ));
    let clean_up = std::time::Instant::now();
    let workload = workload.map(|w| smol::block_on(w.stop()));
    // Every proxy fault has ended (effects undone); close the proxies' connections and release their ports.
    let proxy_stats: Vec<_> = proxies.iter().map(|p| p.stats()).collect();
    for p in &proxies {
        smol::block_on(p.shutdown());
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(f) = events_file.as_mut() {
        let _ = f.flush();
    }
    let audit = if record.target_lost.is_none() {
        target.audit()
    } else {
        vec![AuditFinding::left(
            "the node went down: nothing could be checked",
        )]
    };
    let report = Report::build(
        ReportInput {
            tool: format!("chaos-monkey {}", env!("CARGO_PKG_VERSION")),
            target: target.describe(s),
            seed: s.seed,
            profile: s.profile,
            planned_duration_s: s.duration.as_secs_f64(),
            rate: s.rate,
            weights: &s.weights,
            shares: &shares,
            skipped_categories: &skipped,
            audit,
            vocabulary: &chaos_beam::failure_kind::vocabulary(),
            recovery_window: s.detect.recovery_window,
            reach,
        },
        &record,
    );
    let mut report = report;
    report.left_behind.clean_up_s = clean_up.elapsed().as_secs_f64();
    if !proxy_stats.is_empty() {
        report.extras.insert(
            "proxies".to_string(),
            serde_json::to_value(&proxy_stats).expect("serialisable"),
        );
    }
    if let Some(w) = &workload {
        report.extras.insert(
            "workload".to_string(),
            serde_json::to_value(w).expect("serialisable"),
        );
        if w.lost_writes > 0 {
            report.recommendations.insert(
                0,
                format!("The client workload saw {} acknowledged writes read back wrong or missing: the store loses data under chaos.", w.lost_writes),
            );
        }
    }
    target.finish_report(&mut report, &record);
    target.close();
    // Recorded (and gated) before the files are written, so they carry the
    // run's history id and the gate; a history that fails is only a warning.
    crate::commands::history::finish_run(
        &s.history,
        identity,
        &mut report,
        started_at_ms,
        ops_run.finish(),
    );
    if let Some(p) = &s.report {
        std::fs::write(
            p,
            serde_json::to_string_pretty(&report).expect("serialisable"),
        )
        .map_err(|e| CliError::failed(format!("cannot write the report {}: {e}", p.display())))?;
    }
    write_html_and_junit(s, &report)?;
    print!("{}", output::report_text(&report));
    Ok(Some(report))
}

/// The HTML page and the JUnit file, when asked for.
fn write_html_and_junit(s: &RunSettings, report: &Report) -> Result<(), CliError> {
    let write = |path: &Path, what: &str, text: String| {
        std::fs::write(path, text).map_err(|e| {
            CliError::failed(format!("cannot write the {what} {}: {e}", path.display()))
        })
    };
    if let Some(p) = &s.html {
        write(p, "HTML report", chaos_report::run_html(report))?;
    }
    if let Some(p) = &s.junit {
        let mut kinds = chaos_beam::chaos::detect::FAILURE_KINDS.to_vec();
        if s.cluster.is_some() {
            kinds.extend(chaos_beam::cluster::detect::CLUSTER_FAILURE_KINDS);
        }
        let suites = std::iter::once(chaos_report::junit::run_suite(report, &kinds))
            .chain(crate::commands::history::gate_suite(report));
        let xml = chaos_report::junit::document(
            "chaos-monkey",
            std::time::Duration::from_secs_f64(report.duration_s.max(0.0)),
            suites,
        )
        .map_err(|e| CliError::failed(format!("cannot write JUnit XML: {e}")))?;
        write(p, "JUnit file", xml)?;
    }
    Ok(())
}
