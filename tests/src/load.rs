//! HTTP load on a cluster's front doors for the DSS benchmarks: many clients spread over the
//! nodes, each request checked, and the figures they print (requests per second, latency
//! percentiles).

use crate::cluster::Cluster;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One request: method, path (with its query), JSON body if any.
pub type Request = (&'static str, String, Option<Value>);

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Throughput and latency percentiles of one run.
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    /// Operations per second.
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub count: usize,
    pub elapsed: Duration,
}

impl Figures {
    /// The figures of `latencies` (one per operation) over `elapsed`.
    pub fn of(mut latencies: Vec<Duration>, elapsed: Duration) -> Figures {
        latencies.sort();
        Figures {
            rate: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
            count: latencies.len(),
            elapsed,
        }
    }

    /// One line: `what` (padded to `width`), the rate in `unit`s, p50, p99 and the count of
    /// `noun`.
    pub fn print(&self, what: &str, width: usize, unit: &str, noun: &str) {
        println!(
            "{what:<width$} {:>7.0} {unit}   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} {noun} in {:.1} s)",
            self.rate,
            ms(self.p50),
            ms(self.p99),
            self.count,
            self.elapsed.as_secs_f64()
        );
    }
}

pub fn report(what: &str, latencies: Vec<Duration>, elapsed: Duration) {
    Figures::of(latencies, elapsed).print(what, 44, "req/s", "requests");
}

/// "p50 X ms p99 Y ms mean Z ms" of `latencies`.
pub fn summary(mut latencies: Vec<Duration>) -> String {
    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len().max(1) as u32;
    format!(
        "p50 {:>6.2} ms   p99 {:>6.2} ms   mean {:>6.2} ms",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(mean)
    )
}

/// The latencies of requests sent to the leader and to the followers, apart: a follower
/// hands a write to the leader and waits to hear it committed, a peer round trip more.
pub fn report_by_role(leader: u64, tagged: &[(u64, Duration)]) {
    let (on_leader, on_followers): (Vec<_>, Vec<_>) = tagged.iter().partition(|(node, _)| *node == leader);
    let only = |v: Vec<&(u64, Duration)>| v.into_iter().map(|(_, d)| *d).collect::<Vec<_>>();
    println!("    through the leader (node {leader}):  {}", summary(only(on_leader)));
    println!("    through the followers:        {}", summary(only(on_followers)));
}

/// `clients` clients, client `c` on node `1 + c % 3`, running request `i` (of `total`) as
/// `make(i)` with `token(i)`, each expecting `status`: every latency with the node that
/// answered it, and the time it all took.
pub async fn drive(
    cluster: &Cluster,
    clients: usize,
    token: impl Fn(usize) -> String + Send + Sync + 'static,
    total: usize,
    status: u16,
    make: impl Fn(usize) -> Request + Send + Sync + 'static,
) -> (Vec<(u64, Duration)>, Duration) {
    let (next, make, token) = (Arc::new(AtomicUsize::new(0)), Arc::new(make), Arc::new(token));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (next, make, token) = (next.clone(), make.clone(), token.clone());
            let node = 1 + c as u64 % 3;
            let (base, http) = (cluster.http_url(node), cluster.http_client());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return latencies;
                    }
                    let (method, path, body) = make(i);
                    let body = body.map(|b| serde_json::to_vec(&b).expect("JSON"));
                    let t = Instant::now();
                    let url = format!("{base}{path}");
                    let reply = http.send(method, &url, Some(&token(i)), body).await.expect("request");
                    assert_eq!(reply.status, status, "{method} {path}: {}", reply.text());
                    latencies.push((node, t.elapsed()));
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
