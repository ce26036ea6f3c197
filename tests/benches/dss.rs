//! The SCD DSS over HTTP on a local 3-node cluster (real processes, loopback, fsync on, real
//! RS256 tokens), in congested areas: every operational intent covers the same ~1 km²
//! polygon (a handful of S2 cells), each in an altitude band of its own so that none needs
//! another's OVN. Creates from 64 clients spread over the 3 nodes, then queries of one
//! intent's band and window. Two areas:
//! - all at once: every intent over the same 3-hour window, the cell index's worst case (its
//!   keys are ordered by time, so every search reads all the area's keys);
//! - a busy spot: 20-minute flights, one taking off every 15 seconds.
//!
//! Run with `cargo xtask bench`.
//!
//! `WASMRAFT_BENCH_DELAY=MEAN_MS,JITTER_MS` (`cargo xtask bench-delay`: 16.5,7.5, as the
//! reference DSS is measured with `tc netem delay 16.5ms 7.5ms`) puts a delay proxy between
//! the nodes (see `wasmraft_tests::delay`; clients reach the nodes directly), measures the
//! peer round trip it makes and the latency of one request at a time, and splits the
//! figures between clients of the leader and of the followers.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmraft::proto::peer::JoinRequest;
use wasmraft::proto::peer::peer_client::PeerClient;
use wasmraft_tests::cluster::Cluster;
use wasmraft_tests::delay::{self, Delay, DelayedCluster};
use wasmraft_tests::http::{auth_flags, now_secs, rfc3339, token};
use wasmraft_tests::load::{Request, drive, ms, report, report_by_role, summary};

const CLIENTS: usize = 64;
/// Creates in the all-at-once area (each search there reads all of its keys) and at the
/// busy spot (each reads the keys near its window).
const CREATES: usize = 3_000;
const BUSY_CREATES: usize = 10_000;
const QUERIES: usize = 2_000;
/// The congested area, and one elsewhere for the one-at-a-time requests of the delayed
/// mode (so that they leave the congested one as the default mode fills it).
const AREA: [(f64, f64); 4] = [(46.520, 6.560), (46.520, 6.573), (46.529, 6.573), (46.529, 6.560)];
const BUSY_AREA: [(f64, f64); 4] = [(46.620, 6.560), (46.620, 6.573), (46.629, 6.573), (46.629, 6.560)];
const QUIET_AREA: [(f64, f64); 4] = [(47.020, 7.060), (47.020, 7.073), (47.029, 7.073), (47.029, 7.060)];
/// Requests one at a time through each node, and peer round trips per node, in the delayed mode.
const ONE_AT_A_TIME: usize = 20;
const ROUND_TRIPS: usize = 30;
/// Where the ids of the intents in the quiet area start.
const QUIET_IDS: usize = 1 << 20;

fn volume(area: &[(f64, f64)], band: usize, start: u64, end: u64) -> Value {
    let lower = band as f64 * 2.0;
    let vertices: Vec<Value> = area.iter().map(|(lat, lng)| json!({"lat": lat, "lng": lng})).collect();
    json!({
        "volume": {
            "outline_polygon": {"vertices": vertices},
            "altitude_lower": {"value": lower, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": lower + 1.0, "reference": "W84", "units": "M"}
        },
        "time_start": {"value": rfc3339(start), "format": "RFC3339"},
        "time_end": {"value": rfc3339(end), "format": "RFC3339"}
    })
}

/// Intent `n` over `area` in altitude band `band`.
fn create(area: &[(f64, f64)], n: usize, band: usize, start: u64, end: u64) -> Request {
    let body =
        json!({"extents": [volume(area, band, start, end)], "state": "Accepted", "uss_base_url": "http://uss1.test"});
    ("PUT", format!("/dss/v1/operational_intent_references/{}", id(n)), Some(body))
}

fn query(area: &[(f64, f64)], band: usize, start: u64, end: u64) -> Request {
    (
        "POST",
        "/dss/v1/operational_intent_references/query".to_string(),
        Some(json!({"area_of_interest": volume(area, band, start, end)})),
    )
}

/// Every request as the same USS.
fn uss1() -> impl Fn(usize) -> String + Send + Sync + 'static {
    let token = token("uss1", &["utm.strategic_coordination"]);
    move |_| token.clone()
}

