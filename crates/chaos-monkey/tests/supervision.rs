//! Supervision-aware chaos against a real node running the `weak_tight`
//! fixture (`tests/fixtures/weak/weak_tight/`): a top supervisor allowing 3
//! restarts in 10 s over three workers and a leaker, plus a registered
//! server nobody supervises.
//!
//! The budget gate (`chaos-beam/src/snippets/budget_gate.erl`) decides on
//! the node, from the supervisor's live restart count, whether a kill fits:
//! by default every budget keeps one restart spare, `--edge` spends up to
//! the last one, `--allow-collapse` goes past it with a checked prediction.

mod detect_support;

use chaos_beam::chaos::ops::builtin;
use chaos_beam::chaos::{BeamTarget, BudgetPolicy, Safety};
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_engine::{Outcome, Profile, SeededRng, Status};
use detect_support::Weak;

/// The fixture without its leak (its leaked processes belong to no
/// application anyway): the only victims are the supervisor's four
/// children and the lone server.
fn tight_node() -> Weak {
    Weak::start("weak_tight", |b, _| {
        b.arg("-weak_tight").arg("max").arg("0")
    })
}

async fn target(w: &Weak, policy: BudgetPolicy, profile: Profile) -> BeamTarget {
    let opts = ConnectOptions::new(
        w.node.name.parse().unwrap(),
        Cookie::new(w.node.cookie.clone(), CookieSource::Flag).unwrap(),
    );
    let client = DistClient::connect(&opts).await.expect("connect");
    let mut safety = Safety::default();
    safety.only_apps = vec!["weak_tight".into()];
    safety.max_kills_per_sec = 1000;
    safety.max_app_share = 1.0;
    safety.budget = policy;
    BeamTarget::new(client, profile, safety, 7)
        .await
        .expect("a chaos context")
}

async fn kill(t: &BeamTarget, seed: u64) -> Outcome {
    let ops = builtin();
    let op = ops.iter().find(|o| o.name() == "kill_worker").unwrap();
    let params = op.plan(&mut SeededRng::new(seed), t.profile);
    op.run(t, &params).await
}

/// Kill workers one after the other (all well inside the 10 s window) until
/// a kill is skipped or `max` kills are done: the kills confirmed, and the
/// outcome that ended the series.
async fn kill_until_skipped(t: &BeamTarget, max: usize) -> (usize, Vec<Outcome>) {
    let mut outs = Vec::new();
    let mut kills = 0;
    for seed in 0..max as u64 {
        let out = kill(t, seed).await;
        let skipped = out.status == Status::Skipped;
        if out.status == Status::Confirmed {
            kills += 1;
        }
        outs.push(out);
        if skipped {
            break;
        }
    }
    (kills, outs)
}

fn app_running(w: &Weak) -> bool {
    w.eval("lists:keymember(weak_tight, 1, application:which_applications()).") == "true"
}

#[test]
fn by_default_a_budget_keeps_one_restart_spare() {
    let w = tight_node();
    smol::block_on(async {
        let t = target(&w, BudgetPolicy::Spare, Profile::Demo).await;
        let (kills, outs) = kill_until_skipped(&t, 6).await;
        let last = outs.last().unwrap();
        assert_eq!(
            kills, 2,
            "3 restarts in 10 s: two kills, one restart spare; {outs:#?}"
        );
        assert_eq!(last.status, Status::Skipped, "{outs:#?}");
        assert!(
            last.detail.contains("weak_tight_sup")
                && last.detail.contains("3 restarts in 10 s")
                && last.detail.contains("last restart"),
            "the skip names the supervisor and its budget: {last:?}"
        );
    });
    assert!(app_running(&w), "the application must still run");
    assert_eq!(
        w.eval("length(element(8, sys:get_state(weak_tight_sup)))."),
        "2",
        "the supervisor counted exactly the two restarts"
    );
}

#[test]
fn edge_spends_up_to_the_last_restart_never_past_it() {
    let w = tight_node();
    smol::block_on(async {
        let t = target(&w, BudgetPolicy::Edge, Profile::Demo).await;
        let (kills, outs) = kill_until_skipped(&t, 8).await;
        assert_eq!(kills, 3, "{outs:#?}");
        let last = outs.last().unwrap();
        assert!(last.detail.contains("would exhaust"), "{last:?}");
    });
    assert!(app_running(&w), "the application must still run");
}

