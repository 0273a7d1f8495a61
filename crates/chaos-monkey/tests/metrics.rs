//! User metrics (`[[metrics]]`, issue 18 §1): an Erlang expression sampled
//! on the node every second, charted in the HTML report and trended in
//! `extras.metrics` (start, peak, end); a value over `max` is a
//! `metric_threshold` failure mode; an expression that raises during the
//! run is counted, not fatal; a bad expression stops the run before it
//! starts (exit 2, naming the metric and its line), leaving nothing on the node.

mod detect_support;

use detect_support::Weak;

const METRICS: &str = r#"
[weights]
timing = 1

[[metrics]]
name = "procs"
expr = "erlang:system_info(process_count)"
unit = "processes"
max = 1

[[metrics]]
name = "memory_mib"
expr = "erlang:memory(total) / 1048576."
unit = "MiB"

[[metrics]]
name = "flips"
# 7 the first time (the check before the run), then it raises.
expr = "case application:get_env(kernel, chaos_metric_flip) of undefined -> application:set_env(kernel, chaos_metric_flip, true), 7; _ -> erlang:error(flipped) end"
"#;

#[test]
fn metrics_are_sampled_charted_trended_and_judged_against_their_max() {
    let w = Weak::start("weak_none", |b, _| b);
    let config = w.file("metrics.toml");
    std::fs::write(&config, METRICS).unwrap();
    let html = w.file("report.html");
    let args = w.run_args(
        "4s",
        &[
            "--config",
            config.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
    );
    let run = w
        .spawn_monkey(&args)
        .wait(std::time::Duration::from_secs(60));
    run.assert_completed(&[1]);
    let report = run.report.as_ref().expect("a report");
    let metrics = report["extras"]["metrics"]
        .as_array()
        .expect("extras.metrics");
    let m = |name: &str| {
        metrics
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no metric {name}: {metrics:?}"))
    };
    let procs = m("procs");
    assert!(procs["samples"].as_u64().unwrap() >= 3, "{procs}");
    assert_eq!(procs["errors"], 0, "{procs}");
    assert_eq!(procs["over_max"], procs["samples"], "{procs}");
    let (start, peak, end) = (
        procs["start"].as_f64().unwrap(),
        procs["peak"].as_f64().unwrap(),
        procs["end"].as_f64().unwrap(),
    );
    assert!(start >= 20.0 && peak >= start && peak >= end, "{procs}");
    // A float survives (the node's memory in MiB, not rounded to whole MiB).
    let mem = m("memory_mib");
    let mib = mem["end"].as_f64().unwrap();
    assert!(mib > 1.0 && mib.fract() != 0.0, "{mem}");
    // Raised during the run: counted, with the reason; the run went on.
    let flips = m("flips");
    assert_eq!(flips["samples"], 0, "{flips}");
    assert!(flips["errors"].as_u64().unwrap() >= 3, "{flips}");
    assert!(
        flips["last_error"].as_str().unwrap().contains("flipped"),
        "{flips}"
    );
    // Over its max: a failure mode with the value and the max.
    let modes = run.assert_mode("metric_threshold", Some("procs"));
    let detail = modes[0]["evidence"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(" processes, over its max 1 processes"),
        "{detail}"
    );
    // Charted like the built-in resources, in the metric's own numbers.
    let timeline = report["timeline"]["buckets"].as_array().unwrap();
    assert!(
        timeline
            .iter()
            .any(|b| b["resources"]["metric_milli:memory_mib"]["max"].as_u64() > Some(1000)),
        "no metric in the timeline"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    for want in ["Metric procs", "Metric memory_mib", "MiB", "flipped"] {
        assert!(page.contains(want), "the HTML report has no {want:?}");
    }
}

#[test]
fn a_bad_metric_stops_the_run_before_it_starts_naming_it_and_its_line() {
    let w = Weak::start("weak_none", |b, _| b);
    let clean = "{length([M || {M, _} <- code:all_loaded(), lists:prefix(\"chaos_monkey_\", atom_to_list(M))]), \
                 erlang:system_info(process_count)}.";
    let before = w.eval(clean);
    for (expr, why) in [
        (
            "erlang:system_info(process_count",
            "not a valid Erlang expression",
        ),
        (
            "application:get_env(kernel, no_such_key)",
            "returned undefined, not a number",
        ),
        (
            "erlang:error(no_metric_here)",
            "raised error:no_metric_here",
        ),
    ] {
        let config = w.file("bad.toml");
        std::fs::write(
            &config,
            format!("[weights]\ntiming = 1\n\n[[metrics]]\nname = \"broken\"\nexpr = \"{expr}\"\n"),
        )
        .unwrap();
        let run = w.monkey("3s", &["--config", config.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{expr}: {}", run.context());
        let want = "bad.toml:6: metric broken: ";
        assert!(
            run.stderr.contains(want) && run.stderr.contains(why),
            "{expr}: wanted {want:?} and {why:?} in:\n{}",
            run.stderr
        );
        assert!(run.report.is_none(), "{expr}: a report was written");
    }
    // Nothing left on the node: no compiled module, no process of ours.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while w.eval(clean) != before {
        assert!(
            std::time::Instant::now() < deadline,
            "left on the node: {} before, {} after",
            before,
            w.eval(clean)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