fn id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i >> 16, i)
}

/// `ROUND_TRIPS` peer calls to the peer door at `address` on one connection (after a few
/// to open it): a `Join` for an id that is no member, which the node refuses at once.
async fn round_trips(address: &str) -> Vec<Duration> {
    let mut client = PeerClient::connect(format!("http://{address}")).await.expect("a gRPC connection");
    let mut took = Vec::new();
    for call in 0..ROUND_TRIPS + 5 {
        let t = Instant::now();
        let refused = client.join(JoinRequest { id: u64::MAX }).await;
        assert!(refused.is_err(), "no node joins as {}", u64::MAX);
        if call >= 5 {
            took.push(t.elapsed());
        }
    }
    took
}

/// The peer round trip as the nodes see it (a gRPC call through each node's proxy), next
/// to the same call straight to the node.
async fn measure_round_trips(cluster: &Cluster, doors: &BTreeMap<u64, String>) {
    let (mut delayed, mut direct) = (Vec::new(), Vec::new());
    for (id, door) in doors {
        delayed.extend(round_trips(door).await);
        direct.extend(round_trips(cluster.peer_address(*id)).await);
    }
    println!("peer round trip (a peer gRPC call, {} per node), through the delay: {}", ROUND_TRIPS, summary(delayed));
    println!("{:<62}direct: {}", "", summary(direct));
}

/// Creates then queries, one at a time, through `node`, in an area of their own (bands
/// from `first`): the latency of a request with no queue ahead of it.
async fn one_at_a_time(
    cluster: &Cluster,
    node: u64,
    token: &str,
    first: usize,
    start: u64,
    end: u64,
) -> (Vec<Duration>, Vec<Duration>) {
    let (http, base) = (cluster.http_client(), cluster.http_url(node));
    let timed = async |(method, path, body): Request, expected: u16| {
        let t = Instant::now();
        let body = body.map(|b| serde_json::to_vec(&b).expect("JSON"));
        let reply = http.send(method, &format!("{base}{path}"), Some(token), body).await.expect("request");
        assert_eq!(reply.status, expected, "{method} {path}: {}", reply.text());
        t.elapsed()
    };
    let (mut creates, mut queries) = (Vec::new(), Vec::new());
    for band in first..first + ONE_AT_A_TIME {
        creates.push(timed(create(&QUIET_AREA, QUIET_IDS + band, band, start, end), 201).await);
    }
    for band in first..first + ONE_AT_A_TIME {
        queries.push(timed(query(&QUIET_AREA, band, start, end), 200).await);
    }
    (creates, queries)
}

/// Creates at a busy spot (as below) on a cluster in the clear and on one with TLS on every
/// door (HTTPS for the USS clients), alternately, two rounds each on fresh clusters.
async fn tls_cost(flags: &[&str]) {
    const TLS_CREATES: usize = 5_000;
    println!("the cost of TLS, {CLIENTS} clients, {TLS_CREATES} operational intent creates at a busy spot, 2 rounds:");
    for _round in 0..2 {
        for tls in [false, true] {
            let cluster = if tls {
                Cluster::start_tls(3, "scd", true, flags)
            } else {
                Cluster::start_with(3, "scd", true, flags)
            };
            cluster.leader(Duration::from_secs(10)).await;
            let start = now_secs() + 600;
            let (latencies, elapsed) = drive(&cluster, CLIENTS, uss1(), TLS_CREATES, 201, move |i| {
                let s = start + 15 * i as u64;
                create(&BUSY_AREA, i, i, s, s + 1200)
            })
            .await;
            let what = if tls { "  TLS on (HTTPS; mutual TLS between nodes)" } else { "  TLS off" };
            report(what, latencies.iter().map(|(_, d)| *d).collect(), elapsed);
        }
    }
}

