//! The DSS's "busy S2 cell", as USS clients load it over HTTP (the workload is
//! `wasmraft_tests::busy_cell`'s); each client waits 10-100 ms between its requests.
//!
//! Clients step up (4, 16, 64, 128), each step for `STEP` on the same cluster, and the run
//! stops where throughput stops growing. Per step: successful requests/s, p50/p99/p99.9,
//! failures by status, the requests answered (successes and genuine 409s) beside the most
//! the clients' pacing lets them send, and what one applied entry cost the leader's apply
//! thread (its CPU time over the entries it applied). 3 real nodes with HTTP, RS256 tokens,
//! fsync on.
//!
//! `cargo xtask bench-busy-cell [MEAN_MS JITTER_MS]` (with a delay between the nodes, as
//! `bench-delay`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmraft_tests::Rng;
use wasmraft_tests::bench::thread_cpu;
use wasmraft_tests::busy_cell::{self, RADIUS_M};
use wasmraft_tests::delay::{self, Delay, DelayedCluster};
use wasmraft_tests::http::{auth_flags, now_secs, token};

const STEPS: [usize; 4] = [4, 16, 64, 128];
const STEP: Duration = Duration::from_secs(20);
/// A client's pause between requests: uniform in this range of milliseconds. With their
/// mean it caps what `n` clients can send at all: `n` / 55 ms, even at no latency.
const PAUSE_MS: (u64, u64) = (10, 100);

/// What one client saw.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    failures: BTreeMap<u16, usize>,
}

/// One USS client on `base` until `stop`: its own ids, its own key of every OVN it has
/// received, its own pacing.
async fn client(base: String, token: String, seed: u64, stop: Arc<AtomicBool>) -> Seen {
    let http = wasmraft_tests::http::HttpClient::default();
    let mut rng = Rng(seed);
    let (mut seen, mut key) = (Seen::default(), Vec::<String>::new());
    while !stop.load(Ordering::Relaxed) {
        let body = busy_cell::intent(busy_cell::flight(&mut rng, now_secs()), &key);
        let url = format!("{base}/dss/v1/operational_intent_references/{}", busy_cell::uuid4_hex(&mut rng));
        let t = Instant::now();
        match http.send("PUT", &url, Some(&token), Some(body.into_bytes())).await {
            Ok(reply) => {
                if reply.status == 201 {
                    seen.latencies.push(t.elapsed());
                } else {
                    *seen.failures.entry(reply.status).or_default() += 1;
                }
                // A conflict names the intents whose OVNs the key lacked: received, so kept.
                key.extend(busy_cell::ovns_received(reply.status, &reply.body));
            }
            Err(_) => *seen.failures.entry(0).or_default() += 1,
        }
        tokio::time::sleep(Duration::from_millis(PAUSE_MS.0 + rng.below(PAUSE_MS.1 - PAUSE_MS.0 + 1))).await;
    }
    seen
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

async fn bench(delay: Option<Delay>) {
    let mut flags = auth_flags();
    if busy_cell::time_based_index() {
        flags.extend(["--http-setting".into(), format!("{}=true", busy_cell::TIME_BASED_SETTING)]);
        println!("with time-based notification indices (no index bumped)");
    }
    let DelayedCluster { cluster, proxy: _proxy, .. } =
        delay::start_cluster(delay, &["scd"], &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let leader = cluster.leader(Duration::from_secs(30)).await;
    let token = token("uss1", &["utm.strategic_coordination"]);
    let http = cluster.http_client();
    let subscription = busy_cell::circle_subscription(now_secs());
    let url = format!("{}/dss/v1/subscriptions/{}", cluster.http_url(leader), busy_cell::uuid4_hex(&mut Rng(7)));
    let reply = http.json("PUT", &url, Some(&token), &subscription).await.expect("the subscription");
    assert_eq!(reply.status, 200, "the subscription: {}", reply.text());
    let pid = cluster.pid(leader).expect("the leader runs");
    println!(
        "busy cell: SCD over HTTP, 3 nodes{}; one subscription over a {RADIUS_M} m circle; intents on 100 m paths \
         inside it, 60 s long, 1 m bands, each with an implicit subscription and a key of every OVN its client \
         received; 10-100 ms between a client's requests; {} s per step",
        delay.map_or(String::new(), |d| format!(
            " {:.1} ± {:.1} ms apart one way",
            d.mean.as_secs_f64() * 1e3,
            d.jitter.as_secs_f64() * 1e3
        )),
        STEP.as_secs()
    );
    let mut best = 0.0f64;
    for clients in STEPS {
        let stop = Arc::new(AtomicBool::new(false));
        let applied_before = cluster.status(leader).await.expect("status").applied_index;
        let cpu_before = thread_cpu(pid, "apply");
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let base = cluster.http_url(1 + c as u64 % 3);
                tokio::spawn(client(base, token.clone(), (clients * 1000 + c) as u64, stop.clone()))
            })
            .collect();
        tokio::time::sleep(STEP).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Seen::default();
        for t in tasks {
            let seen = t.await.expect("a client");
            all.latencies.extend(seen.latencies);
            for (status, n) in seen.failures {
                *all.failures.entry(status).or_default() += n;
            }
        }
        let elapsed = started.elapsed();
        let applied = cluster.status(leader).await.expect("status").applied_index - applied_before;
        let apply_cpu = thread_cpu(pid, "apply") - cpu_before;
        all.latencies.sort();
        let rate = all.latencies.len() as f64 / elapsed.as_secs_f64();
        let failures: Vec<String> = all.failures.iter().map(|(s, n)| format!("{n} × {s}")).collect();
        // Genuine conflicts are answers too: the clients' pacing bounds the two together.
        let answered =
            (all.latencies.len() + all.failures.get(&409).copied().unwrap_or(0)) as f64 / elapsed.as_secs_f64();
        let ceiling = clients as f64 * 2_000.0 / (PAUSE_MS.0 + PAUSE_MS.1) as f64;
        println!(
            "{clients:>4} clients: {rate:>6.1} successful req/s   p50 {:>7.1} ms   p99 {:>7.1} ms   p99.9 {:>7.1} ms   \
             failures: {}   answered {answered:.0} req/s (the pacing's ceiling {ceiling:.0})   \
             apply {:.0} µs/entry ({applied} entries)",
            percentile(&all.latencies, 0.5),
            percentile(&all.latencies, 0.99),
            percentile(&all.latencies, 0.999),
            if failures.is_empty() { "none".to_string() } else { failures.join(", ") },
            apply_cpu.as_secs_f64() * 1e6 / applied.max(1) as f64,
        );
        if rate < best * 1.1 {
            println!("throughput stopped growing: done");
            break;
        }
        best = best.max(rate);
    }
}

fn main() {
    delay::bench_main(bench);
}
