//! kill -9, of the leader, of one node with a torn log tail, of every node at once: no
//! acknowledged write is lost, and the nodes end with equal state hashes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmraft_tests::cluster::{Cluster, Load, assert_acked_present, write_load};

/// Waits for every running node to hold every acknowledged write, with equal state hashes.
async fn assert_nothing_lost(cluster: &Cluster, load: &Load) {
    assert!(load.acked.len() > 100, "only {} writes acknowledged", load.acked.len());
    let acked_max = load.acked.iter().map(|a| a.index).max().unwrap();
    cluster.converged(acked_max, Duration::from_secs(20)).await;
    assert_acked_present(cluster, load).await;
}

/// Runs a write load through every node until `stop` is set.
fn start_load(cluster: &Cluster, prefix: &str, stop: &Arc<AtomicBool>) -> tokio::task::JoinHandle<Load> {
    let (endpoints, prefix, stop) = (cluster.endpoints(), prefix.to_string(), stop.clone());
    tokio::spawn(async move { write_load(endpoints, &prefix, 8, stop, None).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_under_writes_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(&cluster, "failover", &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = Instant::now();
    cluster.kill(leader);
    let new_leader = cluster.leader(Duration::from_secs(10)).await;
    assert_ne!(new_leader, leader);
    let elected_after = killed_at.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let load = load.await.unwrap();

    // Writes resumed under the new leader: some were acknowledged at higher indexes than
    // anything before the kill could have reached.
    let max_index = load.acked.iter().map(|a| a.index).max().unwrap();
    assert!(load.acked.iter().filter(|a| a.index > max_index / 2).count() > 10);

    cluster.spawn(leader);
    assert_nothing_lost(&cluster, &load).await;
    eprintln!(
        "new leader elected {elected_after:?} after kill -9; {} writes acknowledged, {} abandoned",
        load.acked.len(),
        load.abandoned
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_killed_at_once_keeps_every_acknowledged_write() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(&cluster, "crash", &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in cluster.ids() {
        cluster.kill(id);
    }
    stop.store(true, Ordering::Relaxed);
    let load = load.await.unwrap();
    for id in cluster.ids() {
        cluster.spawn(id);
    }
    cluster.leader(Duration::from_secs(15)).await;
    assert_nothing_lost(&cluster, &load).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_log_tail_after_a_crash_recovers() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(&cluster, "torn", &stop);
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.kill(3);
    // The crash tore the last record node 3 was writing.
    let file = cluster.newest_log_file(3);
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(len - 11).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.spawn(3);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let load = load.await.unwrap();
    assert_nothing_lost(&cluster, &load).await;
}
