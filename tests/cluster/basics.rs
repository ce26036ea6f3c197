//! Three nodes agree: writes through every node, reads from every node, equal state hashes.

use std::time::Duration;
use wasmraft_tests::cluster::{Cluster, get, output, propose, put_command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_every_node_reach_every_node() {
    let cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let mut last_index = 0;
    for i in 0..90u64 {
        let id = 1 + i % 3;
        let mut client = cluster.client(id).await.expect("node reachable");
        let response =
            propose(&mut client, put_command(&format!("key-{i:03}"), &format!("v{i}")), Duration::from_secs(5))
                .await
                .unwrap_or_else(|e| panic!("write {i} through node {id}: {e}"));
        let out = output(&response).expect("applied");
        assert_eq!(out["written"]["version"], 1);
        assert!(response.index > last_index, "indexes increase");
        last_index = response.index;
    }
    let (applied, hash) = cluster.converged(last_index, Duration::from_secs(10)).await;
    assert!(applied >= 90);
    assert_eq!(hash.len(), 64);
    for id in cluster.ids() {
        assert_eq!(get(&cluster, id, "key-042").await.as_deref(), Some("v42"), "node {id}");
        assert_eq!(get(&cluster, id, "missing").await, None);
        let status = cluster.status(id).await.unwrap();
        assert_eq!(status.members.len(), 3);
        assert_eq!(status.module.unwrap().name, "kv");
        // A node runs without transparent huge pages (host/src/main.rs), where the kernel
        // reports it (5.0 and later).
        let proc_status = std::fs::read_to_string(format!("/proc/{}/status", cluster.pid(id).unwrap())).unwrap();
        if let Some(thp) = proc_status.lines().find_map(|l| l.strip_prefix("THP_enabled:")) {
            assert_eq!(thp.trim(), "0", "node {id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applier_refusal_is_an_answer_not_a_failure() {
    let cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let mut client = cluster.client(2).await.unwrap();
    let delete = serde_json::to_vec(&serde_json::json!({ "delete": { "key": "nothing" } })).unwrap();
    let response = propose(&mut client, delete, Duration::from_secs(5)).await.expect("the entry applied");
    assert_eq!(output(&response).unwrap_err(), "not-found: key `nothing` does not exist");
    let garbage = propose(&mut client, b"{\"put\": 1}".to_vec(), Duration::from_secs(5)).await.expect("applied");
    assert!(output(&garbage).unwrap_err().starts_with("bad-request"));
    // Refusals change nothing, on any node.
    let (_, hash) = cluster.converged(response.index, Duration::from_secs(10)).await;
    let fresh = Cluster::start(1, &[]);
    fresh.leader(Duration::from_secs(10)).await;
    let (_, empty) = fresh.converged(1, Duration::from_secs(10)).await;
    assert_eq!(hash, empty, "the state is still empty");
}
