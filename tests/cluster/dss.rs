//! The SCD DSS (scd.wasm) over HTTP on a real 3-node cluster with real RS256 tokens: the
//! scenario (`wasmraft_tests::dss_scenario`: all 18 F3548 routes and the aux routes), each
//! request to another node; afterwards every node reports the same state. Then, on the same
//! cluster, bodies meant to hurt: refused without being proposed, and the nodes keep serving.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmraft_tests::cluster::Cluster;
use wasmraft_tests::dss_http::{DSS_START, HttpDss, start_dss};
use wasmraft_tests::dss_scenario::{Dss, SC, caller, session, volume};
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

/// With time-of-day indices (`time-based-notification-index=true`), whom a change notifies
/// is listed by the module's `render` from the state the node hands it, the state just after
/// the entry: each answer, from whichever node took the request, lists the subscriptions
/// over the intent (the explicit one, the earlier intents' implicit ones and its own), each
/// at the entry's time of day; a retry (same idempotency key, another node) gets the same
/// answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_based_answers_list_whom_each_change_notifies_on_every_node() {
    let cluster = start_dss(3, &["--http-setting", "time-based-notification-index=true"]);
    cluster.leader(DSS_START).await;
    let dss = HttpDss::new(&cluster);
    let (uss1, uss2) = (caller("uss1", &[SC]), caller("uss2", &[SC]));
    let now = dss.now_secs();
    let area = volume((46.52, 6.56), now + 60, now + 3600);
    let sub = "00000000-0000-4000-8000-0000000000c1";
    let body = json!({"extents": area, "uss_base_url": "http://uss2.test", "notify_for_operational_intents": true});
    dss.expect(200, "PUT", &format!("/dss/v1/subscriptions/{sub}"), Some(&uss2), Some(body)).await;
    let mut key: Vec<String> = Vec::new();
    let mut expected = vec![sub.to_string()];
    let intent = |n: u32, key: &[String]| {
        let path = format!("/dss/v1/operational_intent_references/00000000-0000-4000-8000-00000000000{n}");
        let body = json!({"extents": [area], "key": key, "state": "Accepted", "uss_base_url": "http://uss1.test",
            "new_subscription": {"uss_base_url": "http://uss1.test"}});
        (path, body)
    };
    // Checks that `reply` lists `expected` and its own implicit subscription, all at one index.
    let check = |reply: &Value, expected: &mut Vec<String>, key: &mut Vec<String>| {
        let oir = &reply["operational_intent_reference"];
        expected.push(oir["subscription_id"].as_str().unwrap().to_string());
        key.push(oir["ovn"].as_str().unwrap().to_string());
        let listed: Vec<&Value> = reply["subscribers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["subscriptions"].as_array().unwrap())
            .collect();
        let mut ids: Vec<String> = listed.iter().map(|s| s["subscription_id"].as_str().unwrap().to_string()).collect();
        ids.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(ids, want, "{reply}");
        let index = &listed[0]["notification_index"];
        assert!(index.as_i64().is_some_and(|ms| (0..86_400_000).contains(&ms)), "{reply}");
        assert!(listed.iter().all(|s| &s["notification_index"] == index), "one entry, one time: {reply}");
    };
    for n in 1..=3 {
        let (path, body) = intent(n, &key);
        let reply = dss.expect(201, "PUT", &path, Some(&uss1), Some(body)).await;
        check(&reply, &mut expected, &mut key);
    }
    // A retried request renders its first output at the retry's state: the same answer.
    let (path, body) = intent(4, &key);
    let (http, token) = (HttpClient::default(), token("uss1", &[SC]));
    let headers = [("idempotency-key", "intent-4")];
    let body = serde_json::to_vec(&body).unwrap();
    let mut replies = Vec::new();
    for node in [2, 3] {
        let url = format!("{}{path}", cluster.http_url(node));
        let reply = http.send_with("PUT", &url, Some(&token), &headers, Some(body.clone())).await.unwrap();
        assert_eq!(reply.status, 201, "{}", reply.text());
        replies.push(reply);
    }
    assert_eq!(replies[1].headers.get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
    let (first, retry) = (replies[0].json(), replies[1].json());
    assert_eq!(first, retry, "the retry's answer is the first one");
    check(&first, &mut expected, &mut key);
    let applied = cluster.status(1).await.unwrap().applied_index;
    cluster.converged(applied, Duration::from_secs(10)).await;
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
