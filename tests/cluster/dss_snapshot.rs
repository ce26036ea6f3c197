//! A DSS node away while the scenarios run (SCD and RID side by side) comes back,
//! mid-scenario, by snapshot (its log position has been compacted away), takes requests
//! again, and ends identical: each applier's state hash as the other nodes'.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmraft_tests::dss_http::{DSS_START, HttpDss, start_dss};
use wasmraft_tests::dss_scenario::{Rounds, sessions};
use wasmraft_tests::rid_scenario;

/// Rounds while node 3 is away. About 14 entries a round: they pass index 1024, the first
/// point where a node can snapshot (the runtime checkpoints only where the apply instance is
/// fresh, every 1024 entries), and the 20 entries kept behind it.
const AWAY: Range<u32> = 0..80;
/// Rounds while node 3 comes back.
const RETURNING: Range<u32> = 80..96;
/// Rounds through every node, node 3 included.
const BACK: Range<u32> = 96..102;
/// RID rounds beside the SCD ones, while node 3 is away and while it comes back.
const RID_AWAY: Range<u32> = 0..16;
const RID_RETURNING: Range<u32> = 16..24;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dss_node_restored_from_a_snapshot_mid_scenario_ends_identical() {
    let mut cluster = start_dss(3, &["--snapshot-interval", "100", "--snapshot-catchup", "20"]);
    cluster.leader(DSS_START).await;
    let left_at = cluster.status(3).await.unwrap().applied_index;
    cluster.stop(3);
    let dss = Arc::new(HttpDss::new(&cluster));
    dss.send_to(&[1, 2]);
    let rid = tokio::spawn(rid_scenario::sessions(dss.clone(), Rounds::new(RID_AWAY), 2));
    sessions(dss.clone(), Rounds::new(AWAY), 8).await;
    rid.await.expect("every RID round got the answers it expected");
    let leader = cluster.leader(DSS_START).await;
    // The snapshot is written, then the log compacted, after the entries applied.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = cluster.status(leader).await.unwrap();
        if status.first_log_index > left_at + 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the leader's log still reaches back to node 3 (at {left_at}): {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Node 3 returns while rounds run, and takes its share of them once it knows the leader.
    let returning = tokio::spawn(sessions(dss.clone(), Rounds::new(RETURNING), 4));
    let rid = tokio::spawn(rid_scenario::sessions(dss.clone(), Rounds::new(RID_RETURNING), 2));
    cluster.spawn(3);
    cluster.serving(3, Duration::from_secs(30)).await;
    dss.send_to(&[1, 2, 3]);
    returning.await.expect("every round got the answers it expected");
    rid.await.expect("every RID round got the answers it expected");
    sessions(dss.clone(), Rounds::new(BACK), 3).await;

    let applied = cluster.status(leader).await.unwrap().applied_index;
    let appliers = cluster.appliers_converged(applied).await;
    assert_eq!(appliers.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["scd", "rid"]);
    let restored = cluster.status(3).await.unwrap();
    assert!(restored.snapshot_index > left_at + 1000, "node 3 runs from a snapshot: {restored:?}");
    assert!(cluster.log_of(3).contains("installed a snapshot from the leader"));
}
