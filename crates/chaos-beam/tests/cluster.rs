//! Chaos across a real three-node cluster on loopback (`-sname`, one shared
//! random cookie, the fixture application on every member): a partition is
//! held (the sides do not see each other, even when they try to reconnect),
//! healed (full mesh again), and a `global` name planted on both sides is
//! found as a conflict after the heal; then a one-way link flaps and heals,
//! and a pg scope on one node only and an application stopped on one node
//! are found. Random chaos reaches every member and the report breaks it
//! down by node; node loss reports the rest of the cluster carrying on.

use chaos_beam::chaos::detect::DetectSettings;
use chaos_beam::chaos::ops::builtin;
use chaos_beam::chaos::{BeamTarget, Safety};
use chaos_beam::cluster::{self, mesh_gaps, mesh_of, ClusterTarget, OnNode};
use chaos_beam::dist::term::{atom, Term, TermExt};
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_beam::eval::eval;
use chaos_engine::{
    Category, Operation, Profile, Report, ReportInput, RunConfig, Schedule, Status, StopSignal,
    Target, Update,
};
use chaos_testkit::TestCluster;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cookie(c: &TestCluster) -> Cookie {
    Cookie::new(c.cookie.clone(), CookieSource::Flag).unwrap()
}

async fn client(c: &TestCluster, node: &str) -> DistClient {
    DistClient::connect(&ConnectOptions::new(node.parse().unwrap(), cookie(c)))
        .await
        .expect("connect")
}

/// Attach the monkey to the cluster through its first member (the rest is discovered).
async fn attach(c: &TestCluster, seed: u64) -> ClusterTarget {
    let first = ConnectOptions::new(c.names()[0].parse().unwrap(), cookie(c));
    let clients = cluster::connect_cluster(&first, &[], true, |_| cookie(c))
        .await
        .expect("attach to the cluster");
    assert_eq!(clients.len(), 3, "discovery finds every member");
    let mut members = Vec::new();
    for client in clients {
        let t = BeamTarget::new(client, Profile::Demo, Safety::default(), seed)
            .await
            .unwrap()
            .with_detection(DetectSettings {
                recovery_window: Duration::from_secs(2),
                ..Default::default()
            })
            .await
            .unwrap();
        members.push((t, 1));
    }
    ClusterTarget::new(members, seed).await.unwrap()
}

fn node_op(name: &str) -> Arc<dyn Operation<ClusterTarget>> {
    cluster::ops::node_ops()
        .into_iter()
        .find(|o| o.name() == name)
        .unwrap()
}

async fn nodes_of(c: &DistClient) -> Vec<String> {
    let t = eval(c, "erlang:nodes().", &[]).await.unwrap();
    t.as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.as_atom().map(str::to_string))
        .collect()
}

/// Every member, asked through the test's own connections, sees all the others.
async fn assert_full_mesh(names: &[String], watch: &[DistClient], when: &str) {
    let members: Vec<(&str, &DistClient)> = names.iter().map(String::as_str).zip(watch).collect();
    let mesh = mesh_of(&members).await;
    let gaps = mesh_gaps(&mesh, names);
    assert!(gaps.is_empty(), "no full mesh {when}: {gaps:?}");
}

