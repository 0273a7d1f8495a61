//! What supervision awareness costs on a node with 10^5 (or, with
//! `BENCH_CHILDREN=1000000`, 10^6) supervised processes (a benchmark, not a
//! timed test):
//!
//! ```sh
//! cargo test --release -p chaos-monkey --test bench_supervision -- --ignored --nocapture
//! BENCH_CHILDREN=1000000 cargo test --release -p chaos-monkey --test bench_supervision -- --ignored --nocapture
//! ```
//!
//! The node runs the `weak_process_leak` fixture with its leak stopped and
//! that many children started under its simple_one_for_one supervisor. The
//! table: reading the whole supervision model (before a run's clock starts),
//! one budget-gate decision for a kill of one of those children (every
//! kill, exit signal, flood and crash chain pays it), the health sample's
//! view of every supervisor (taken every second) read afresh and from the
//! run's supervision keeper, with the node's CPU per sample, and, for
//! comparison, what the sample's walk cost before the keeper
//! (`which_children` of the big supervisor) and reading the supervisor's
//! budget with `sys:get_state/1` (which copies the whole state, every child
//! included).

mod detect_support;

use chaos_beam::chaos::{BeamTarget, Safety};
use chaos_beam::dist::term::{int, show, Term};
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_engine::Profile;
use detect_support::Weak;
use std::time::{Duration, Instant};

