//! The SCD DSS (scd.wasm) over HTTP on a real 3-node cluster with real RS256 tokens: the
//! scenario (`wasmraft_tests::dss_scenario`: all 18 F3548 routes and the aux routes), each
//! request to another node; afterwards every node reports the same state. Then, on the same
//! cluster, bodies meant to hurt: refused without being proposed, and the nodes keep serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmraft_tests::cluster::Cluster;
use wasmraft_tests::dss_http::{DSS_START, HttpDss, start_dss};
use wasmraft_tests::dss_scenario::{Dss, SC, session};
use wasmraft_tests::http::{HttpClient, token};

const OIR: &str = "/dss/v1/operational_intent_references/00000000-0000-4000-8000-0000000000e1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uss_session_touches_every_route_then_bad_bodies_are_refused_and_every_node_agrees() {
    // No housekeeping entry may land while the bad bodies are checked for leaving no trace.
    let cluster = start_dss(3, &["--housekeeping-interval", "1h"]);
    cluster.leader(DSS_START).await;
    let dss = HttpDss::new(&cluster);
    session(&dss, 0).await;
    let applied = cluster.status(1).await.unwrap().applied_index;
    let (applied, hash) = cluster.converged(applied, Duration::from_secs(10)).await;
    assert_eq!(hash.len(), 64);

    bad_bodies(&cluster, &dss).await;
    assert_eq!(
        cluster.converged(applied, Duration::from_secs(10)).await,
        (applied, hash),
        "a refused body changed the state"
    );
}

/// Resident memory of process `pid`, bytes (0 once it is gone).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok());
    kib.unwrap_or(0) << 10
}

/// 10 MiB bodies (over the 1 MiB default limit) get 413 before the module sees them, without
/// the node holding them, and a plain HTTP client (which writes the whole body before it
/// reads) sees that 413, not a reset connection; 100,000 levels of nesting get a 400 that
/// says why.
async fn bad_bodies(cluster: &Cluster, dss: &HttpDss) {
    let token = token("uss1", &[SC]);
    let address = cluster.nodes[&2].http.clone().unwrap();
    let pid = cluster.pid(2).expect("node 2 runs");

    // Node 2's memory, sampled while 4 such bodies arrive at once: were they buffered, it
    // would grow by 40 MiB.
    let before = rss(pid);
    let sending = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sending = sending.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while sending.load(Ordering::Relaxed) {
                peak = peak.max(rss(pid));
                std::thread::sleep(Duration::from_millis(1));
            }
            peak
        })
    };
    let url = format!("http://{address}{OIR}");
    let huge: Vec<_> = (0..4)
        .map(|_| {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move {
                HttpClient::default().send("PUT", &url, Some(&token), Some(vec![b' '; 10 << 20])).await
            })
        })
        .collect();
    for answer in huge {
        let reply = answer.await.unwrap().expect("the 413, not a broken connection");
        assert_eq!(reply.status, 413, "{}", reply.text());
        assert!(reply.text().contains("over this node's limit"), "{}", reply.text());
    }
    sending.store(false, Ordering::Relaxed);
    let grown = sampler.join().unwrap().saturating_sub(before);
    // Held, they alone would be 40 MiB, on top of what the 4 answers cost anyway (their
    // connections' buffers and render instances, a few MiB each).
    assert!(grown < 32 << 20, "4 bodies of 10 MiB grew node 2 by {} MiB", grown >> 20);

    let http = HttpClient::default();
    // Bare, the nesting is refused at its 3rd level (a volume is no array); whole, under a
    // field the body does not have, it is skipped (without recursion), and then the body lacks
    // what an OIR needs.
    let skipped = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    for (nested, why) in
        [("[".repeat(100_000), "Malformed params: invalid type"), (skipped, "Missing required UssBaseUrl")]
    {
        let reply = http.send("PUT", &url, Some(&token), Some(nested.into_bytes())).await.expect("an answer");
        assert_eq!(reply.status, 400, "{}", reply.text());
        assert!(reply.text().contains(why), "{}", reply.text());
    }
    // Every node still serves.
    for _ in cluster.ids() {
        let version = dss.expect(200, "GET", "/aux/v1/version", None, None).await;
        assert!(version["version"].is_string());
    }
}
