//! scd.wasm upgraded to a newer version (scd-next.wasm: the same applier at 1.5.1) while USS
//! sessions run through every node: every request gets the answer the scenario expects (no
//! 5xx, no broken connection), and every node then runs and reports the new version.

use std::sync::Arc;
use std::time::Duration;
use wasmraft_tests::cluster::upgrade;
use wasmraft_tests::dss_http::{DSS_START, HttpDss, start_dss};
use wasmraft_tests::dss_scenario::{Dss, Rounds, sessions};
use wasmraft_tests::module_bytes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_scd_while_uss_sessions_run_fails_no_request() {
    let cluster = start_dss(3, &[]);
    let leader = cluster.leader(DSS_START).await;
    let dss = Arc::new(HttpDss::new(&cluster));
    let rounds = Rounds::new(0..u32::MAX);
    let load = tokio::spawn(sessions(dss.clone(), rounds.clone(), 4));
    // Well under way: entries of several rounds applied on the old version.
    while dss.requests() < 100 && !load.is_finished() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Through a follower: the module travels to the leader like any proposal.
    let via = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let upgraded = upgrade(&cluster, via, module_bytes("scd-next"), false).await.expect("upgrade accepted");
    assert_eq!(upgraded.module.as_ref().map(|m| m.version.as_str()), Some("1.5.1"), "{upgraded:?}");
    // Rounds on the new version, some begun on the old one.
    rounds.stop_after(12);
    load.await.expect("every round got the answers it expected");

    let applied = cluster.status(leader).await.unwrap().applied_index;
    let (applied, _) = cluster.converged(applied, Duration::from_secs(10)).await;
    assert!(
        applied > upgraded.index + 100,
        "rounds ran on the new version: the switch at {}, the end at {applied}",
        upgraded.index
    );
    for id in cluster.ids() {
        let module = cluster.status(id).await.unwrap().module.expect("a module");
        assert_eq!((module.version.as_str(), module.since_index), ("1.5.1", upgraded.index), "node {id}");
        // `dss` sends each request to the next node: one round of this loop asks each once.
        let version = dss.expect(200, "GET", "/aux/v1/version", None, None).await;
        assert_eq!(version["version"], "scd-1.5.1");
    }
}