/// Children under the dynamic supervisor (`BENCH_CHILDREN`, default 10^5).
fn children() -> i64 {
    std::env::var("BENCH_CHILDREN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

const GATE: &str = concat!(
    include_str!("../../chaos-beam/src/snippets/safety_rules.erl"),
    include_str!("../../chaos-beam/src/snippets/budget_read.erl"),
    include_str!("../../chaos-beam/src/snippets/budget_gate.erl"),
    "[BudgetGate(Victim, kill) || _ <- lists:seq(1, Rounds)], ok.\n"
);

/// The fixture's supervisors as the health sample sees them, each read now.
const AFRESH: &str = concat!(
    include_str!("../../chaos-beam/src/snippets/sup_read.erl"),
    "element(1, SrWalk(fun(S, A) -> {SrRead(S), A} end, whereis(weak_process_leak_sup), \
     weak_process_leak, <<\"weak_process_leak\">>, 0, none)).\n"
);

/// The same view, asked of the run's supervision keeper `K`.
const ASK_KEEPER: &str = "R = erlang:make_ref(), \
    K ! {supervisors, self(), R, [{application_controller:get_master(weak_process_leak), weak_process_leak}]}, \
    receive {supervisors, R, V} -> V after 10000 -> timeout end.";

fn per_call(total: Duration, n: u32) -> String {
    format!("{:.2} ms", total.as_secs_f64() * 1000.0 / f64::from(n))
}

#[test]
#[ignore = "a benchmark: run it with --ignored --nocapture (see the module docs)"]
fn supervision_cost_at_scale() {
    let w = Weak::start("weak_process_leak", |b, _| {
        b.arg("+P")
            .arg("4000000")
            .arg("-weak_process_leak")
            .arg("max")
            .arg("0")
    });
    let opts = {
        let mut o = ConnectOptions::new(
            w.node.name.parse().unwrap(),
            Cookie::new(w.node.cookie.clone(), CookieSource::Flag).unwrap(),
        );
        o.call_timeout = Duration::from_secs(300);
        o
    };
    let rows = smol::block_on(async {
        let c = DistClient::connect(&opts).await.expect("connect");
        let eval = |src: &'static str, b: Vec<(&'static str, Term)>| {
            let c = &c;
            async move {
                let t = Instant::now();
                let v = chaos_beam::eval::eval(c, src, &b)
                    .await
                    .unwrap_or_else(|e| panic!("{src}: {e}"));
                (v, t.elapsed())
            }
        };
        eval(
            "[{ok, _} = weak_pl_idle_sup:start_idle() || _ <- lists:seq(1, N)], ok.",
            vec![("N", int(children()))],
        )
        .await;
        let (procs, _) = eval("erlang:system_info(process_count).", vec![]).await;
        let mut rows = vec![(
            "processes on the node".to_string(),
            chaos_beam::dist::term::show(&procs),
        )];
        // The whole model, as a run reads it before its clock starts.
        let reads = 5;
        let t = Instant::now();
        for _ in 0..reads {
            let apps = chaos_beam::supervision::read(&c, 200, Duration::from_secs(10))
                .await
                .expect("model");
            assert!(apps.iter().any(|a| a.name == "weak_process_leak"));
        }
        rows.push((
            format!("supervision model, whole node ({reads} reads)"),
            per_call(t.elapsed(), reads),
        ));
        // One gate decision for a kill of one of the 100,000 children
        // (interpreted: the compiled path of a run is faster).
        let (victim, _) = eval(
            "[{_, P, _, _} | _] = supervisor:which_children(weak_pl_idle_sup), P.",
            vec![],
        )
        .await;
        let rounds = 200;
        let (_, took) = eval(
            GATE,
            vec![
                ("Victim", victim.clone()),
                ("Rounds", int(i64::from(rounds))),
                ("BudgetMargin", int(1)),
                ("AllowCollapse", chaos_beam::dist::term::atom("false")),
                ("Causes", chaos_beam::dist::term::atom("none")),
            ],
        )
        .await;
        rows.push((
            format!("budget gate for one kill, interpreted ({rounds} rounds)"),
            per_call(took, rounds),
        ));
        let copies = 20;
        let (_, took) = eval(
            "[sys:get_state(weak_pl_idle_sup) || _ <- lists:seq(1, N)], ok.",
            vec![("N", int(i64::from(copies)))],
        )
        .await;
        rows.push((
            format!("sys:get_state of that supervisor, for comparison ({copies} calls)"),
            per_call(took, copies),
        ));
        // The health sample's view of every supervisor (every second), read
        // afresh (as without a keeper, and as before it, but reading each
        // supervisor inside it) and asked of the run's supervision keeper.
        let target = {
            let mut safety = Safety::default();
            safety.only_apps = vec!["weak_process_leak".into()];
            BeamTarget::new(c.clone(), Profile::Demo, safety, 7)
                .await
                .expect("a chaos context")
        };
        target.start_supervision_keeper().await.expect("keeper");
        let keeper: Term = target.supervision_keeper().expect("the keeper").into();
        let samples = 10;
        for (what, src) in [
            ("each supervisor read afresh, interpreted", AFRESH),
            ("asked of the supervision keeper", ASK_KEEPER),
        ] {
            let (cpu0, _) = eval("element(1, erlang:statistics(runtime)).", vec![]).await;
            let t = Instant::now();
            for _ in 0..samples {
                let (views, _) =
                    eval(src, vec![("K", keeper.clone()), ("CallMs", int(1000))]).await;
                let text = show(&views);
                assert!(text.contains(&children().to_string()), "{what}: {text}");
            }
            let took = t.elapsed();
            let (cpu1, _) = eval("element(1, erlang:statistics(runtime)).", vec![]).await;
            let cpu_ms = show(&cpu1).parse::<f64>().unwrap() - show(&cpu0).parse::<f64>().unwrap();
            rows.push((
                format!("health sample's view of every supervisor, {what} ({samples} samples)"),
                format!(
                    "{} wall, {:.1} ms node CPU",
                    per_call(took, samples),
                    cpu_ms / f64::from(samples)
                ),
            ));
        }
        let (memory, _) = eval(
            "{memory, M} = erlang:process_info(K, memory), M.",
            vec![("K", keeper)],
        )
        .await;
        rows.push((
            "the supervision keeper's memory".to_string(),
            format!("{} bytes", show(&memory)),
        ));
        target.audit().await.expect("audit");
        // What the sample's walk paid before the keeper: the children listed.
        let lists = 5;
        let (_, took) = eval(
            "[supervisor:which_children(weak_pl_idle_sup) || _ <- lists:seq(1, N)], ok.",
            vec![("N", int(i64::from(lists)))],
        )
        .await;
        rows.push((
            format!(
                "which_children of that supervisor, the walk before the keeper ({lists} calls)"
            ),
            per_call(took, lists),
        ));
        c.close();
        rows
    });
    println!("\n| what | cost |\n|---|---|");
    for (what, cost) in rows {
        println!("| {what} | {cost} |");
    }
}