async fn bench(delay: Option<Delay>) {
    let mut flags = auth_flags();
    flags.push("--allow-http-base-urls".into());
    if delay.is_none() {
        tls_cost(&flags.iter().map(String::as_str).collect::<Vec<_>>()).await;
    }
    let DelayedCluster { cluster, doors, proxy: _proxy } =
        delay::start_cluster(delay, &["scd"], &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let leader = cluster.leader(Duration::from_secs(if delay.is_some() { 30 } else { 10 })).await;
    let token = token("uss1", &["utm.strategic_coordination"]);
    let (start, end) = (now_secs() + 600, now_secs() + 3 * 3600);
    match delay {
        None => println!("SCD over HTTP, 3 nodes, {CLIENTS} clients over all nodes, one ~1 km² area:"),
        Some(d) => println!(
            "SCD over HTTP, 3 nodes {:.1} ± {:.1} ms apart one way (a userspace delay proxy standing in for netem), \
             {CLIENTS} clients over all nodes (no delay to them), one ~1 km² area:",
            ms(d.mean),
            ms(d.jitter)
        ),
    }
    if delay.is_some() {
        measure_round_trips(&cluster, &doors).await;
        let follower = (1..=3).find(|&id| id != leader).expect("a follower");
        for (node, role, first) in [(leader, "the leader", 0), (follower, "a follower", ONE_AT_A_TIME)] {
            let (creates, queries) = one_at_a_time(&cluster, node, &token, first, start, end).await;
            println!("one at a time through {role} (node {node}): creates {}", summary(creates));
            println!("{:<40}queries {}", "", summary(queries));
        }
    }

    // Flight `i` of the busy spot: 20 minutes, one taking off every 15 s.
    let staggered = move |i: usize| (start + 15 * i as u64, start + 15 * i as u64 + 1200);
    struct Case {
        what: &'static str,
        area: &'static [(f64, f64)],
        /// The window of intent `i`.
        window: Box<dyn Fn(usize) -> (u64, u64) + Send + Sync>,
        creates: usize,
    }
    let cases = [
        Case {
            what: "all at once (one 3-hour window)",
            area: &AREA,
            window: Box::new(move |_| (start, end)),
            creates: CREATES,
        },
        Case {
            what: "a busy spot (20-min flights, one every 15 s)",
            area: &BUSY_AREA,
            window: Box::new(staggered),
            creates: BUSY_CREATES,
        },
    ];
    let mut first = 0;
    for Case { what, area, window, creates } in cases {
        println!("{what}:");
        let window = Arc::new(window);
        let w = window.clone();
        let (latencies, elapsed) = drive(&cluster, CLIENTS, uss1(), creates, 201, move |i| {
            let (s, e) = w(i);
            create(area, first + i, i, s, e)
        })
        .await;
        first += creates;
        report(
            &format!("  operational intent creates (to {creates})"),
            latencies.iter().map(|(_, d)| *d).collect(),
            elapsed,
        );
        if delay.is_some() {
            report_by_role(leader, &latencies);
        }
        let (latencies, elapsed) = drive(&cluster, CLIENTS, uss1(), QUERIES, 200, move |i| {
            let band = i * 7919 % creates;
            let (s, e) = window(band);
            query(area, band, s, e)
        })
        .await;
        report("  queries of one intent's band and window", latencies.iter().map(|(_, d)| *d).collect(), elapsed);
        if delay.is_some() {
            report_by_role(leader, &latencies);
        }
    }
    let applied = cluster.status(1).await.expect("status").applied_index;
    cluster.converged(applied, Duration::from_secs(30)).await;
}

fn main() {
    delay::bench_main(bench);
}
