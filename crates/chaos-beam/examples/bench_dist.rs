//! Distribution client benchmark: sequential call latency, pipelined call
//! throughput, and `inspect` on a node with a million processes.
//!
//! Run: `cargo run --release -p chaos-beam --example bench_dist [-- --quick]`
//! It starts its own Erlang nodes on loopback and stops them. Prints a table.

use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_beam::inspect::{inspect, InspectOptions};
use chaos_testkit::{NodeBuilder, TestNode};
use futures::stream::{FuturesUnordered, StreamExt};
use std::time::{Duration, Instant};

async fn connect(node: &TestNode) -> DistClient {
    let mut opts = ConnectOptions::new(
        node.name.parse().unwrap(),
        Cookie::new(node.cookie.clone(), CookieSource::Flag).unwrap(),
    );
    opts.call_timeout = Duration::from_secs(120);
    opts.tick = Duration::from_secs(10);
    DistClient::connect(&opts).await.expect("connect")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let seq_calls = if quick { 2_000 } else { 20_000 };
    let pipelined_calls = if quick { 20_000 } else { 200_000 };
    let million = if quick { 100_000 } else { 1_000_000 };

    println!(
        "chaos-beam distribution benchmark ({} mode)",
        if quick { "quick" } else { "full" }
    );
    let node = TestNode::start("bench_dist");
    let rows = smol::block_on(async {
        let c = connect(&node).await;
        // Warm up.
        for _ in 0..500 {
            c.call("erlang", "node", vec![]).await.unwrap();
        }
        let mut lat = Vec::with_capacity(seq_calls);
        let t0 = Instant::now();
        for _ in 0..seq_calls {
            let t = Instant::now();
            c.call("erlang", "node", vec![]).await.unwrap();
            lat.push(t.elapsed());
        }
        let seq_total = t0.elapsed();
        lat.sort();
        let mut rows = vec![
            (
                format!("sequential erlang:node/0, {seq_calls} calls"),
                format!("p50 {:.0} µs", percentile(&lat, 0.5).as_secs_f64() * 1e6),
                "p50 < 200 µs".to_string(),
            ),
            (
                String::new(),
                format!("p99 {:.0} µs", percentile(&lat, 0.99).as_secs_f64() * 1e6),
                String::new(),
            ),
            (
                String::new(),
                format!("{:.0} calls/s", seq_calls as f64 / seq_total.as_secs_f64()),
                String::new(),
            ),
        ];
        for window in [64usize, 512] {
            let t0 = Instant::now();
            let mut in_flight = FuturesUnordered::new();
            let mut started = 0;
            let mut done = 0;
            while done < pipelined_calls {
                while started < pipelined_calls && in_flight.len() < window {
                    let c = c.clone();
                    in_flight.push(async move { c.call("erlang", "node", vec![]).await });
                    started += 1;
                }
                if let Some(r) = in_flight.next().await {
                    r.unwrap();
                    done += 1;
                }
            }
            let rate = pipelined_calls as f64 / t0.elapsed().as_secs_f64();
            rows.push((
                format!("pipelined erlang:node/0, {pipelined_calls} calls, {window} in flight"),
                format!("{rate:.0} calls/s"),
                "≥ 20,000 calls/s".to_string(),
            ));
        }
        c.close();
        rows
    });
    drop(node);

    println!("starting a node with {million} extra processes ...");
    let big = NodeBuilder::new("bench_big")
        .arg("+P")
        .arg("2000000")
        .start_expr(&format!(
            "Parent = self(), Holder = erlang:spawn(fun() -> [erlang:spawn_link(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, {million})], Parent ! spawned, receive stop -> ok end end), erlang:register(bench_holder, Holder), receive spawned -> ok end"
        ))
        .start();
    let inspect_rows = smol::block_on(async {
        let c = connect(&big).await;
        let mut times = Vec::new();
        let mut count = 0;
        for _ in 0..3 {
            let r = inspect(&c, &InspectOptions::default())
                .await
                .expect("inspect");
            count = r.process_count;
            times.push(Duration::from_millis(r.inspect_millis_total));
        }
        times.sort();
        vec![(
            format!("inspect, node with {count} processes (3 runs)"),
            format!(
                "median {:.2} s, max {:.2} s",
                times[1].as_secs_f64(),
                times[2].as_secs_f64()
            ),
            "< 5 s".to_string(),
        )]
    });
    drop(big);

    println!();
    println!("| measurement | result | goal |");
    println!("|---|---|---|");
    for (what, result, goal) in rows.iter().chain(inspect_rows.iter()) {
        println!("| {what} | {result} | {goal} |");
    }
}
