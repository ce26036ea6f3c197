//! A local 3-node cluster (real processes, loopback, fsync on), 256-byte values: KV puts from
//! one client, then 64; gets from 64 clients on all nodes, linearizable and stale; the pause
//! in applies at upgrade switches under 64 writers; and the time from kill -9 (or SIGTERM) of
//! the leader to the next acknowledged write; and first, puts with TLS off and on, with
//! request ids off and on, and with metrics scraped every second or not. Run with `cargo xtask bench`.
//!
//! Writes go to the leader, as etcd's benchmark does; keys are drawn from 100,000.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmraft::proto::client::Consistency;
use wasmraft_tests::bench::stats;
use wasmraft_tests::cluster::{Access, Cluster, propose, put_command, upgrade};
use wasmraft_tests::kv_load::{VALUE, report};
use wasmraft_tests::load::{ms, percentile};
use wasmraft_tests::metrics::scrape;
use wasmraft_tests::{kv_load, module_bytes, padded};

/// A key's name: 12 bytes.
fn key(n: u64) -> String {
    format!("key-{n:08}")
}

async fn puts(cluster: &Cluster, leader: u64, clients: usize, total: usize) -> (Vec<Duration>, Duration) {
    kv_load::puts(cluster.endpoint(leader), key, clients, total, Arc::default(), false).await
}

/// `clients` concurrent readers spread over all nodes, `total` gets.
async fn gets(cluster: &Cluster, consistency: Consistency, clients: usize, total: usize) -> (Vec<Duration>, Duration) {
    let endpoints = cluster.ids().into_iter().map(|id| cluster.endpoint(id)).collect();
    kv_load::gets(endpoints, key, consistency, clients, total).await
}

