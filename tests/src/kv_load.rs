//! KV load through a cluster's gRPC client API, for the cluster benchmark and the comparison
//! with etcd: clients, each on a connection of its own, putting or getting random keys (of
//! 100,000) with 256-byte values until a total, and the figures they print. [`drive`] serves
//! any client (a wasmraft node's, an etcd member's); [`puts`] and [`gets`] are wasmraft's.

use crate::Rng;
use crate::cluster::{Access, propose_once, put_command, query_with};
use crate::load::Figures;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmraft::proto::client::{Consistency, Encoding, QueryRequest};

/// Bytes in a value.
pub const VALUE: usize = 256;
/// Keys are drawn from this many.
pub const KEYS: u64 = 100_000;
/// The first seed of writers' keys: client `c` draws from `WRITERS + c`.
pub const WRITERS: u64 = 0;
/// The first seed of readers' keys, other than the writers': about a third of the keys read
/// exist.
pub const READERS: u64 = 1000;

/// A key's name from its number (below [`KEYS`]).
pub type KeyName = fn(u64) -> String;

/// Every operation's deadline.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn value() -> String {
    "v".repeat(VALUE)
}

/// Prints the figures of a run as one line (ops/s, p50, p99) and returns them.
pub fn report(what: &str, latencies: Vec<Duration>, elapsed: Duration) -> Figures {
    let figures = Figures::of(latencies, elapsed);
    figures.print(what, 28, "ops/s", "ops");
    figures
}

/// `clients` concurrent clients, client `c` on the connection `connect(c)` makes, each
/// running `op` on random keys (numbers below [`KEYS`], drawn from seed `seed + c`, named by
/// `key`) until `total` operations in all, or `stop`; every latency, and the time it all took.
pub async fn drive<C, Connect, Connecting, Op, Done>(
    clients: usize,
    connect: Connect,
    key: KeyName,
    seed: u64,
    total: usize,
    stop: Arc<AtomicBool>,
    op: Op,
) -> (Vec<Duration>, Duration)
where
    Connect: Fn(usize) -> Connecting,
    Connecting: Future<Output = C> + Send + 'static,
    C: Clone + Send + 'static,
    Op: Fn(C, String) -> Done + Clone + Send + 'static,
    Done: Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (next, stop, op, connecting) = (next.clone(), stop.clone(), op.clone(), connect(c));
            tokio::spawn(async move {
                let client = connecting.await;
                let mut rng = Rng(seed + c as u64);
                let mut latencies = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < total && !stop.load(Ordering::Relaxed) {
                    let key = key(rng.below(KEYS));
                    let t = Instant::now();
                    op(client.clone(), key).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    (all, started.elapsed())
}

/// `clients` concurrent writers to the wasmraft node at `endpoint`, until `total` puts or
/// `stop`; with `request_ids`, each put carries a request id of its own (as `wasmraft
/// propose` sends).
pub async fn puts(
    endpoint: Access,
    key: KeyName,
    clients: usize,
    total: usize,
    stop: Arc<AtomicBool>,
    request_ids: bool,
) -> (Vec<Duration>, Duration) {
    let sent = Arc::new(AtomicUsize::new(0));
    let connect = move |_| {
        let endpoint = endpoint.clone();
        async move { endpoint.connect().await.expect("connect") }
    };
    drive(clients, connect, key, WRITERS, total, stop, move |mut client, key| {
        let id = if request_ids { format!("{:032x}", sent.fetch_add(1, Ordering::Relaxed)) } else { String::new() };
        async move {
            propose_once(&mut client, put_command(&key, &value()), &id, DEADLINE).await.expect("put");
        }
    })
    .await
}

/// `clients` concurrent readers, client `c` on the wasmraft node at `endpoints[c % len]`,
/// `total` gets of `consistency` (stale: at most 5 s behind).
pub async fn gets(
    endpoints: Vec<Access>,
    key: KeyName,
    consistency: Consistency,
    clients: usize,
    total: usize,
) -> (Vec<Duration>, Duration) {
    let connect = move |c: usize| {
        let endpoint = endpoints[c % endpoints.len()].clone();
        async move { endpoint.connect().await.expect("connect") }
    };
    drive(clients, connect, key, READERS, total, Arc::default(), move |mut client, key| async move {
        let request = QueryRequest {
            query: serde_json::to_vec(&serde_json::json!({ "get": { "key": key } })).unwrap(),
            encoding: Encoding::Json as i32,
            consistency: consistency as i32,
            max_staleness_ms: 5_000,
            applier: String::new(),
        };
        let _answered = query_with(&mut client, request, DEADLINE).await.expect("get");
    })
    .await
}