#[test]
fn allow_collapse_predicts_the_stop_at_the_fourth_kill_and_checks_it() {
    let w = tight_node();
    smol::block_on(async {
        let t = target(&w, BudgetPolicy::Collapse, Profile::Aggressive).await;
        // Three kills fit in the budget: no prediction, the application runs.
        for seed in 0..3 {
            let out = kill(&t, seed).await;
            assert_eq!(out.status, Status::Confirmed, "{out:?}");
            assert!(out.measurements.get("prediction").is_none(), "{out:?}");
        }
        assert!(app_running(&w), "no collapse before the fourth kill");
        // The fourth exhausts the budget: predicted, then seen to come true.
        let out = kill(&t, 3).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let p = &out.measurements["prediction"];
        let predicted = p["predicted"].as_str().unwrap();
        assert!(
            predicted.contains("weak_tight_sup")
                && predicted.contains("application weak_tight stops"),
            "{p}"
        );
        assert_eq!(p["came_true"], serde_json::Value::Bool(true), "{p}");
        assert!(p["after_ms"].as_u64().is_some(), "{p}");
    });
    assert!(!app_running(&w), "the predicted stop happened");
}

#[test]
fn the_lone_registered_server_is_a_single_point_of_failure() {
    let w = tight_node();
    smol::block_on(async {
        let t = target(&w, BudgetPolicy::Edge, Profile::Demo).await;
        // The rule has something to protect: the lone server is a victim
        // the picker may draw.
        let candidates = t.candidates().await.expect("the victim list");
        assert!(
            candidates
                .iter()
                .any(|c| c.name.as_deref() == Some("weak_tight_lone")),
            "{candidates:?}"
        );
        // Any number of picks: the lone server is never killed, while the
        // supervisor's workers are, up to its last restart (--edge: 3).
        let mut kills = 0;
        for seed in 0..12 {
            let out = kill(&t, seed).await;
            if let Some(v) = &out.victim {
                assert_ne!(
                    v.attr("registered_name"),
                    Some("weak_tight_lone"),
                    "{out:?}"
                );
            }
            kills += usize::from(out.status == Status::Confirmed);
        }
        assert_eq!(kills, 3, "the picks never reached a kill that fits");
    });
    assert_eq!(w.eval("is_pid(whereis(weak_tight_lone))."), "true");
}

/// One kill by default against a fixture whose only victim is a single
/// point of failure: skipped, with the reason.
fn guarded_by_default(fixture: &str, reason: &str) {
    let w = Weak::start(fixture, |b, _| b);
    smol::block_on(async {
        let mut t = target(&w, BudgetPolicy::Spare, Profile::Demo).await;
        t.safety.only_apps = vec![fixture.into()];
        let out = kill(&t, 1).await;
        assert_eq!(out.status, Status::Skipped, "{out:?}");
        assert!(out.detail.contains(reason), "{out:?}");
    });
}

#[test]
fn a_temporary_child_nobody_restarts_is_never_killed_by_default() {
    guarded_by_default(
        "weak_process_crash",
        "temporary child of weak_process_crash_sup",
    );
}

#[test]
fn a_supervisor_with_no_restart_to_spend_is_never_charged_by_default() {
    guarded_by_default(
        "weak_supervisor_collapse",
        "would exhaust weak_supervisor_collapse_sup (one_for_one, 0 restarts in 1 s, 0 used)",
    );
}

