//! How long a cluster goes without one successful operation while a node fails, measured as
//! a Jepsen-style run measures it: 8 clients, each a loop of puts and linearizable gets on 8
//! keys through its own node (as Jepsen binds clients to nodes; 1 s per attempt), while
//! faults come in rounds: kill -9 of the leader, kill -9 of a follower, SIGSTOP of the
//! leader, SIGSTOP of a follower, the leader and a follower cut off the network, each held
//! 3 s and then undone (restart, SIGCONT, rejoin). Partitions need root: each node then
//! runs in a network namespace of its own (tests/src/netns.rs); without root they are
//! skipped.
//! For each kind of fault: the longest window without a successful operation, from the
//! fault to 3 s after it was undone, in every round. A 3-node cluster with TLS on, the
//! nodes' default settings (`WASMRAFT_BENCH_ARGS` adds `serve` flags, to try others).
//!
//! `cargo xtask availability [ROUNDS]` (default 3); `WASMRAFT_AVAILABILITY_FAULT` keeps the
//! faults whose name contains it (`SIGSTOP the leader`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmraft::proto::client::{Consistency, Encoding, QueryRequest};
use wasmraft_tests::Rng;
use wasmraft_tests::cluster::{Access, Client, Cluster, propose, put_command, query_with};

const CLIENTS: usize = 8;
const KEYS: u64 = 8;
const ATTEMPT: Duration = Duration::from_secs(1);
const HOLD: Duration = Duration::from_secs(3);
const SETTLE: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug)]
enum Fault {
    KillLeader,
    KillFollower,
    PauseLeader,
    PauseFollower,
    CutLeader,
    CutFollower,
}

impl Fault {
    const ALL: [Fault; 6] = [
        Fault::KillLeader,
        Fault::KillFollower,
        Fault::PauseLeader,
        Fault::PauseFollower,
        Fault::CutLeader,
        Fault::CutFollower,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::KillLeader => "kill -9 the leader",
            Fault::KillFollower => "kill -9 a follower",
            Fault::PauseLeader => "SIGSTOP the leader",
            Fault::PauseFollower => "SIGSTOP a follower",
            Fault::CutLeader => "cut the leader off",
            Fault::CutFollower => "cut a follower off",
        }
    }

    fn on_leader(self) -> bool {
        matches!(self, Fault::KillLeader | Fault::PauseLeader | Fault::CutLeader)
    }

    /// Applies the fault to `victim`, holds it, and undoes it.
    async fn run(self, cluster: &mut Cluster, victim: u64) {
        match self {
            Fault::KillLeader | Fault::KillFollower => {
                cluster.kill(victim);
                tokio::time::sleep(HOLD).await;
                cluster.spawn(victim);
            }
            Fault::PauseLeader | Fault::PauseFollower => {
                cluster.pause(victim, true);
                tokio::time::sleep(HOLD).await;
                cluster.pause(victim, false);
            }
            Fault::CutLeader | Fault::CutFollower => {
                cluster.cut(victim, true);
                tokio::time::sleep(HOLD).await;
                cluster.cut(victim, false);
            }
        }
    }
}

/// One client, on `node`: puts and linearizable gets on random keys until `stop`, recording
/// when each succeeded. A get of a key never written succeeds too (the applier answers
/// not-found).
async fn client(node: Access, c: usize, stop: Arc<AtomicBool>, successes: Arc<Mutex<Vec<Instant>>>) {
    let mut rng = Rng(c as u64 + 1);
    let mut client: Option<Client> = None;
    while !stop.load(Ordering::Relaxed) {
        if client.is_none() {
            client = node.connect().await.ok();
        }
        let key = format!("k{}", rng.below(KEYS));
        let ok = match client.as_mut() {
            None => false,
            Some(client) if rng.below(2) == 0 => propose(client, put_command(&key, "v"), ATTEMPT).await.is_ok(),
            Some(client) => {
                let query = serde_json::to_vec(&serde_json::json!({ "get": { "key": key } })).unwrap();
                let request = QueryRequest {
                    query,
                    encoding: Encoding::Json as i32,
                    consistency: Consistency::Linearizable as i32,
                    ..Default::default()
                };
                query_with(client, request, ATTEMPT).await.is_ok()
            }
        };
        if ok {
            successes.lock().unwrap().push(Instant::now());
        } else {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The longest time in `[from, to]` without a success, and when it began (from `from`).
fn longest_window(successes: &[Instant], from: Instant, to: Instant) -> (Duration, Duration) {
    let mut inside: Vec<Instant> = successes.iter().copied().filter(|&t| t > from && t < to).collect();
    inside.sort();
    let mut edges = vec![from];
    edges.extend(inside);
    edges.push(to);
    edges.windows(2).map(|w| (w[1] - w[0], w[0] - from)).max().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::var("WASMRAFT_AVAILABILITY_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let extra = std::env::var("WASMRAFT_BENCH_ARGS").unwrap_or_default();
    let extra: Vec<&str> = extra.split_whitespace().collect();
    // Safety: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let mut cluster = match root {
        true => Cluster::start_cuttable(3, "kv", &extra, "wrav"),
        false => Cluster::start_tls(3, "kv", false, &extra),
    };
    let faults: Vec<Fault> =
        Fault::ALL.into_iter().filter(|f| root || !matches!(f, Fault::CutLeader | Fault::CutFollower)).collect();
    cluster.leader(Duration::from_secs(15)).await;
    let (stop, successes) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let node = cluster.endpoints()[c % 3].clone();
            tokio::spawn(client(node, c, stop.clone(), successes.clone()))
        })
        .collect();
    println!(
        "availability: {CLIENTS} clients, puts and linearizable gets on {KEYS} keys, {} ms per attempt; \
         each fault held {} s; windows without a success from the fault to {} s after it was undone{}",
        ATTEMPT.as_millis(),
        HOLD.as_secs(),
        SETTLE.as_secs(),
        if extra.is_empty() { String::new() } else { format!("; serve {}", extra.join(" ")) }
    );
    let started = Instant::now();
    let mut windows: Vec<(Fault, Duration)> = Vec::new();
    for round in 0..rounds {
        let only = std::env::var("WASMRAFT_AVAILABILITY_FAULT").ok();
        for &fault in faults.iter().filter(|f| only.as_deref().is_none_or(|o| f.name().contains(o))) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let leader = cluster.leader(Duration::from_secs(15)).await;
            let victim = match fault.on_leader() {
                true => leader,
                false => cluster.ids().into_iter().find(|&id| id != leader).unwrap(),
            };
            let from = Instant::now();
            fault.run(&mut cluster, victim).await;
            tokio::time::sleep(SETTLE).await;
            let (window, at) = longest_window(&successes.lock().unwrap(), from, Instant::now());
            println!(
                "  round {round}: {:<20} node {victim}: longest window {:>5} ms, from {:>5} ms after the fault",
                fault.name(),
                ms(window),
                ms(at)
            );
            windows.push((fault, window));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let total = successes.lock().unwrap().len();
    println!("{total} successful operations in {:.0} s", started.elapsed().as_secs_f64());
    if !root {
        println!("(partitions skipped: they need root, for network namespaces)");
    }
    for fault in Fault::ALL {
        let mut of: Vec<Duration> = windows.iter().filter(|(f, _)| f.name() == fault.name()).map(|(_, w)| *w).collect();
        of.sort();
        if of.is_empty() {
            continue;
        }
        println!(
            "{:<20} longest window: max {:>5} ms, median {:>5} ms over {} rounds",
            fault.name(),
            ms(of[of.len() - 1]),
            ms(of[of.len() / 2]),
            of.len()
        );
    }
}
