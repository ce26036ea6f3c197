//! The whole DSS in one cluster: scd (strategic coordination and aux) and rid (remote ID,
//! F3411 v1 and v2) hosted side by side on 3 nodes. USS sessions of both services run at
//! once through every node and every node ends with the same state hash for each; each
//! service upgrades alone while both services' sessions run, without a failed request, and
//! the other's module and upgrade history stay as they were (and its state hash, checked on
//! an idle cluster).

use std::sync::Arc;
use std::time::Duration;
use wasmraft_tests::cluster::{Cluster, Hosted, upgrade_applier};
use wasmraft_tests::dss_http::{DSS_START, HttpDss, start_dss};
use wasmraft_tests::dss_scenario::{self, Dss, Rounds};
use wasmraft_tests::module_bytes;
use wasmraft_tests::rid_scenario;

/// The hosted appliers once every node agrees on everything applied so far.
async fn settled(cluster: &Cluster) -> Vec<Hosted> {
    let leader = cluster.leader(DSS_START).await;
    let applied = cluster.status(leader).await.unwrap().applied_index;
    cluster.appliers_converged(applied).await
}

/// Runs both services' sessions (3 clients each, rounds from `first`) until `module` has
/// replaced `applier` (once each has made some requests), then 4 rounds more of each; every
/// request must get the answer its scenario expects. Returns the upgrade's index.
async fn upgrade_under_load(cluster: &Cluster, dss: &Arc<HttpDss>, first: u32, applier: &str, module: &str) -> u64 {
    let (scd_rounds, rid_rounds) = (Rounds::new(first..u32::MAX), Rounds::new(first..u32::MAX));
    let scd = tokio::spawn(dss_scenario::sessions(dss.clone(), scd_rounds.clone(), 3));
    let rid = tokio::spawn(rid_scenario::sessions(dss.clone(), rid_rounds.clone(), 3));
    let start = dss.requests();
    while dss.requests() < start + 100 && !scd.is_finished() && !rid.is_finished() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let leader = cluster.leader(DSS_START).await;
    // Through a follower: the module travels to the leader like any proposal.
    let via = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let upgraded = upgrade_applier(cluster, via, applier, module_bytes(module), false).await.expect("upgrade accepted");
    scd_rounds.stop_after(4);
    rid_rounds.stop_after(4);
    scd.await.expect("every SCD round got the answers it expected");
    rid.await.expect("every RID round got the answers it expected");
    upgraded.index
}

/// (name, version, upgrade history) of a hosted applier: what an upgrade of another
/// applier must leave as it was while that applier's own sessions change its state.
fn module_of(hosted: &Hosted) -> (&str, &str, &[(u64, String)]) {
    (&hosted.name, &hosted.version, &hosted.upgrades)
}

/// On an idle cluster, `module` replaces `applier` (a downgrade allowed): every other
/// applier's state hash, too, stays as it was.
async fn upgrade_idle(cluster: &Cluster, applier: &str, module: &str) -> Vec<Hosted> {
    let before = settled(cluster).await;
    let leader = cluster.leader(DSS_START).await;
    let upgraded = upgrade_applier(cluster, leader, applier, module_bytes(module), true).await.expect("accepted");
    let after = cluster.appliers_converged(upgraded.index).await;
    for (b, a) in before.iter().zip(&after).filter(|(b, _)| b.name != applier) {
        assert_eq!(a, b, "{} is untouched by {applier}'s upgrade", b.name);
    }
    after
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scd_and_rid_serve_side_by_side_and_each_upgrades_alone() {
    // No housekeeping entry may change an idle service's state while it is compared.
    let cluster = start_dss(3, &["--housekeeping-interval", "1h"]);
    cluster.leader(DSS_START).await;
    let dss = Arc::new(HttpDss::new(&cluster));

    // Both services at once, each request to the next node.
    let scd = tokio::spawn(dss_scenario::sessions(dss.clone(), Rounds::new(0..8), 2));
    let rid = tokio::spawn(rid_scenario::sessions(dss.clone(), Rounds::new(0..8), 2));
    scd.await.expect("every SCD round got the answers it expected");
    rid.await.expect("every RID round got the answers it expected");
    let before = settled(&cluster).await;
    let names: Vec<(&str, &str)> = before.iter().map(|a| (a.name.as_str(), a.version.as_str())).collect();
    assert_eq!(names, [("scd", "1.5.0"), ("rid", "1.1.0")]);

    // One base URL serves the whole DSS; every node reports the same DSS airspace
    // representation (the cluster's id, no setting given).
    let pool_reader = dss_scenario::caller("ops", &["interuss.pool_status.read"]);
    let mut dar_ids = Vec::new();
    for _ in cluster.ids() {
        let pool = dss.expect(200, "GET", "/aux/v1/pool", Some(&pool_reader), None).await;
        dar_ids.push(pool["dar_id"].as_str().unwrap_or_default().to_string());
    }
    assert!(dar_ids[0].len() == 16 && dar_ids.iter().all(|d| *d == dar_ids[0]), "{dar_ids:?}");
    let versions = dss_scenario::caller("qualifier", &["interuss.versioning.read_system_versions"]);
    let version = dss.expect(200, "GET", "/versions/gov.eu.uspace.v1.netid", Some(&versions), None).await;
    assert_eq!(version["system_identity"], "gov.eu.uspace.v1.netid");

    // rid 1.1.0 -> 1.1.1 while both services' sessions run: scd's module is untouched.
    let index = upgrade_under_load(&cluster, &dss, 100, "rid", "rid-next").await;
    let after = settled(&cluster).await;
    assert_eq!(module_of(&after[0]), module_of(&before[0]), "scd's module is untouched by rid's upgrade");
    assert_eq!(module_of(&after[1]), ("rid", "1.1.1", &[(index, "1.1.1".to_string())][..]));

    // scd 1.5.0 -> 1.5.1 while both run: rid's module is untouched.
    let index = upgrade_under_load(&cluster, &dss, 200, "scd", "scd-next").await;
    let last = settled(&cluster).await;
    assert_eq!(module_of(&last[1]), module_of(&after[1]), "rid's module is untouched by scd's upgrade");
    assert_eq!(module_of(&last[0]), ("scd", "1.5.1", &[(index, "1.5.1".to_string())][..]));

    // And their state hashes: each back to its first version on an idle cluster, the
    // other's hash unchanged.
    let back = upgrade_idle(&cluster, "rid", "rid").await;
    assert_eq!(back[1].version, "1.1.0");
    let back = upgrade_idle(&cluster, "scd", "scd").await;
    assert_eq!(back[0].version, "1.5.0");
}
