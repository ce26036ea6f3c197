//! The DSS's housekeeping on a cluster: with no client traffic the leader proposes an
//! eviction round for each applier every `--housekeeping-interval`, every node applies it
//! alike, and what ended is kept for the TTL (SCD's 112 days: actual eviction cannot be
//! reached in test time; the appliers' unit tests cover it).

use serde_json::json;
use std::time::{Duration, Instant};
use wasmraft_tests::dss_http::{DSS_START, HttpDss, start_dss};
use wasmraft_tests::dss_scenario::{Dss, SC, caller, volume};
use wasmraft_tests::http::now_secs;

const OIR: &str = "/dss/v1/operational_intent_references/00000000-0000-4000-8000-0000000000f1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_applies_everywhere_and_keeps_what_ended_within_the_ttl() {
    let cluster = start_dss(3, &["--housekeeping-interval", "1s"]);
    let leader = cluster.leader(DSS_START).await;
    let dss = HttpDss::new(&cluster);
    let uss = caller("uss1", &[SC]);

    // The soonest end there is: one the node does not find in the past; with an implicit
    // subscription that ends with it.
    let now = now_secs();
    let oir = json!({"extents": [volume((46.52, 6.56), now, now + 2)], "key": [], "state": "Accepted",
        "uss_base_url": "http://uss1.test", "new_subscription": {"uss_base_url": "http://uss1.test"}});
    let created = dss.expect(201, "PUT", OIR, Some(&uss), Some(oir)).await;
    let subscription = format!(
        "/dss/v1/subscriptions/{}",
        created["operational_intent_reference"]["subscription_id"].as_str().unwrap()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Ended, and nobody writes: only housekeeping adds entries, one a second for each
    // applier (scd and rid), from the leader alone.
    let (quiet, since) = (cluster.status(leader).await.unwrap().applied_index, Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let entries = cluster.status(leader).await.unwrap().applied_index - quiet;
    let seconds = since.elapsed().as_secs();
    assert!((2 * 2..=(seconds + 1) * 2).contains(&entries), "{entries} housekeeping entries in {seconds} s");
    cluster.converged(quiet + entries, Duration::from_secs(10)).await;
    assert!(!cluster.log_of(leader).contains("housekeeping refused"));

    let kept = dss.expect(200, "GET", OIR, Some(&uss), None).await;
    assert_eq!(kept["operational_intent_reference"]["ovn"], created["operational_intent_reference"]["ovn"]);
    dss.expect(200, "GET", &subscription, Some(&uss), None).await;
}
