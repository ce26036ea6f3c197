//! The SCD DSS (scd.wasm) over HTTP on a real 3-node cluster with real RS256 tokens: the
//! scenario (`wasmraft_tests::dss_scenario`: all 18 F3548 routes and the aux routes), each
//! request to another node; afterwards every node reports the same state. Then, on the same
//! cluster, bodies meant to hurt: refused without being proposed, and the nodes keep serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmraft_tests::cluster::Cluster;
use wasmraft_tests::dss_http::{HttpDss, start_dss};
use wasmraft_tests::dss_scenario::{Dss, SC, session};
use wasmraft_tests::http::{HttpClient, token};

const OIR: &str = "/dss/v1/operational_intent_references/00000000-0000-4000-8000-0000000000e1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uss_session_touches_every_route_then_bad_bodies_are_refused_and_every_node_agrees() {
    // No housekeeping entry may land while the bad bodies are checked for leaving no trace.
    let cluster = start_dss(3, &["--housekeeping-interval", "1h"]);
    cluster.leader(Duration::from_secs(10)).await;
    let dss = HttpDss::new(&cluster);
    session(&dss, 0).await;
    let applied = cluster.status(1).await.unwrap().applied_index;
    let (applied, hash) = cluster.converged(applied, Duration::from_secs(10)).await;
    assert_eq!(hash.len(), 64);

    bad_bodies(&cluster, &dss).await;
    assert_eq!(cluster.converged(applied, Duration::from_secs(10)).await, (applied, hash), "a refused body changed the state");
}

/// Resident memory of process `pid`, bytes (0 once it is gone).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches(" kB").parse().ok());
    kib.unwrap_or(0) << 10
}

/// `PUT path` with a body of `size` spaces, on a connection of its own that reads while it
/// writes, as curl does: the node answers a body over its limit before the body is sent and
/// closes, and hyper's client then reports the broken connection, not the answer. The status
/// and body of the answer.
fn put_huge(address: &str, path: &str, token: &str, size: usize) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    let mut writer = stream.try_clone().expect("clone");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n"
    );
    let sender = std::thread::spawn(move || {
        let chunk = vec![b' '; 64 << 10];
        // Stops at the first error: the node closed the connection.
        let _ = writer.write_all(head.as_bytes()).and_then(|()| (0..size / chunk.len()).try_for_each(|_| writer.write_all(&chunk)));
    });
    let mut response = Vec::new();
    // Until the node closes the connection (it would after answering even if it read the
    // whole body: `connection: close`); a reset after its answer loses nothing read.
    let _ = stream.read_to_end(&mut response);
    sender.join().unwrap();
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no answer: {text:?}"));
    (status, text.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_string())
}

/// 10 MiB bodies (over the 1 MiB default limit) get 413 before the module sees them, without
/// the node holding them; 100,000 levels of nesting get a 400 that says why.
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
    let huge: Vec<_> = (0..4)
        .map(|_| {
            let (address, token) = (address.clone(), token.clone());
            tokio::task::spawn_blocking(move || put_huge(&address, OIR, &token, 10 << 20))
        })
        .collect();
    for answer in huge {
        let (status, body) = answer.await.unwrap();
        assert_eq!(status, 413, "{body}");
        assert!(body.contains("over this node's limit"), "{body}");
    }
    sending.store(false, Ordering::Relaxed);
    let grown = sampler.join().unwrap().saturating_sub(before);
    assert!(grown < 20 << 20, "4 bodies of 10 MiB grew node 2 by {} MiB", grown >> 20);

    let http = HttpClient::default();
    let url = format!("http://{address}{OIR}");
    // Bare, the nesting is refused at its 3rd level (a volume is no array); whole, under a
    // field the body does not have, it is skipped (without recursion), and then the body lacks
    // what an OIR needs.
    let skipped = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    for (nested, why) in [("[".repeat(100_000), "Malformed params: invalid type"), (skipped, "Missing required UssBaseUrl")] {
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