#[test]
fn inspect_shows_budgets_kills_to_stop_and_single_points_of_failure() {
    let w = tight_node();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chaos-monkey"))
        .args(["inspect", "--node", &w.node.name, "--cookie-file"])
        .arg(&w.cookie_file)
        .arg("--json")
        .output()
        .expect("run chaos-monkey inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let app = v["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "weak_tight")
        .expect("weak_tight listed")
        .clone();
    assert_eq!(app["start_type"], "temporary");
    let top = &app["supervision_tree"];
    assert_eq!(top["registered_name"], "weak_tight_sup");
    assert_eq!(top["budget"]["strategy"], "one_for_one");
    assert_eq!(top["budget"]["intensity"], 3);
    assert_eq!(top["budget"]["period_s"], 10);
    let kids = top["children"].as_array().unwrap();
    assert_eq!(kids.len(), 4);
    assert!(
        kids.iter().all(|k| k["spec"]["restart"] == "permanent"),
        "{kids:?}"
    );
    let e = &app["escalation"];
    assert_eq!(e["kills_to_stop"], 4, "{e}");
    assert_eq!(e["window_s"], 10, "{e}");
    assert!(
        e["limited_by"].as_str().unwrap().contains("weak_tight_sup"),
        "{e}"
    );
    assert_eq!(e["halts_node"], false);
    let spof: Vec<&str> = e["single_points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["who"].as_str().unwrap())
        .collect();
    assert_eq!(spof, vec!["weak_tight_lone"], "{e}");
}

/// The whole-run check: the default profile for 60 s at rate 20
/// against the fixture with its leaks. The application must still run, the
/// leaks must be found, and the report must name the tight supervisor and
/// the lone server.
#[test]
fn a_default_run_keeps_the_tight_application_running_and_finds_its_leaks() {
    let w = Weak::start("weak_tight", |b, _| b);
    let mut args = w.run_args("60s", &[]);
    let rate = args.iter().position(|a| a == "--rate").unwrap();
    args[rate + 1] = "20".into();
    let run = w
        .spawn_monkey(&args)
        .wait(std::time::Duration::from_secs(120));
    run.assert_completed(&[1]);
    assert!(
        app_running(&w),
        "the application stopped\n{}",
        run.context()
    );
    assert_eq!(w.eval("is_pid(whereis(weak_tight_lone))."), "true");
    run.assert_mode("process_leak", None);
    run.assert_mode("ets_leak", None);
    assert!(
        run.modes()
            .iter()
            .all(|m| m["kind"] != "supervisor_collapse"),
        "{}",
        run.context()
    );
    let report = run.report.as_ref().unwrap();
    assert!(report["kills"].as_u64().unwrap() >= 2, "{}", run.context());
    let sup = &report["supervision"];
    assert_eq!(sup["policy"], "spare");
    let group = sup["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "weak_tight")
        .expect("weak_tight in the Supervision section");
    assert_eq!(group["faults_to_stop"], 4);
    assert!(group["limited_by"]
        .as_str()
        .unwrap()
        .contains("weak_tight_sup"));
    assert!(group["single_points"][0][0] == "weak_tight_lone", "{group}");
    // The budget was used, never past its spare restart.
    let budget = sup["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["owner"] == "weak_tight_sup")
        .expect("weak_tight_sup was charged");
    assert!(budget["peak_used"].as_u64().unwrap() <= 2, "{budget}");
    assert!(budget["charged"].as_u64().unwrap() >= 1, "{budget}");
    assert!(
        run.stdout.contains("### Supervision"),
        "the text report has the section"
    );
}

/// A kill the budget allows, whose restart then fails: the report's
/// collapse carries the chain of the node's own reports, with its reason.
#[test]
fn a_failed_restart_shows_its_cause_chain_with_the_nodes_reason() {
    let w = Weak::start("weak_restart", |b, _| b);
    // The dependency goes first (a temporary child: nobody restarts it).
    assert_eq!(w.eval("exit(whereis(weak_restart_dep), kill), ok."), "ok");
    w.wait_true(
        "whereis(weak_restart_dep) =:= undefined.",
        std::time::Duration::from_secs(5),
        "the dependency is gone",
    );
    let run = w.monkey("6s", &["--weights", "process=1"]);
    run.assert_completed(&[1]);
    let modes = run.assert_mode("supervisor_collapse", Some("weak_restart"));
    let cause = modes[0]["evidence"]["cause"]
        .as_str()
        .unwrap_or_else(|| panic!("no cause chain: {}", run.context()));
    for part in [
        "weak_restart_needy of weak_restart_sup killed by the monkey",
        "restart of weak_restart_needy by weak_restart_sup failed",
        "noproc",
        "weak_restart_sup gave up (reached_max_restart_intensity)",
        "application weak_restart exited (shutdown)",
    ] {
        assert!(cause.contains(part), "`{part}` missing from: {cause}");
    }
    assert!(run.stdout.contains("  cause: "), "the text report shows it");
    // The collector's logger filter is gone.
    assert_eq!(
        w.eval("lists:keymember(chaos_monkey_causes, 1, maps:get(filters, logger:get_primary_config()))."),
        "false"
    );
}

#[test]
fn an_owner_of_shared_ets_tables_is_never_killed_by_default() {
    guarded_by_default(
        "weak_ets_corruption",
        "shared state: killing weak_ets_owner destroys 1 ETS table(s) other processes can read, such as weak_ets_table",
    );
}

/// A supervisor whose restart of a child just failed is charged no kill
/// within its period, however much of its budget the count says is left:
/// each failed attempt is a restart, so the budget burns faster than it
/// counts.
#[test]
fn a_supervisor_whose_restart_failed_is_left_alone_for_its_period() {
    let w = Weak::start("weak_flaky", |b, _| b);
    smol::block_on(async {
        let mut t = target(&w, BudgetPolicy::Spare, Profile::Demo).await;
        t.safety.only_apps = vec!["weak_flaky".into()];
        t.start_causes(std::time::Duration::from_secs(60))
            .await
            .expect("the report collector");
        // Before any failure, a kill fits (10 restarts in 10 s).
        let out = kill(&t, 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        w.wait_true(
            "is_pid(whereis(weak_flaky_worker)).",
            std::time::Duration::from_secs(5),
            "the worker is back",
        );
        // Its next start fails twice, then works.
        assert_eq!(
            w.eval("application:set_env(weak_flaky, fail_next, 2), exit(whereis(weak_flaky_worker), kill), ok."),
            "ok"
        );
        w.wait_true(
            "is_pid(whereis(weak_flaky_worker)).",
            std::time::Duration::from_secs(5),
            "the worker is back after two failed starts",
        );
        let out = kill(&t, 2).await;
        assert_eq!(out.status, Status::Skipped, "{out:?}");
        assert!(
            out.detail.contains("a restart under weak_flaky_sup failed")
                && out.detail.contains("flaky_start"),
            "{out:?}"
        );
        t.finish_causes().await.expect("the collector ends");
    });
    assert_eq!(w.eval("is_pid(whereis(weak_flaky_worker))."), "true");
}

/// Past the budget, a kill that halts the node takes its own answer with
/// it: the prediction is made before the kill, so it still reaches the
/// report, marked as come true when the node went away.
#[test]
fn a_predicted_halt_is_recorded_even_though_the_node_is_gone() {
    let dir = std::env::temp_dir().join(format!("cm-halt-{}", std::process::id()));
    let ebin = dir.join("ebin");
    std::fs::create_dir_all(&ebin).unwrap();
    detect_support::compile("weak_supervisor_collapse", &ebin);
    // Started permanent: when it stops, the node halts.
    let node = chaos_testkit::NodeBuilder::new("wk_halt")
        .code_path(&ebin)
        .start_expr("{ok, _} = application:ensure_all_started(weak_supervisor_collapse, permanent)")
        .start();
    smol::block_on(async {
        let opts = ConnectOptions::new(
            node.name.parse().unwrap(),
            Cookie::new(node.cookie.clone(), CookieSource::Flag).unwrap(),
        );
        let client = DistClient::connect(&opts).await.expect("connect");
        let mut safety = Safety::default();
        safety.only_apps = vec!["weak_supervisor_collapse".into()];
        safety.budget = BudgetPolicy::Collapse;
        let t = BeamTarget::new(client, Profile::Aggressive, safety, 3)
            .await
            .unwrap();
        let out = kill(&t, 1).await;
        let note = out
            .budget
            .clone()
            .unwrap_or_else(|| panic!("no budget note: {out:?}"));
        let p = note
            .prediction
            .unwrap_or_else(|| panic!("no prediction: {out:?}"));
        assert!(p.predicted.contains("the node halts"), "{p:?}");
        assert_eq!(p.came_true, Some(true), "{p:?} / {out:?}");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// An event manager whose handlers were added by another process would
/// come back from a restart without them: by default it is never killed.
#[test]
fn an_event_manager_with_handlers_is_never_killed_by_default() {
    let w = Weak::start("weak_events", |b, _| b);
    let manager = w.eval("whereis(weak_events_mgr).");
    smol::block_on(async {
        let mut t = target(&w, BudgetPolicy::Spare, Profile::Demo).await;
        t.safety.only_apps = vec!["weak_events".into()];
        let mut turned_away = false;
        for seed in 0..8 {
            let out = kill(&t, seed).await;
            if let Some(v) = &out.victim {
                assert_ne!(
                    v.attr("registered_name"),
                    Some("weak_events_mgr"),
                    "{out:?}"
                );
            }
            turned_away |= out.budget.as_ref().is_some_and(|n| n.guarded > 0)
                || out.detail.contains("loses its 1 event handler(s)");
        }
        assert!(turned_away, "the manager was never even considered");
    });
    // The same manager, handler and all (the adder, killed and restarted,
    // may have added more).
    assert_eq!(w.eval("whereis(weak_events_mgr)."), manager);
    assert_eq!(
        w.eval("lists:member(weak_events_h, gen_event:which_handlers(weak_events_mgr))."),
        "true"
    );
}

/// Counter rows (every non-key field an integer) are left alone by the ETS
/// operations unless collapse is allowed: `ets:update_counter/3` crashes on
/// a deleted or corrupted one, and a crash loop burns restart budgets.
#[test]
fn counter_rows_are_corrupted_only_past_the_budget() {
    let w = Weak::start("weak_ets_corruption", |b, _| b);
    assert_eq!(
        w.eval("ets:delete_all_objects(weak_ets_table), ets:insert(weak_ets_table, [{K, 1, 2} || K <- lists:seq(1, 20)])."),
        "true"
    );
    smol::block_on(async {
        let ops = builtin();
        let ets_modify = ops.iter().find(|o| o.name() == "ets_modify").unwrap();
        for (policy, profile) in [
            (BudgetPolicy::Spare, Profile::Demo),
            (BudgetPolicy::Collapse, Profile::Aggressive),
        ] {
            let mut t = target(&w, policy, profile).await;
            t.safety.only_apps = vec!["weak_ets_corruption".into()];
            let params = ets_modify.plan(&mut SeededRng::new(1), t.profile);
            let out = ets_modify.run(&t, &params).await;
            if policy == BudgetPolicy::Spare {
                assert_eq!(out.status, Status::Skipped, "{out:?}");
            } else {
                assert_eq!(out.status, Status::Confirmed, "{out:?}");
                out.effect.expect("held").undo().await.expect("undone");
            }
        }
    });
}

/// While chaos holds one of an application's names (hidden or decoyed), no
/// kill lands in that application: a restart there may need the name and
/// fail over and over.
#[test]
fn no_kill_in_an_application_while_one_of_its_names_is_held() {
    let w = tight_node();
    smol::block_on(async {
        let t = target(&w, BudgetPolicy::Spare, Profile::Demo).await;
        t.candidates().await.expect("the victim list");
        let held = t.hold_name("weak_tight_leaker", Some("weak_tight"));
        let out = kill(&t, 1).await;
        assert_eq!(out.status, Status::Skipped, "{out:?}");
        assert!(
            out.detail
                .contains("the name weak_tight_leaker of application weak_tight is held"),
            "{out:?}"
        );
        held.lock().unwrap().release("weak_tight_leaker");
        t.invalidate().await;
        let out = kill(&t, 2).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
    });
}

/// What the RabbitMQ run found: a name of an application hidden by
/// `registry_corrupt` while a kill lands in that application, whose restart
/// needs the name. Every restart fails at once, the worker's transient
/// child supervisor gives up and is not restarted. The guard must hold
/// after the victim list was read again while the name was away (the
/// process is then listed without its name, and a decoy is no candidate).
#[test]
fn a_held_name_guards_its_application_after_the_victim_list_is_read_again() {
    let w = Weak::start("weak_held_name", |b, _| b);
    let worker = w.eval("whereis(weak_held_name_worker).");
    smol::block_on(async {
        let mut t = target(&w, BudgetPolicy::Spare, Profile::Demo).await;
        t.safety.only_apps = vec!["weak_held_name".into()];
        let ops = builtin();
        let op = |name: &str| *ops.iter().find(|o| o.name() == name).as_ref().unwrap();
        for mode in ["unregister", "decoy"] {
            t.invalidate().await;
            // Take the server's name (the registry victim is drawn among
            // the named workers: retry until it is the server).
            let mut effect = None;
            for _ in 0..40 {
                let params = serde_json::json!({"mode": mode, "hold_ms": 30_000});
                let out = op("registry_corrupt").run(&t, &params).await;
                assert_eq!(out.status, Status::Confirmed, "{out:?}");
                let name = out.victim.as_ref().and_then(|v| v.attr("registered_name"));
                if name == Some("weak_held_name_server") {
                    effect = out.effect;
                    break;
                }
                out.effect.expect("held").undo().await.expect("undone");
            }
            let effect = effect.expect("the server's name was taken");
            assert_ne!(
                w.eval("whereis(weak_held_name_server)."),
                w.eval("whereis(weak_held_name_worker)."),
            );
            for seed in 0..6 {
                for name in ["kill_worker", "exit_signal", "monitor_kill"] {
                    // The victim list is read again while the name is away
                    // (and the victims turned away are forgotten).
                    t.invalidate().await;
                    let o = op(name);
                    let params = o.plan(&mut SeededRng::new(seed), t.profile);
                    let out = o.run(&t, &params).await;
                    assert_eq!(out.status, Status::Skipped, "{mode}: {out:?}");
                    assert!(
                        out.detail.contains(
                            "the name weak_held_name_server of application weak_held_name is held"
                        ),
                        "{mode}: {out:?}"
                    );
                }
            }
            effect.undo().await.expect("the name given back");
            assert_eq!(w.eval("is_pid(whereis(weak_held_name_server))."), "true");
        }
        // The name back: kills land again, and the worker's restart works.
        t.invalidate().await;
        let mut killed = false;
        for seed in 0..8 {
            let out = kill(&t, seed).await;
            assert_eq!(out.status, Status::Confirmed, "{out:?}");
            killed |= out
                .victim
                .as_ref()
                .is_some_and(|v| v.attr("registered_name") == Some("weak_held_name_worker"));
            if killed {
                break;
            }
        }
        assert!(killed, "the worker was never picked");
    });
    w.wait_true(
        "is_pid(whereis(weak_held_name_worker)).",
        std::time::Duration::from_secs(5),
        "the worker is back",
    );
    assert_ne!(w.eval("whereis(weak_held_name_worker)."), worker);
    assert_eq!(
        w.eval("is_pid(whereis(weak_held_name_inner_sup))."),
        "true",
        "the child supervisor gave up"
    );
    assert_eq!(
        w.eval("length(supervisor:which_children(weak_held_name_sup))."),
        "2"
    );
}

/// Past the budget, a prediction that names no application is checked
/// too: here a transient child supervisor gives up (and is not restarted)
/// — checked by its exit.
#[test]
fn a_supervisor_predicted_to_give_up_is_checked_by_its_exit() {
    let w = Weak::start("weak_held_name", |b, _| b);
    smol::block_on(async {
        let mut t = target(&w, BudgetPolicy::Collapse, Profile::Aggressive).await;
        t.safety = t
            .safety
            .clone()
            .with_protect_names(vec!["weak_held_name_server".into()])
            .unwrap();
        t.safety.only_apps = vec!["weak_held_name".into()];
        let mut predicted = None;
        for seed in 0..14 {
            let out = kill(&t, seed).await;
            assert_eq!(out.status, Status::Confirmed, "{out:?}");
            if out.measurements.get("prediction").is_some() {
                predicted = Some(out);
                break;
            }
        }
        let out = predicted.expect("the eleventh kill is predicted to exhaust the budget");
        let p = &out.measurements["prediction"];
        let text = p["predicted"].as_str().unwrap();
        assert!(
            text.contains("weak_held_name_inner_sup (one_for_one, 10 restarts in 10 s")
                && text.contains("gives up")
                && text.contains("is not restarted (transient)"),
            "{p}"
        );
        assert_eq!(p["came_true"], serde_json::Value::Bool(true), "{p}");
        // Measured beside the kill, not after its wait for a restart.
        assert!(p["after_ms"].as_u64().is_some_and(|ms| ms < 2000), "{p}");
        let note = out.budget.as_ref().unwrap().prediction.as_ref().unwrap();
        assert_eq!(note.came_true, Some(true));
        assert_eq!(note.unchecked, None);
    });
    assert_eq!(w.eval("whereis(weak_held_name_inner_sup)."), "undefined");
    assert_eq!(
        w.eval("lists:keymember(weak_held_name, 1, application:which_applications())."),
        "true",
        "a transient child supervisor is lost, the application runs on"
    );
}

/// "Nobody brings it back" is checked by its name: true when nobody
/// registers it again within the window, false when someone does.
#[test]
fn a_process_predicted_gone_for_good_is_checked_by_its_name() {
    async fn kill_the_temporary(w: &Weak) -> chaos_engine::budget::Prediction {
        let mut t = target(w, BudgetPolicy::Collapse, Profile::Aggressive).await;
        t.safety.only_apps = vec!["weak_process_crash".into()];
        let out = kill(&t, 1).await;
        assert_eq!(out.status, Status::Confirmed, "{out:?}");
        let p = out.budget.and_then(|n| n.prediction).expect("a prediction");
        assert!(
            p.predicted
                .contains("killing weak_pc_worker: weak_process_crash_sup loses it for good"),
            "{p:?}"
        );
        p
    }
    let w = Weak::start("weak_process_crash", |b, _| b);
    let p = smol::block_on(kill_the_temporary(&w));
    assert_eq!(p.came_true, Some(true), "{p:?}");
    assert_eq!(w.eval("whereis(weak_pc_worker)."), "undefined");

    // Someone else takes the name as soon as it is free.
    let w = Weak::start("weak_process_crash", |b, _| b);
    let p = std::thread::scope(|s| {
        s.spawn(|| {
            w.eval(
                "F = fun L(0) -> no; \
                         L(K) -> case whereis(weak_pc_worker) of \
                                     undefined -> \
                                         P = spawn(fun() -> receive stop -> ok end end), \
                                         register(weak_pc_worker, P), yes; \
                                     _ -> timer:sleep(5), L(K - 1) \
                                 end \
                     end, \
                 F(2000).",
            )
        });
        smol::block_on(kill_the_temporary(&w))
    });
    assert_eq!(p.came_true, Some(false), "{p:?}");
    assert_eq!(p.unchecked, None, "{p:?}");
}

/// A decoy's end reaches every caller waiting on it (`gen:call` monitors
/// the decoy). Unless collapse is allowed the decoy hands what it swallowed
/// back to the victim and passes each answer on before it goes: a waiting
/// caller is late, not dead. Past the budget it swallows for good.
#[test]
fn a_caller_waiting_on_a_decoy_gets_the_real_answer_unless_collapse_is_allowed() {
    let w = Weak::start("weak_held_name", |b, _| b);
    smol::block_on(async {
        for (policy, profile) in [
            (BudgetPolicy::Spare, Profile::Demo),
            (BudgetPolicy::Collapse, Profile::Aggressive),
        ] {
            let mut t = target(&w, policy, profile).await;
            t.safety.only_apps = vec!["weak_held_name".into()];
            let ops = builtin();
            let op = ops.iter().find(|o| o.name() == "registry_corrupt").unwrap();
            let mut effect = None;
            for _ in 0..40 {
                t.invalidate().await;
                let params = serde_json::json!({"mode": "decoy", "hold_ms": 4_000});
                let out = op.run(&t, &params).await;
                assert_eq!(out.status, Status::Confirmed, "{out:?}");
                let name = out.victim.as_ref().and_then(|v| v.attr("registered_name"));
                if name == Some("weak_held_name_server") {
                    effect = out.effect;
                    break;
                }
                out.effect.expect("held").undo().await.expect("undone");
            }
            let effect = effect.expect("the server's name was taken");
            // A caller that waits for as long as it takes, on the decoy.
            assert_eq!(
                w.eval(
                    "application:unset_env(weak_held_name, answer), \
                     spawn(fun() -> \
                         R = try gen_server:call(weak_held_name_server, {register, self()}, infinity) \
                             catch exit:E -> {died, element(1, E)} end, \
                         application:set_env(weak_held_name, answer, R) \
                     end), ok."
                ),
                "ok"
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert_eq!(
                w.eval("application:get_env(weak_held_name, answer)."),
                "undefined",
                "the caller waits on the decoy"
            );
            effect.undo().await.expect("the name given back");
            w.wait_true(
                "application:get_env(weak_held_name, answer) =/= undefined.",
                std::time::Duration::from_secs(5),
                "the caller has its answer",
            );
            let answer = w.eval("application:get_env(weak_held_name, answer).");
            if policy == BudgetPolicy::Collapse {
                assert_eq!(answer, "{ok,{died,{undone,ok}}}", "{policy:?}");
            } else {
                assert_eq!(answer, "{ok,ok}", "{policy:?}");
            }
        }
    });
}
