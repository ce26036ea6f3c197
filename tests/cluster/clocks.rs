//! Time in the log comes from the leader's clock: a node whose clock is an hour off moves
//! the cluster's time (and every expiry the DSS computes from it) by at most
//! `MAX_CLOCK_SKEW_NS` (1 s) while it follows. The clocks are shifted with libfaketime,
//! preloaded into the nodes (their monotonic clocks, which Raft's timers read, stay true).

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wasmraft::entry::MAX_CLOCK_SKEW_NS;
use wasmraft_tests::cluster::{Cluster, output, propose, transfer_leader};

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// The seconds since midnight of the first log line of `log` (`2026-12-02T11:20:48.1Z ...`).
fn second_of_day(log: &str) -> i64 {
    let time = &log.lines().next().expect("a log line")[11..19];
    let parts: Vec<i64> = time.split(':').map(|p| p.parse().expect("HH:MM:SS")).collect();
    parts[0] * 3600 + parts[1] * 60 + parts[2]
}

/// How far `log`'s first line lies ahead of the true time, in seconds (mod one day).
fn log_ahead_secs(log: &str) -> i64 {
    let now = (now_ns() / 1_000_000_000 % 86_400) as i64;
    (second_of_day(log) - now).rem_euclid(86_400)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_an_hour_off_moves_the_clusters_time_by_a_second_at_most() {
    let mut cluster = Cluster::start_with(3, "testkit", false, &[]);
    cluster.leader(Duration::from_secs(15)).await;
    // Node 1 leads, with the true time; nodes 2 and 3 come back an hour ahead and behind.
    while transfer_leader(&cluster, 1, 1).await.ok() != Some(1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (id, offset) in [(2, "+1h"), (3, "-1h")] {
        cluster.kill(id);
        let mut cmd = cluster.serve_command(id);
        cmd.env("LD_PRELOAD", wasmraft_tests::faketime_lib())
            .env("FAKETIME", offset)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        std::fs::write(cluster.log_path(id), "").unwrap();
        cluster.spawn_command(id, cmd);
        cluster.serving(id, Duration::from_secs(15)).await;
    }
    let ahead = log_ahead_secs(&cluster.log_of(2));
    assert!((3500..3700).contains(&ahead), "node 2's clock is {ahead} s ahead, not an hour");
    let behind = 86_400 - log_ahead_secs(&cluster.log_of(3));
    assert!((3500..3700).contains(&behind), "node 3's clock is {behind} s behind, not an hour");

    let observe = serde_json::to_vec(&serde_json::json!("observe")).unwrap();
    // Slack for the time between reading our clock and the leader reading its own.
    let slack = 500_000_000;
    for id in [2, 3, 1, 2, 3] {
        let mut client = cluster.client(id).await.unwrap();
        let before = now_ns();
        let response = propose(&mut client, observe.clone(), Duration::from_secs(10)).await.expect("observe");
        let after = now_ns();
        let seen = output(&response).unwrap()["observed"]["now_ns"].as_u64().expect("now_ns");
        let (low, high) = (before - MAX_CLOCK_SKEW_NS - slack, after + MAX_CLOCK_SKEW_NS + slack);
        assert!(
            (low..=high).contains(&seen),
            "through node {id}, an entry applied at {:+.3} s from the true time",
            (seen as f64 - before as f64) / 1e9
        );
    }
    assert_eq!(cluster.leader(Duration::from_secs(5)).await, 1, "leadership moved");
}