#[test]
fn a_partition_is_held_then_healed_and_a_planted_global_conflict_is_found() {
    let c = TestCluster::with_app("part", 3);
    smol::block_on(async {
        let ctx = attach(&c, 7).await;
        let mut names = c.names();
        names.sort();
        // The test's own connections, independent of the monkey's.
        let mut watch = Vec::new();
        for n in &names {
            watch.push(client(&c, n).await);
        }
        // side_pick 0, size_pick 0: the minority is the first member by name.
        let params = json!({ "hold_ms": 20_000, "side_pick": 0, "size_pick": 0 });
        let outcome = node_op("partition").run(&ctx, &params).await;
        assert_eq!(outcome.status, Status::Confirmed, "{}", outcome.detail);
        eprintln!("partition: {}", outcome.measurements);
        let effect = outcome.effect.expect("a held partition is an effect");
        let (alone, rest) = (&names[0], &names[1..]);

        // Held: for 1.5 s, while both sides keep trying to reconnect, nobody sees the other side.
        let until = Instant::now() + Duration::from_millis(1500);
        let mut checks = 0;
        while Instant::now() < until {
            let retry =
                "[net_kernel:connect_node(N) || N <- Others], [net_adm:ping(N) || N <- Others].";
            let others: Vec<Term> = rest.iter().map(|n| atom(n)).collect();
            eval(
                &watch[0],
                retry,
                &[("Others", chaos_beam::dist::term::list(others))],
            )
            .await
            .unwrap();
            eval(
                &watch[1],
                retry,
                &[("Others", chaos_beam::dist::term::list(vec![atom(alone)]))],
            )
            .await
            .unwrap();
            let seen_alone = nodes_of(&watch[0]).await;
            assert!(
                rest.iter().all(|r| !seen_alone.contains(r)),
                "{alone} sees {seen_alone:?} during the partition"
            );
            for w in &watch[1..] {
                let seen = nodes_of(w).await;
                assert!(
                    !seen.contains(alone),
                    "a member sees {alone} during the partition: {seen:?}"
                );
            }
            // The larger side stays whole.
            assert!(nodes_of(&watch[1]).await.contains(&names[2]));
            checks += 1;
        }
        assert!(checks >= 3, "only {checks} checks in 1.5 s");

        // Plant the same global name on both sides.
        let plant = "P = erlang:spawn(fun() -> receive stop -> ok end end), {global:register_name(chaos_planted, P), P}.";
        let a = eval(&watch[0], plant, &[]).await.unwrap();
        let b = eval(&watch[1], plant, &[]).await.unwrap();
        for t in [&a, &b] {
            assert_eq!(
                t.as_tuple().unwrap()[0].as_atom(),
                Some("yes"),
                "registered on its side"
            );
        }
        let during = ctx.sample().await.unwrap();
        assert!(
            !during
                .problems
                .iter()
                .any(|p| p.kind == "cluster_partition"),
            "a held partition is not itself a finding: {:?}",
            during.problems
        );

        // Heal: the effect releases every helper and waits for the full mesh.
        let t0 = Instant::now();
        effect.undo().await.expect("healed");
        let heal = t0.elapsed();
        assert_full_mesh(&names, &watch, "after the heal").await;
        eprintln!("partition healed in {} ms", heal.as_millis());

        // The planted conflict is found once global has resolved it.
        let deadline = Instant::now() + Duration::from_secs(10);
        let found = loop {
            let s = ctx.sample().await.unwrap();
            if let Some(p) = s.problems.iter().find(|p| {
                p.kind == "global_name_conflict" && p.subject == "chaos_planted" && p.immediate
            }) {
                break p.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no global conflict found: {:?}",
                s.problems
            );
            smol::Timer::after(Duration::from_millis(200)).await;
        };
        eprintln!("found: {}", found.detail);
        assert!(
            found.detail.contains(alone) && found.detail.contains(&names[1]),
            "{}",
            found.detail
        );

        // Nothing left: no cutting cookie, no helper, a whole mesh.
        let audit = ctx.audit().await;
        assert!(audit.is_empty(), "left behind: {audit:?}");

        // A flapping link: cut, healed, cut again..., then healed for good.
        let params = json!({ "hold_ms": 1500, "down_ms": 300, "up_ms": 300, "one_way": true, "pair_pick": 0 });
        let outcome = node_op("link_flap").run(&ctx, &params).await;
        assert_eq!(outcome.status, Status::Confirmed, "{}", outcome.detail);
        let link: Vec<String> =
            serde_json::from_value(outcome.measurements["link"].clone()).unwrap();
        let a = names.iter().position(|n| *n == link[0]).unwrap();
        let (mut apart, mut together) = (0, 0);
        let until = Instant::now() + Duration::from_millis(1400);
        while Instant::now() < until {
            if nodes_of(&watch[a]).await.contains(&link[1]) {
                together += 1;
            } else {
                apart += 1;
            }
            smol::Timer::after(Duration::from_millis(25)).await;
        }
        assert!(
            apart > 0 && together > 0,
            "the link did not flap: {apart} apart, {together} together"
        );
        outcome.effect.unwrap().undo().await.expect("healed");
        assert_full_mesh(&names, &watch, "after the flapping").await;
        eprintln!("link {link:?}: {apart} samples apart, {together} together");

        // Plant the other two cluster findings: a pg scope with members on
        // one node only, and the application stopped on another.
        let scope = "{ok, _} = pg:start(chaos_planted_scope), \
                     P = erlang:spawn(fun() -> receive stop -> ok end end), \
                     pg:join(chaos_planted_scope, planted, P).";
        eval(&watch[0], scope, &[]).await.unwrap();
        eval(&watch[2], "application:stop(chaos_cluster_app).", &[])
            .await
            .unwrap();
        let s = ctx.sample().await.unwrap();
        let find = |kind: &str| s.problems.iter().find(|p| p.kind == kind).cloned();
        let pg = find("pg_divergence").unwrap_or_else(|| panic!("{:?}", s.problems));
        assert_eq!(pg.subject, "chaos_planted_scope/planted");
        let app = find("application_divergence").unwrap_or_else(|| panic!("{:?}", s.problems));
        assert_eq!(app.subject, "chaos_cluster_app");
        assert!(
            app.detail.contains(&format!("not on {}", names[2])),
            "{}",
            app.detail
        );
        assert!(!s.healthy, "an application stopped on a member");
        ctx.close();
    });
}

