//! Filling a KV cluster with a million keys (unless given another count): 3 real nodes,
//! 64 clients putting new keys with 256-byte values to the leader. Prints the put rate and
//! p99 of every tenth of the fill and the snapshots the leader wrote meanwhile (each is the
//! whole state), then restarts every node (kill -9) and times the first linearizable read.
//! A node whose snapshot cost grew with its state would put slower at the end than at the
//! start.
//!
//! `cargo xtask bench-fill [KEYS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmraft_tests::cluster::{Cluster, propose, put_command, query};
use wasmraft_tests::load::percentile;

const CLIENTS: usize = 64;
const VALUE: usize = 256;

fn key(n: u64) -> String {
    format!("key-{n:011}")
}

/// The leader's "snapshot written" log lines: how many, their bytes in all, the largest.
fn snapshots_written(log: &str) -> (usize, u64, u64) {
    let sizes: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("snapshot written"))
        .filter_map(|l| l.split(" bytes=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    (sizes.len(), sizes.iter().sum(), sizes.iter().copied().max().unwrap_or(0))
}

/// Seconds since midnight of a log line's timestamp (`2026-12-04T05:23:58.193781Z ...`).
fn log_time(line: &str) -> Option<f64> {
    let time = line.split_once('T')?.1.split('Z').next()?;
    let mut parts = time.split(':').map(|p| p.parse::<f64>().ok());
    Some(parts.next()?? * 3600.0 + parts.next()?? * 60.0 + parts.next()??)
}

/// What node `log`'s last start did: its snapshot's index, the seconds from the process's
/// first line to the node starting (the snapshot loaded), and the entries it had to replay.
fn last_start(log: &str) -> Option<(u64, f64, u64)> {
    let lines: Vec<&str> = log.lines().collect();
    let started = lines.iter().rposition(|l| l.contains("wasmraft::node: starting id="))?;
    let first = lines[..started].iter().rposition(|l| l.contains("already holds this node's state"))?;
    let field = |name: &str| lines[started].split(name).nth(1)?.split_whitespace().next()?.parse::<u64>().ok();
    let (applied, commit) = (field(" applied=")?, field(" commit=")?);
    Some((applied, log_time(lines[started])? - log_time(lines[first])?, commit.saturating_sub(applied)))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let keys: u64 = std::env::var("WASMRAFT_FILL_KEYS").ok().and_then(|k| k.parse().ok()).unwrap_or(1_000_000);
    let tenth = keys / 10;
    println!("\nfilling a 3-node KV cluster with {keys} keys ({VALUE}-byte values, {CLIENTS} clients, to the leader)");
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(15)).await;
    let next = Arc::new(AtomicU64::new(0));
    // Each put's completion: (when, latency).
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Duration)>();
    let started = Instant::now();
    for _ in 0..CLIENTS {
        let (next, done_tx, endpoint) = (next.clone(), done_tx.clone(), cluster.endpoint(leader));
        tokio::spawn(async move {
            let mut client = endpoint.connect().await.expect("connect");
            let value = "v".repeat(VALUE);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= keys {
                    return;
                }
                let t = Instant::now();
                propose(&mut client, put_command(&key(n), &value), Duration::from_secs(30)).await.expect("put");
                let _ = done_tx.send((Instant::now(), t.elapsed()));
            }
        });
    }
    drop(done_tx);
    let mut rates = Vec::new();
    let (mut latencies, mut done, mut since) = (Vec::new(), 0u64, started);
    while let Some((at, latency)) = done_rx.recv().await {
        latencies.push(latency);
        done += 1;
        if done % tenth == 0 {
            latencies.sort();
            let rate = tenth as f64 / at.duration_since(since).as_secs_f64();
            let (count, bytes, largest) = snapshots_written(&cluster.log_of(leader));
            println!(
                "keys {:>9}..{:>9}: {rate:>7.0} puts/s   p50 {:>6.2} ms   p99 {:>6.2} ms   leader's snapshots so far: {count}, {:.0} MiB written, largest {:.1} MiB",
                done - tenth,
                done,
                percentile(&latencies, 0.50).as_secs_f64() * 1e3,
                percentile(&latencies, 0.99).as_secs_f64() * 1e3,
                bytes as f64 / 1048576.0,
                largest as f64 / 1048576.0,
            );
            rates.push(rate);
            latencies.clear();
            since = at;
        }
    }
    let elapsed = started.elapsed();
    println!("{keys} puts in {:.1} s: {:.0} puts/s", elapsed.as_secs_f64(), keys as f64 / elapsed.as_secs_f64());
    if let (Some(first), Some(last)) = (rates.first(), rates.last()) {
        println!("the last tenth's rate is {:.0}% of the first's", last / first * 100.0);
    }

    cluster.converged(keys, Duration::from_secs(120)).await;
    for id in cluster.ids() {
        cluster.kill(id);
    }
    let restarted = Instant::now();
    for id in cluster.ids() {
        cluster.spawn(id);
    }
    let probe = key(keys - 1);
    loop {
        let leader = cluster.leader(Duration::from_secs(60)).await;
        if let Ok(mut client) = cluster.client(leader).await
            && let Ok(answer) = query(&mut client, serde_json::json!({ "get": { "key": probe } })).await
        {
            assert!(answer.to_string().contains(&"v".repeat(VALUE)), "the last key is there: {answer}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "restart of all 3 nodes (kill -9) to the first linearizable read of the last key: {:.2} s",
        restarted.elapsed().as_secs_f64()
    );
    for id in cluster.ids() {
        if let Some((index, took, replay)) = last_start(&cluster.log_of(id)) {
            println!(
                "  node {id}: its snapshot at index {index} loaded in {took:.2} s, then {replay} entries to replay"
            );
        }
    }
}
