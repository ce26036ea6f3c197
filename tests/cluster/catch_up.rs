//! A node stopped while 10,000 writes happen catches up when it returns: from the log when
//! the log still reaches back to it, by snapshot when it has been compacted away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmraft::proto::client::{Consistency, Encoding, QueryRequest};
use wasmraft_tests::cluster::{Access, Cluster, assert_acked_present, query_with, write_load};

const WRITES: usize = 10_000;

async fn catch_up(cluster: &mut Cluster) -> wasmraft_tests::cluster::Load {
    cluster.leader(Duration::from_secs(10)).await;
    cluster.stop(3);
    let endpoints: Vec<Access> = cluster.endpoints().into_iter().take(2).collect();
    let load = write_load(endpoints, "catchup", 32, Arc::new(AtomicBool::new(false)), Some(WRITES)).await;
    assert_eq!(load.acked.len(), WRITES, "{} writes abandoned", load.abandoned);
    cluster.spawn(3);
    let acked_max = load.acked.iter().map(|a| a.index).max().unwrap();
    cluster.converged(acked_max, Duration::from_secs(60)).await;
    assert_acked_present(cluster, &load).await;
    load
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_catches_up_from_the_log() {
    let mut cluster = Cluster::start(3, &["--snapshot-interval", "1000000"]);
    catch_up(&mut cluster).await;
    let status = cluster.status(3).await.unwrap();
    assert_eq!(status.snapshot_index, 0, "no snapshot was needed");
    assert!(!cluster.log_of(3).contains("installed a snapshot"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_compaction_set_low_a_stopped_node_catches_up_by_snapshot() {
    let mut cluster = Cluster::start(3, &["--snapshot-interval", "1000", "--snapshot-catchup", "100"]);
    catch_up(&mut cluster).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let leader_status = cluster.status(leader).await.unwrap();
    assert!(leader_status.first_log_index > 5000, "the leader compacted its log: {leader_status:?}");
    let status = cluster.status(3).await.unwrap();
    assert!(status.snapshot_index > 5000, "node 3 runs from a snapshot: {status:?}");
    // Old snapshots are removed: about 10 were taken on the leader, 2 are kept.
    let files = wasmraft_tests::cluster::data_dir_files(&cluster.nodes[&leader].data_dir.join("snapshots"));
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(cluster.log_of(3).contains("installed a snapshot from the leader"));
    // And the snapshot is durable: node 3 restarts from it.
    cluster.kill(3);
    cluster.spawn(3);
    cluster.converged(status.applied_index, Duration::from_secs(30)).await;
}

/// Linearizable reads of one key through `node` until `stop`: when each succeeded.
async fn read_load(node: Access, stop: Arc<AtomicBool>) -> Vec<Instant> {
    let mut client = node.connect().await.expect("the node answers");
    let mut done = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let request = QueryRequest {
            query: serde_json::to_vec(&serde_json::json!({ "get": { "key": "k" } })).unwrap(),
            encoding: Encoding::Json as i32,
            consistency: Consistency::Linearizable as i32,
            ..Default::default()
        };
        match query_with(&mut client, request, Duration::from_secs(1)).await {
            Ok(_) => done.push(Instant::now()),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    done
}

/// A follower killed under load and restarted knows its leader soon after it answers, and
/// its return costs the cluster nothing: no election, and no pause in the reads. Every
/// linearizable read's round is a heartbeat, and raft-rs sent the returning follower its
/// probe again at every heartbeat response, a megabyte of entries each time: that kept the
/// leader's Raft thread busy for 1-2 s, reads stopped, and at times the other follower
/// deposed the leader. (The leader's reconnect backed off up to 2 s before, too.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_back_from_a_crash_hears_its_leader_at_once_and_no_election_happens() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let term = cluster.status(leader).await.unwrap().term;
    let endpoints: Vec<Access> =
        cluster.ids().into_iter().filter(|&id| id != follower).map(|id| cluster.endpoint(id)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(write_load(endpoints.clone(), "back", 16, stop.clone(), None));
    let readers: Vec<_> =
        endpoints.iter().cycle().take(4).map(|e| tokio::spawn(read_load(e.clone(), stop.clone()))).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.kill(follower);
    // The writes go on: the follower falls thousands of entries behind.
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.spawn(follower);
    let restarted = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.status(follower).await.is_none() {
        assert!(Instant::now() < deadline, "node {follower} does not answer");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let answered = Instant::now();
    while cluster.status(follower).await.is_none_or(|s| s.leader != leader) {
        assert!(answered.elapsed() < Duration::from_secs(5), "node {follower} knows no leader");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let heard = answered.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let load = load.await.unwrap();
    let mut reads = Vec::new();
    for r in readers {
        reads.extend(r.await.unwrap());
    }
    reads.retain(|&t| t > restarted);
    reads.sort();
    let pause = reads.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(Duration::MAX);
    println!(
        "node {follower} knew its leader {heard:?} after it answered; {} writes, {} reads since the restart, \
         the longest pause between reads {pause:?}",
        load.acked.len(),
        reads.len()
    );
    let now = cluster.status(leader).await.unwrap();
    assert_eq!((now.role.as_str(), now.term), ("leader", term), "an election happened");
    assert!(heard < Duration::from_millis(500), "node {follower} knew its leader only {heard:?} after it answered");
    assert!(pause < Duration::from_millis(500), "reads stopped for {pause:?} while node {follower} caught up");
    assert_acked_present(&cluster, &load).await;
}
