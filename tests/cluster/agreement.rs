//! Settings that decide how entries apply (`--fuel`, `--memory-mib`, the code target, the
//! wasmtime version) must be the same on every node, or one entry could apply differently on
//! two of them and nothing would say so. A node that differs is refused when it starts on
//! its data directory, and by its peers when it connects; the others go on committing.

use std::time::Duration;
use wasmraft_tests::cluster::{Access, Cluster, put_anywhere};

const OTHER_FUEL: &str = "5000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_other_consensus_settings_is_refused() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let endpoints: Vec<Access> = cluster.ids().iter().map(|&id| cluster.endpoint(id)).collect();
    put_anywhere(&endpoints, 0, "before", "1", Duration::from_secs(10)).await.expect("a write before");

    // Restarted with another --fuel, a node refuses to start and says what differs.
    cluster.stop(3);
    let refused = cluster.serve_command(3).args(["--fuel", OTHER_FUEL]).output().expect("wasmraft runs");
    assert!(!refused.status.success(), "node 3 started with other settings");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains(&format!("fuel_per_call: {OTHER_FUEL} here, 1000000000 there")), "{said}");

    // Made anew with them (as a misconfigured replacement would be), it runs, but its peers
    // refuse its messages and it theirs: nodes 1 and 2 commit without it.
    std::fs::remove_dir_all(&cluster.nodes[&3].data_dir).expect("wipe node 3");
    cluster.spawn_with(3, &["--fuel", OTHER_FUEL]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cluster.status(3).await.is_none() {
        assert!(std::time::Instant::now() < deadline, "node 3 does not answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after =
        put_anywhere(&endpoints[..2], 0, "after", "2", Duration::from_secs(10)).await.expect("nodes 1 and 2 commit");
    let status = cluster.status(3).await.expect("node 3 answers");
    assert!(
        status.applied_index < after.index,
        "node 3 applied {} of the refused cluster's entries",
        status.applied_index
    );
    for id in [1, 2] {
        // Node 3 retries every few hundred milliseconds; one line says it.
        let refusals = cluster.log_of(id).matches("consensus settings differ").count();
        assert_eq!(refusals, 1, "node {id} logged {refusals} refusals of node 3");
    }
    assert!(cluster.log_of(3).contains("other consensus settings"), "node 3 was not told why");
}
