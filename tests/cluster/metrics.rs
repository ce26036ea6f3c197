//! Prometheus metrics scraped from a real cluster: the figures move under load, and a
//! scrape answers at once whatever the node is doing (a leader change, a restart that
//! catches up by snapshot).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmraft_tests::cluster::{Cluster, write_load};
use wasmraft_tests::http::HttpClient;
use wasmraft_tests::metrics::{Scrape, scrape};

const SCRAPE_WITHIN: Duration = Duration::from_secs(5);

async fn scrape_node(cluster: &Cluster, id: u64) -> Scrape {
    let address = &cluster.nodes[&id].metrics;
    scrape(&HttpClient::default(), address, SCRAPE_WITHIN).await.unwrap_or_else(|e| panic!("node {id}: {e}"))
}

async fn scrape_all(cluster: &Cluster) -> BTreeMap<u64, Scrape> {
    let mut all = BTreeMap::new();
    for id in cluster.running() {
        all.insert(id, scrape_node(cluster, id).await);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_figures_of_a_cluster_under_load_move() {
    let cluster = Cluster::start_with(3, "kv", true, &["--snapshot-interval", "200"]);
    let leader = cluster.leader(Duration::from_secs(20)).await;
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let before = scrape_all(&cluster).await;

    // Past the first block of 1,024 entries, where a snapshot is taken.
    const PUTS: usize = 1200;
    let load = write_load(cluster.endpoints(), "m", 4, Arc::new(AtomicBool::new(false)), Some(PUTS)).await;
    assert_eq!((load.acked.len(), load.abandoned), (PUTS, 0));
    let http = cluster.http_client();
    for i in 0..5 {
        let url = format!("{}/kv/h{i}", cluster.http_url(follower));
        assert_eq!(http.send("PUT", &url, None, Some(b"v".to_vec())).await.unwrap().status, 200);
        assert_eq!(http.send("GET", &url, None, None).await.unwrap().status, 200);
    }
    cluster.converged(PUTS as u64, Duration::from_secs(20)).await;
    let after = scrape_all(&cluster).await;

    let grew =
        |id: u64, name: &str, labels: &[(&str, &str)]| after[&id].sum(name, labels) - before[&id].sum(name, labels);
    for id in cluster.ids() {
        let (b, a) = (&before[&id], &after[&id]);
        let moved = |name: &str| a.get(name) - b.get(name);
        assert!(moved("wasmraft_server_applied_index") >= PUTS as f64, "node {id}");
        assert!(moved("wasmraft_server_proposals_applied_total") >= PUTS as f64, "node {id}");
        assert!(moved("wasmraft_server_proposals_committed_total") >= PUTS as f64, "node {id}");
        assert!(moved("wasmraft_disk_wal_fsync_duration_seconds_count") > 0.0, "node {id}");
        assert!(a.get("wasmraft_server_commit_index") >= a.get("wasmraft_server_applied_index"), "node {id}");
        let applied = grew(id, "wasmraft_apply_duration_seconds_count", &[("applier", "kv"), ("outcome", "ok")]);
        assert!(applied >= PUTS as f64, "node {id}: {applied} commands timed");
        assert!(grew(id, "wasmraft_apply_fuel_sum", &[("applier", "kv")]) > 0.0, "node {id}");
        assert!(a.sum("wasmraft_snapshot_duration_seconds_count", &[("op", "save")]) >= 1.0, "node {id}");
        assert!(a.sum("wasmraft_snapshot_size_bytes_sum", &[("op", "save")]) > 0.0, "node {id}");
        assert_eq!(a.get("wasmraft_server_has_leader"), 1.0, "node {id}");
        assert_eq!(a.get("wasmraft_server_term"), after[&leader].get("wasmraft_server_term"), "node {id}");
        assert_eq!(a.get("wasmraft_server_proposals_pending"), 0.0, "node {id}");
        assert!(a.get("wasmraft_module_compile_duration_seconds_count") >= 1.0, "node {id} compiled its module");
        assert_eq!(a.get("wasmraft_instance_pool_capacity"), 32.0, "node {id}");
        assert!(a.get("wasmraft_instance_pool_component_instances") >= 1.0, "node {id}: the apply instance");
        assert!(a.has("raft_engine_sync_log_duration_seconds_count"), "node {id}: raft-engine's own figures");
    }
    let leaders: Vec<u64> =
        cluster.ids().into_iter().filter(|id| after[id].get("wasmraft_server_is_leader") == 1.0).collect();
    assert_eq!(leaders, vec![leader]);
    for id in cluster.ids().into_iter().filter(|&id| id != leader) {
        let to = id.to_string();
        let trips = grew(leader, "wasmraft_network_peer_round_trip_time_seconds_count", &[("To", &to)]);
        assert!(trips > 0.0, "the leader timed no heartbeat to {id}");
    }
    let proposed: f64 = cluster
        .ids()
        .into_iter()
        .map(|id| {
            let labels = [("grpc_method", "Propose"), ("grpc_code", "OK")];
            grew(id, "grpc_server_handled_total", &labels)
        })
        .sum();
    assert!(proposed >= PUTS as f64, "{proposed} proposals counted at the gRPC doors");
    for method in ["PUT", "GET"] {
        let labels = [("route", "/kv"), ("method", method), ("code", "200")];
        assert_eq!(grew(follower, "wasmraft_http_requests_total", &labels), 5.0, "{method}");
        let timed = [("route", "/kv"), ("method", method)];
        assert_eq!(grew(follower, "wasmraft_http_request_duration_seconds_count", &timed), 5.0, "{method}");
    }
}

/// Scrapes every node every 20 ms until `stop`; returns the slowest answer and how many
/// scrapes went unanswered within [`SCRAPE_WITHIN`] (a refused connection, from a node
/// that is down, is neither).
async fn keep_scraping(addresses: Vec<String>, stop: Arc<AtomicBool>) -> (Duration, usize) {
    let client = HttpClient::default();
    let (mut slowest, mut unanswered) = (Duration::ZERO, 0);
    while !stop.load(Ordering::Relaxed) {
        for address in &addresses {
            let started = Instant::now();
            match scrape(&client, address, SCRAPE_WITHIN).await {
                Ok(_) => slowest = slowest.max(started.elapsed()),
                Err(e) if e.contains("no answer") => unanswered += 1,
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (slowest, unanswered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scrape_answers_at_once_through_a_leader_change_and_a_restart() {
    let mut cluster = Cluster::start_with(3, "kv", false, &["--snapshot-interval", "100", "--snapshot-catchup", "20"]);
    let old = cluster.leader(Duration::from_secs(20)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let addresses = cluster.ids().iter().map(|id| cluster.nodes[id].metrics.clone()).collect();
    let scraper = tokio::spawn(keep_scraping(addresses, stop.clone()));
    let writers = tokio::spawn(write_load(cluster.endpoints(), "r", 4, stop.clone(), None));
    tokio::time::sleep(Duration::from_secs(1)).await;

    cluster.kill(old);
    let new = cluster.leader(Duration::from_secs(10)).await;
    // The leader snapshots (every 1,024 entries) past what the killed node has, and keeps
    // only 20 entries behind: the returning node can only catch up from a snapshot.
    let at_kill = scrape_node(&cluster, new).await.get("wasmraft_server_applied_index") as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.status(new).await.is_none_or(|s| s.snapshot_index <= at_kill + 20) {
        assert!(Instant::now() < deadline, "the new leader takes no snapshot past {at_kill}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.spawn(old);
    let target = scrape_node(&cluster, new).await.get("wasmraft_server_applied_index");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let back = scrape(&HttpClient::default(), &cluster.nodes[&old].metrics, SCRAPE_WITHIN).await;
        if back.is_ok_and(|s| s.get("wasmraft_server_applied_index") >= target) {
            break;
        }
        assert!(Instant::now() < deadline, "node {old} does not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let load = writers.await.unwrap();
    let (slowest, unanswered) = scraper.await.unwrap();
    assert!(load.acked.len() > 1000, "{} writes", load.acked.len());
    assert_eq!(unanswered, 0, "scrapes went unanswered for {SCRAPE_WITHIN:?}");
    assert!(slowest < Duration::from_secs(2), "the slowest scrape took {slowest:?}");

    let (returned, leading) = (scrape_node(&cluster, old).await, scrape_node(&cluster, new).await);
    assert!(returned.sum("wasmraft_snapshot_duration_seconds_count", &[("op", "receive")]) >= 1.0);
    let to = old.to_string();
    assert!(leading.sum("wasmraft_snapshot_duration_seconds_count", &[("op", "send")]) >= 1.0);
    assert!(leading.sum("wasmraft_network_peer_sent_failures_total", &[("To", &to)]) >= 1.0, "while {old} was down");
    assert!(leading.get("wasmraft_server_leader_changes_seen_total") >= 2.0, "the first leader and itself");
    assert_eq!(returned.get("wasmraft_server_has_leader"), 1.0);

    // `status` shows the transfer on both ends, whole, and the logs tell it.
    let shown = |s: Option<wasmraft::proto::client::StatusResponse>, direction: &str, peer: u64| {
        let transfers = s.expect("status").snapshot_transfers;
        let found = transfers.iter().find(|t| t.direction == direction && t.peer == peer && t.state == "done").cloned();
        found.unwrap_or_else(|| panic!("no finished {direction} with {peer} in {transfers:?}"))
    };
    let sent = shown(cluster.status(new).await, "send", old);
    let received = shown(cluster.status(old).await, "receive", new);
    assert!(sent.bytes > 0 && sent.bytes == sent.total_bytes, "{sent:?}");
    assert_eq!((received.index, received.bytes, received.total_bytes), (sent.index, sent.bytes, sent.bytes));
    assert!(cluster.log_of(new).contains("sending a snapshot"), "the leader's log tells the transfer");
    assert!(cluster.log_of(old).contains("receiving a snapshot"));
}
