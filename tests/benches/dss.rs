//! The SCD DSS over HTTP on a local 3-node cluster (real processes, loopback, fsync on, real
//! RS256 tokens), in a congested area: every operational intent covers the same ~1 km²
//! polygon (a handful of S2 cells), each in an altitude band of its own so that none needs
//! another's OVN. Creates from 64 clients spread over the 3 nodes, then queries of one
//! altitude band (every query walks the cells' whole index). Run with `cargo xtask bench`.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmraft_tests::cluster::Cluster;
use wasmraft_tests::http::{HttpClient, auth_flags, now_secs, rfc3339, token};

const CLIENTS: usize = 64;
const CREATES: usize = 3_000;
const QUERIES: usize = 2_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn report(what: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    println!(
        "{what:<44} {:>7.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests in {:.1} s)",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.len(),
        elapsed.as_secs_f64()
    );
}

fn volume(band: usize, start: u64, end: u64) -> Value {
    let lower = band as f64 * 2.0;
    json!({
        "volume": {
            "outline_polygon": {"vertices": [
                {"lat": 46.520, "lng": 6.560}, {"lat": 46.520, "lng": 6.573},
                {"lat": 46.529, "lng": 6.573}, {"lat": 46.529, "lng": 6.560}
            ]},
            "altitude_lower": {"value": lower, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": lower + 1.0, "reference": "W84", "units": "M"}
        },
        "time_start": {"value": rfc3339(start), "format": "RFC3339"},
        "time_end": {"value": rfc3339(end), "format": "RFC3339"}
    })
}

/// `CLIENTS` clients, client `c` on node `1 + c % 3`, running request `i` (of `total`) as
/// `make(i)` -> (method, path, body), each expecting `status`.
async fn drive(
    cluster: &Cluster,
    token: &str,
    total: usize,
    status: u16,
    make: impl Fn(usize) -> (&'static str, String, Value) + Send + Sync + 'static,
) -> (Vec<Duration>, Duration) {
    let (next, make) = (Arc::new(AtomicUsize::new(0)), Arc::new(make));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (next, make, token) = (next.clone(), make.clone(), token.to_string());
            let base = cluster.http_url(1 + c as u64 % 3);
            tokio::spawn(async move {
                let http = HttpClient::default();
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return latencies;
                    }
                    let (method, path, body) = make(i);
                    let t = Instant::now();
                    let reply = http.json(method, &format!("{base}{path}"), Some(&token), &body).await.expect("request");
                    assert_eq!(reply.status, status, "{method} {path}: {}", reply.text());
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    (all, started.elapsed())
}

fn id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i >> 16, i)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut flags = auth_flags();
    flags.push("--allow-http-base-urls".into());
    let cluster = Cluster::start_with(3, "scd", true, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    cluster.leader(Duration::from_secs(10)).await;
    let token = token("uss1", &["utm.strategic_coordination"]);
    let (start, end) = (now_secs() + 600, now_secs() + 3 * 3600);
    println!("SCD over HTTP, 3 nodes, {CLIENTS} clients over all nodes, one ~1 km² area:");

    let (latencies, elapsed) = drive(&cluster, &token, CREATES, 201, move |i| {
        let body = json!({"extents": [volume(i, start, end)], "state": "Accepted", "uss_base_url": "http://uss1.test"});
        ("PUT", format!("/dss/v1/operational_intent_references/{}", id(i)), body)
    })
    .await;
    report(&format!("operational intent creates (to {CREATES})"), latencies, elapsed);

    let (latencies, elapsed) = drive(&cluster, &token, QUERIES, 200, move |i| {
        let body = json!({"area_of_interest": volume(i % CREATES, start, end)});
        ("POST", "/dss/v1/operational_intent_references/query".to_string(), body)
    })
    .await;
    report(&format!("queries of one band among {CREATES} intents"), latencies, elapsed);
    let applied = cluster.status(1).await.expect("status").applied_index;
    cluster.converged(applied, Duration::from_secs(30)).await;
}
