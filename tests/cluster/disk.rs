//! What a node finds on its disk after a crash, or that it did not write, never stops it:
//! snapshot files it never adopted, a bootstrap that stopped halfway. What it lost does: a
//! log that is gone stops it with a clear error rather than let it forget its votes.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use wasmraft::proto::client::member_change::Change;
use wasmraft::proto::client::{AddLearner, Remove};
use wasmraft_tests::cluster::{
    Cluster, assert_acked_present, change_members, change_members_until, data_dir_files, transfer_leader, write_load,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_files_beyond_the_commit_never_cost_a_node_its_real_snapshot() {
    let mut cluster = Cluster::start(3, &["--snapshot-interval", "1000", "--snapshot-catchup", "100"]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    // Two files far ahead of anything committed (as a snapshot received but refused by Raft
    // was kept, or planted): they must not make the node prune its own snapshots.
    let snapshots = cluster.nodes[&follower].data_dir.join("snapshots");
    let far = format!("snap-{:020}-", 1u64 << 40);
    for term in [1, 2] {
        std::fs::write(snapshots.join(format!("{far}{term:020}.wrsnap")), b"not a snapshot").unwrap();
    }
    let load = write_load(cluster.endpoints(), "planted", 16, Arc::new(AtomicBool::new(false)), Some(3000)).await;
    assert_eq!(load.abandoned, 0);
    let acked_max = load.acked.iter().map(|a| a.index).max().unwrap();
    cluster.converged(acked_max, Duration::from_secs(30)).await;
    let status = cluster.status(follower).await.unwrap();
    assert!(status.first_log_index > 1000, "the follower compacted its log behind a snapshot: {status:?}");

    cluster.kill(follower);
    cluster.spawn(follower);
    cluster.converged(acked_max, Duration::from_secs(30)).await;
    assert_acked_present(&cluster, &load).await;
    let left: Vec<_> = data_dir_files(&snapshots).into_iter().filter(|p| p.to_string_lossy().contains(&far)).collect();
    assert!(left.is_empty(), "files beyond the commit are removed at start: {left:?}");
}

/// Adds node `id` as a learner whose data directory `prepare` sets up before it first runs.
async fn join_with(cluster: &mut Cluster, id: u64, prepare: impl FnOnce(&std::path::Path)) {
    let address = cluster.new_node(id, 1);
    change_members_until(cluster, 1, Change::AddLearner(AddLearner { id, address }), Duration::from_secs(30))
        .await
        .unwrap();
    let dir = cluster.nodes[&id].data_dir.clone();
    std::fs::create_dir_all(&dir).unwrap();
    prepare(&dir);
    cluster.spawn(id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_bootstrap_stopped_halfway_starts() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let load = write_load(cluster.endpoints(), "before", 4, Arc::new(AtomicBool::new(false)), Some(100)).await;
    let node1 = cluster.nodes[&1].data_dir.clone();
    // As older versions left a crash between writing the identity and the module.
    join_with(&mut cluster, 4, |dir| {
        let mut identity: serde_json::Value =
            serde_json::from_slice(&std::fs::read(node1.join("identity.json")).unwrap()).unwrap();
        identity["node_id"] = 4.into();
        std::fs::write(dir.join("identity.json"), serde_json::to_vec(&identity).unwrap()).unwrap();
    })
    .await;
    // As a crash before the identity (written last) leaves it, a temporary included.
    join_with(&mut cluster, 5, |dir| {
        std::fs::copy(node1.join("module.wasm"), dir.join("module.wasm")).unwrap();
        std::fs::write(dir.join("members.json.tmp"), b"{\"addr").unwrap();
    })
    .await;
    // A crash while writing the identity, with a second applier's module written: such a
    // directory was refused as "not a wasmraft data directory" at every start.
    join_with(&mut cluster, 6, |dir| {
        std::fs::copy(node1.join("module.wasm"), dir.join("module.wasm")).unwrap();
        std::fs::copy(node1.join("module.wasm"), dir.join("module-2.wasm")).unwrap();
        std::fs::write(dir.join("identity.json.tmp"), b"{\"clus").unwrap();
    })
    .await;
    let acked_max = load.acked.iter().map(|a| a.index).max().unwrap();
    cluster.converged(acked_max, Duration::from_secs(30)).await;
    assert_acked_present(&cluster, &load).await;
}

/// A node whose member book on disk is older than its snapshot (a stop between adopting a
/// snapshot and saving the book it carries) must start from the snapshot's book: the log
/// replays only from the snapshot on, so the changes between are never replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_book_older_than_the_snapshot_is_not_what_a_node_starts_from() {
    let mut cluster = Cluster::start(3, &["--snapshot-interval", "100", "--snapshot-catchup", "10"]);
    cluster.leader(Duration::from_secs(10)).await;
    let book = cluster.nodes[&3].data_dir.join("members.json");
    let old = std::fs::read(&book).unwrap();
    let learner = Change::AddLearner(AddLearner { id: 4, address: "127.0.0.1:1".into() });
    change_members_until(&cluster, 1, learner.clone(), Duration::from_secs(30)).await.unwrap();
    let remove = Change::Remove(Remove { id: 4 });
    let removed_at = change_members_until(&cluster, 1, remove, Duration::from_secs(30)).await.unwrap().index;
    // Snapshots are taken at the first entry of a block of 1,024 (the runtime's reset).
    let load = write_load(cluster.endpoints(), "after", 16, Arc::new(AtomicBool::new(false)), Some(1200)).await;
    let acked_max = load.acked.iter().map(|a| a.index).max().unwrap();
    cluster.converged(acked_max, Duration::from_secs(30)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while cluster.status(3).await.map_or(0, |s| s.snapshot_index) <= removed_at {
        assert!(std::time::Instant::now() < deadline, "node 3 never snapshotted past the removal");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    cluster.kill(3);
    std::fs::write(&book, old).unwrap();
    cluster.spawn(3);
    cluster.serving(3, Duration::from_secs(10)).await;
    transfer_leader(&cluster, 3, 3).await.expect("leadership moves to 3");
    // Node 3 checks changes against its book: a removed id stays refused.
    let e = change_members(&cluster, 3, learner).await.expect_err("id 4 was removed");
    assert!(e.message().contains("cannot be reused"), "{e:?}");
    cluster.converged(acked_max, Duration::from_secs(30)).await;
    assert_acked_present(&cluster, &load).await;
}

/// What node `id` says as it refuses to start (within 20 s: one that starts fails the test).
async fn refusal_to_start(cluster: &Cluster, id: u64) -> String {
    let mut child = cluster.serve_command(id).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("node {id} started");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    stderr
}

/// A node whose write-ahead log is gone (its disk not mounted, say) while the rest of its
/// directory is there must not start: it started as a new voter with term 0 and an empty
/// log, removed its snapshots, and could vote for a node without the entries it had
/// acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_log_is_gone_refuses_to_start() {
    let mut cluster = Cluster::start(3, &["--snapshot-interval", "1000"]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    // Past the first snapshot (taken at a 1,024-entry boundary).
    let load = write_load(cluster.endpoints(), "before", 16, Arc::new(AtomicBool::new(false)), Some(1100)).await;
    assert_eq!(load.abandoned, 0);
    cluster.converged(load.acked.iter().map(|a| a.index).max().unwrap(), Duration::from_secs(30)).await;
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.stop(follower);
    let dir = cluster.nodes[&follower].data_dir.clone();
    assert!(!data_dir_files(&dir.join("snapshots")).is_empty(), "the follower took a snapshot");
    for emptied in [false, true] {
        // Gone altogether, then there but empty (a mount point with nothing mounted).
        let log = dir.join("log");
        let _ = std::fs::remove_dir_all(&log);
        if emptied {
            std::fs::create_dir(&log).unwrap();
        }
        let stderr = refusal_to_start(&cluster, follower).await;
        assert!(stderr.contains("write-ahead log") && stderr.contains("has run before"), "{stderr}");
        let snapshots = data_dir_files(&dir.join("snapshots"));
        assert!(!snapshots.is_empty(), "its snapshots are kept");
    }
}

/// A node that lost one of the module files its cluster started with must not start: with
/// no snapshot yet, it replayed the log without that applier (its entries all refused as
/// for no such applier), a state of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_missing_a_module_its_cluster_started_with_refuses_to_start() {
    let mut cluster = Cluster::start_hosting(3, &["kv", "testkit"], false, &[]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.stop(follower);
    let second = cluster.nodes[&follower].data_dir.join("module-2.wasm");
    let bytes = std::fs::read(&second).unwrap();
    std::fs::remove_file(&second).unwrap();
    let stderr = refusal_to_start(&cluster, follower).await;
    assert!(stderr.contains("holds 1 module file(s)") && stderr.contains("started with 2"), "{stderr}");
    // Put back, it starts.
    std::fs::write(&second, bytes).unwrap();
    cluster.spawn(follower);
    cluster.serving(follower, Duration::from_secs(15)).await;
    cluster.appliers_converged(1).await;
}
