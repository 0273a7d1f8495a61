//! `inspect` against real nodes: the figures equal what the node itself reports.

use chaos_beam::dist::term::{atom, TermExt};
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_beam::inspect::{inspect, InspectOptions};
use chaos_testkit::{NodeBuilder, TestNode};

async fn connect(node: &TestNode) -> DistClient {
    let opts = ConnectOptions::new(
        node.name.parse().unwrap(),
        Cookie::new(node.cookie.clone(), CookieSource::Flag).unwrap(),
    );
    DistClient::connect(&opts).await.expect("connect")
}

async fn info(c: &DistClient, what: &str) -> i64 {
    c.call("erlang", "system_info", vec![atom(what)])
        .await
        .unwrap()
        .as_i64()
        .unwrap()
}

#[test]
fn counts_match_the_node() {
    // A node with a known extra load: 2,000 idle processes, 30 ETS tables and a busy mailbox.
    let node = NodeBuilder::new("inspect_plain")
        .start_expr("Sink = erlang:spawn(fun() -> receive never -> ok end end), erlang:register(inspect_sink, Sink), [Sink ! {m, N} || N <- lists:seq(1, 777)]")
        .start_expr("[erlang:spawn(fun() -> receive never -> ok end end) || _ <- lists:seq(1, 2000)]")
        .start_expr("Owner = erlang:spawn(fun() -> [ets:new(t, []) || _ <- lists:seq(1, 30)], receive never -> ok end end), erlang:register(inspect_ets_owner, Owner)")
        .start();
    smol::block_on(async {
        let c = connect(&node).await;
        let atoms_before = info(&c, "atom_count").await;
        let r = inspect(&c, &InspectOptions::default())
            .await
            .expect("inspect");
        let atoms_after = info(&c, "atom_count").await;
        let procs = info(&c, "process_count").await;
        assert!(
            (r.process_count as i64 - procs).abs() <= 5,
            "inspect {} vs node {procs}",
            r.process_count
        );
        assert!(r.process_count > 2000);
        assert_eq!(r.process_limit as i64, info(&c, "process_limit").await);
        assert_eq!(r.port_count as i64, info(&c, "port_count").await);
        assert_eq!(r.port_limit as i64, info(&c, "port_limit").await);
        assert_eq!(r.atom_limit as i64, info(&c, "atom_limit").await);
        // Atoms only grow; the inspection's reading lies between the node's own readings around it.
        assert!(
            (atoms_before..=atoms_after).contains(&(r.atom_count as i64)),
            "inspect {} vs node {atoms_before}..{atoms_after}",
            r.atom_count
        );
        assert_eq!(r.ets_count.unwrap() as i64, info(&c, "ets_count").await);
        assert!(r.ets_count.unwrap() >= 30);
        assert_eq!(
            r.otp_release,
            c.call("erlang", "system_info", vec![atom("otp_release")])
                .await
                .unwrap()
                .as_text()
                .unwrap()
        );
        assert!(r.memory_total_bytes > 0 && r.memory["total"] == r.memory_total_bytes);
        assert!(r
            .applications
            .iter()
            .any(|a| a.name == "kernel" && !a.version.is_empty()));
        let kernel = r.applications.iter().find(|a| a.name == "kernel").unwrap();
        let tree = kernel.supervision_tree.as_ref().expect("kernel has a tree");
        assert_eq!(tree.registered_name.as_deref(), Some("kernel_sup"));
        // Its restart budget, read from its state: OTP starts kernel_sup one_for_all, 0 in 1 s.
        let budget = tree.budget.as_ref().expect("kernel_sup's budget");
        assert_eq!(
            (budget.strategy.as_str(), budget.intensity, budget.period_s),
            ("one_for_all", 0, 1)
        );
        let names: Vec<_> = tree
            .children
            .iter()
            .filter_map(|c| c.registered_name.clone())
            .collect();
        assert!(
            names.iter().any(|n| n == "file_server_2"),
            "{names:?} {tree:#?}"
        );
        // The busy mailbox heads the queue list.
        let first = &r.top_by_queue[0];
        assert_eq!(first.registered_name.as_deref(), Some("inspect_sink"));
        assert_eq!(first.message_queue_len, 777);
        assert_eq!(r.top_by_queue.len(), 10);
        assert_eq!(r.top_by_memory.len(), 10);
        let mems: Vec<u64> = r.top_by_memory.iter().map(|p| p.memory_bytes).collect();
        assert!(mems.windows(2).all(|w| w[0] >= w[1]), "{mems:?}");
    });
}