#[test]
fn chaos_reaches_every_member_and_the_report_breaks_it_down_by_node() {
    let c = TestCluster::with_app("spread", 3);
    smol::block_on(async {
        let ctx = Arc::new(attach(&c, 11).await);
        let mut ops: Vec<(Arc<dyn Operation<ClusterTarget>>, u32)> = builtin()
            .into_iter()
            .filter(|o| ["kill_worker", "suspend", "hold_binary", "priority"].contains(&o.name()))
            .map(|o| (Arc::new(OnNode(o)) as Arc<dyn Operation<ClusterTarget>>, 4))
            .collect();
        ops.extend(
            chaos_engine::admit(cluster::ops::node_ops(), &Default::default())
                .into_iter()
                .filter(|o| o.name() != "partition")
                .map(|o| (o, 1)),
        );
        let weights: BTreeMap<Category, u32> = [
            (Category::Process, 30),
            (Category::Memory, 20),
            (Category::Network, 10),
            (Category::Timing, 20),
        ]
        .into_iter()
        .collect();
        let duration = Duration::from_secs(6);
        let schedule = Schedule::new(
            11,
            6.0,
            duration,
            Profile::Demo,
            &weights,
            ops,
            &BTreeMap::new(),
        )
        .unwrap();
        let shares = schedule.shares();
        let cfg = RunConfig {
            duration,
            recovery_window: Duration::from_secs(3),
            ..RunConfig::default()
        };
        let mut events = Vec::new();
        let record = chaos_engine::run(ctx.clone(), schedule, &cfg, StopSignal::new(), &mut |u| {
            if let Update::Event(e) = u {
                events.push(e.clone());
            }
        })
        .await;
        assert!(record.target_lost.is_none());
        let report = Report::build(
            ReportInput {
                tool: "test".into(),
                target: "cluster".into(),
                seed: 11,
                profile: Profile::Demo,
                planned_duration_s: 6.0,
                rate: 6.0,
                weights: &weights,
                shares: &shares,
                skipped_categories: &[],
                audit: ctx.audit().await,
                vocabulary: &chaos_beam::failure_kind::vocabulary(),
                recovery_window: Duration::from_secs(3),
                reach: None,
            },
            &record,
        );
        assert!(report.left_behind.is_clean(), "{:?}", report.left_behind);
        let names = ctx.names();
        let up: Vec<String> = ctx.up().iter().map(|m| m.name.clone()).collect();
        let by_node = cluster::report::by_node(&report, &record, &names, &up, &ctx.stopped());
        for n in &names {
            let s = &by_node[n];
            assert!(s.ops > 0, "no operation on {n}: {by_node:?}");
            assert_eq!(s.state, "up");
        }
        let total: u64 = by_node.values().map(|s| s.ops).sum();
        assert_eq!(
            total, report.total_ops,
            "every operation is counted on one node"
        );
        let slowed: Vec<_> = events.iter().filter(|e| e.op == "slow_node").collect();
        assert!(
            slowed.is_empty() || slowed.iter().any(|e| e.outcome == Status::Confirmed),
            "slow_node ran but was never confirmed: {slowed:?}"
        );

        // slow_node on its own (the schedule may not draw it): confirmed by
        // a measured rise in the node's scheduling latency, and its busy
        // processes seen running on the node from the test's own connection.
        let outcome = node_op("slow_node")
            .run(&ctx, &json!({ "hold_ms": 3000, "per_scheduler": 1 }))
            .await;
        assert_eq!(outcome.status, Status::Confirmed, "{}", outcome.detail);
        let m = &outcome.measurements;
        let (before, during) = (
            m["latency_before_us"].as_i64().unwrap(),
            m["latency_during_us"].as_i64().unwrap(),
        );
        assert!(during > before, "{m}");
        let busy = m["busy_processes"].as_i64().unwrap();
        let slow = outcome.victim.as_ref().unwrap().node.clone().unwrap();
        let watcher = client(&c, &slow).await;
        let schedulers = eval(&watcher, "erlang:system_info(schedulers_online).", &[])
            .await
            .unwrap()
            .as_i64()
            .unwrap();
        assert_eq!(busy, schedulers, "{m}");
        let active = eval(&watcher, "erlang:statistics(total_active_tasks).", &[])
            .await
            .unwrap()
            .as_i64()
            .unwrap();
        // Its busy processes and the process asking, all runnable.
        assert!(
            active > busy,
            "{active} active tasks on {slow} while slowed: {m}"
        );
        outcome
            .effect
            .expect("a slowed node is an effect")
            .undo()
            .await
            .expect("released");
        watcher.close();

        // Node loss: one member halts; the two others carry on.
        let outcome = node_op("node_loss")
            .run(&ctx, &json!({ "how": "halt" }))
            .await;
        assert_eq!(outcome.status, Status::Confirmed, "{}", outcome.detail);
        assert_eq!(
            outcome.measurements["rest_carried_on"],
            json!(true),
            "{}",
            outcome.detail
        );
        let lost = outcome.victim.unwrap().node.unwrap();
        assert_eq!(ctx.up().len(), 2);
        let s = ctx.sample().await.unwrap();
        assert!(
            s.problems
                .iter()
                .any(|p| p.kind == "node_left" && p.subject == lost),
            "{:?}",
            s.problems
        );
        ctx.close();
    });
}
