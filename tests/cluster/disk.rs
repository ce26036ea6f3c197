//! What a node finds on its disk after a crash, or that it did not write, never stops it:
//! a bootstrap that stopped halfway.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use wasmraft::proto::client::AddLearner;
use wasmraft::proto::client::member_change::Change;
use wasmraft_tests::cluster::{Cluster, assert_acked_present, change_members_until, write_load};

/// Adds node `id` as a learner whose data directory `prepare` sets up before it first runs.
async fn join_with(cluster: &mut Cluster, id: u64, prepare: impl FnOnce(&std::path::Path)) {
    let address = cluster.new_node(id, 1);
    change_members_until(cluster, 1, Change::AddLearner(AddLearner { id, address }), Duration::from_secs(30)).await.unwrap();
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
        let mut identity: serde_json::Value = serde_json::from_slice(&std::fs::read(node1.join("identity.json")).unwrap()).unwrap();
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
    let acked_max = load.acked.iter().map(|a| a.index).max().unwrap();
    cluster.converged(acked_max, Duration::from_secs(30)).await;
    assert_acked_present(&cluster, &load).await;
}