/// Rolls out `rounds` upgrades (kv 2.0.0 and back to 1.0.0, each under a new content hash,
/// so each compiles afresh), proposed through a follower while 64 clients write to the
/// leader. Returns each node's apply pause at each switch (from its log) and the puts'
/// latencies.
async fn upgrade_pauses(cluster: &Cluster, leader: u64, rounds: usize) -> (Vec<Duration>, Vec<Duration>, Duration) {
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(kv_load::puts(cluster.endpoint(leader), key, 64, usize::MAX, stop.clone(), false));
    tokio::time::sleep(Duration::from_millis(500)).await;
    for round in 0..rounds {
        let (name, downgrade) = if round % 2 == 0 { ("kv2", false) } else { ("kv", true) };
        let bytes = module_bytes(name);
        let size = bytes.len() + 64 + round;
        upgrade(cluster, follower, padded(bytes, size), downgrade).await.expect("upgrade");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (latencies, elapsed) = load.await.expect("writers");
    let pauses = cluster
        .ids()
        .into_iter()
        .flat_map(|id| {
            cluster
                .log_of(id)
                .lines()
                .filter(|l| l.contains("upgraded the applier"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| l.split("pause_us=").nth(1)?.split_whitespace().next()?.parse().ok())
        .map(Duration::from_micros)
        .collect();
    (pauses, latencies, elapsed)
}

/// Kills the leader (or, `graceful`, stops it with SIGTERM, when it hands leadership over)
/// while one client writes; the time to its next acknowledged write.
async fn failover(cluster: &mut Cluster, graceful: bool) -> Duration {
    let leader = cluster.leader(Duration::from_secs(15)).await;
    let endpoints: Vec<Access> =
        cluster.ids().into_iter().filter(|&id| id != leader).map(|id| cluster.endpoint(id)).collect();
    let killed = Instant::now();
    if graceful {
        cluster.terminate(leader);
    } else {
        cluster.kill(leader);
    }
    let mut turn = 0;
    let acked = loop {
        let endpoint = &endpoints[turn % endpoints.len()];
        turn += 1;
        if let Ok(mut client) = endpoint.connect().await
            && propose(&mut client, put_command("failover", "x"), Duration::from_millis(500)).await.is_ok()
        {
            break killed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    cluster.stop(leader);
    cluster.spawn(leader);
    cluster.converged(1, Duration::from_secs(30)).await;
    acked
}

/// What a cost comparison varies.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Setup {
    tls: bool,
    request_ids: bool,
    /// Every node's metrics scraped every second during the run (Prometheus's default is
    /// every 15 s). The node records its figures either way.
    scraped: bool,
}

/// Scrapes every node of `cluster` every second until `stop`.
fn scrape_every_second(cluster: &Cluster, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    let addresses: Vec<String> = cluster.nodes.values().map(|n| n.metrics.clone()).collect();
    tokio::spawn(async move {
        let client = wasmraft_tests::http::HttpClient::default();
        while !stop.load(Ordering::Relaxed) {
            for address in &addresses {
                let scraped = scrape(&client, address, Duration::from_secs(5)).await;
                assert!(scraped.is_ok_and(|s| s.has("wasmraft_server_applied_index")), "{address} scraped");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// Puts with 1 and 64 clients on a cluster set up as `off` and on one set up as `on`,
/// alternately, three rounds each on fresh clusters: each run, then the medians.
async fn cost(title: &str, what: &str, off: Setup, on: Setup) {
    println!("the cost of {title}, 3 rounds:");
    // (ops/s, p99 ms) of each run, by (setup, clients).
    let mut runs: std::collections::BTreeMap<(Setup, usize), Vec<(f64, f64)>> = Default::default();
    for _round in 0..3 {
        for setup in [off, on] {
            let cluster = if setup.tls { Cluster::start_tls(3, "kv", false, &[]) } else { Cluster::start(3, &[]) };
            let leader = cluster.leader(Duration::from_secs(15)).await;
            puts(&cluster, leader, 8, 2_000).await;
            for (clients, total) in [(1, 3_000), (64, 30_000)] {
                let stop = Arc::new(AtomicBool::new(false));
                let scraper = setup.scraped.then(|| scrape_every_second(&cluster, stop.clone()));
                let (latencies, elapsed) =
                    kv_load::puts(cluster.endpoint(leader), key, clients, total, stop.clone(), setup.request_ids).await;
                stop.store(true, Ordering::Relaxed);
                if let Some(scraper) = scraper {
                    scraper.await.expect("every scrape answered");
                }
                let name = format!(
                    "  {what} {}, {clients} client{}",
                    if setup == on { "on" } else { "off" },
                    if clients > 1 { "s" } else { "" }
                );
                let figures = report(&name, latencies, elapsed);
                runs.entry((setup, clients)).or_default().push((figures.rate, ms(figures.p99)));
            }
        }
    }
    let median = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| stats(v.iter().map(f).collect()).median;
    for clients in [1, 64] {
        let (off_runs, on_runs) = (&runs[&(off, clients)], &runs[&(on, clients)]);
        let (off_ops, on_ops) = (median(off_runs, |r| r.0), median(on_runs, |r| r.0));
        println!(
            "  median, {clients:>2} client(s): {what} off {off_ops:.0} ops/s (p99 {:.2} ms), on {on_ops:.0} ops/s (p99 {:.2} ms): {:+.1}% throughput",
            median(off_runs, |r| r.1),
            median(on_runs, |r| r.1),
            (on_ops / off_ops - 1.0) * 100.0
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("\nwasmraft 3-node cluster on loopback, KV puts of {VALUE}-byte values to the leader");
    let plain = Setup { tls: false, request_ids: false, scraped: false };
    let title = "TLS (mutual TLS between the nodes; clients with a client certificate)";
    cost(title, "TLS", plain, Setup { tls: true, ..plain }).await;
    let title = "request ids (every put carries one; the cluster keeps each outcome for 5 minutes)";
    cost(title, "request ids", plain, Setup { request_ids: true, ..plain }).await;
    let title = "metrics scraped every second (the node records them either way)";
    cost(title, "scrapes", plain, Setup { scraped: true, ..plain }).await;
    println!("the rest in the clear:");
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(15)).await;
    // Warm up: connections, compiled module, pages.
    puts(&cluster, leader, 8, 2_000).await;

    let (latencies, elapsed) = puts(&cluster, leader, 1, 3_000).await;
    report("1 client, sequential", latencies, elapsed);
    let (latencies, elapsed) = puts(&cluster, leader, 64, 30_000).await;
    report("64 concurrent clients", latencies, elapsed);
    println!("gets on all three nodes, 64 concurrent clients:");
    let (latencies, elapsed) = gets(&cluster, Consistency::Linearizable, 64, 30_000).await;
    report("  linearizable", latencies, elapsed);
    let (latencies, elapsed) = gets(&cluster, Consistency::Stale, 64, 30_000).await;
    report("  stale (bound 5 s)", latencies, elapsed);

    let (mut pauses, latencies, elapsed) = upgrade_pauses(&cluster, leader, 10).await;
    pauses.sort();
    println!(
        "apply pause at an upgrade switch, 10 upgrades x 3 nodes under 64 writers: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        percentile(&pauses, 0.50).as_secs_f64() * 1e3,
        percentile(&pauses, 0.99).as_secs_f64() * 1e3,
        pauses.last().expect("pauses logged").as_secs_f64() * 1e3
    );
    report("  puts meanwhile", latencies, elapsed);

    for (what, graceful, runs) in [("kill -9 of", false, 11), ("SIGTERM to", true, 7)] {
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..runs {
            times.push(failover(&mut cluster, graceful).await);
        }
        let text: Vec<String> = times.iter().map(|t| format!("{:.2}", t.as_secs_f64())).collect();
        times.sort();
        println!(
            "{what} the leader -> next acknowledged write: median {:.2} s (runs: {} s)",
            times[times.len() / 2].as_secs_f64(),
            text.join(", ")
        );
    }
}
