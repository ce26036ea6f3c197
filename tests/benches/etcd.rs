//! etcd 3.4 and wasmraft side by side: the same KV load from one load generator
//! (`wasmraft_tests::kv_load::drive`) on a local 3-node etcd cluster and a local 3-node
//! wasmraft cluster (real processes on loopback, fsync on, each system's default settings).
//! Run with `cargo xtask bench-etcd`, which installs etcd (Debian's etcd-server) if missing.
//!
//! 16-byte keys drawn from 100,000, 256-byte values; each cluster warmed up with 2,000 puts
//! from 8 clients, then: puts to the leader from 1 client (3,000) and from 64 (30,000); gets
//! from 64 clients over the 3 nodes (30,000), linearizable, then stale (etcd's serializable
//! reads; wasmraft's stale reads, at most 5 s behind). Every client has a connection of its
//! own. Three rounds, each on fresh clusters, etcd first; the medians of each figure. Beside
//! the rates, the CPU time each operation cost the three servers and the load generator
//! (from /proc): on a machine the load saturates, the rates compare the systems' cost per
//! operation with the load generator's share of the cores left over.

use prost::Message;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use wasmraft::proto::client::Consistency;
use wasmraft_tests::bench::{own_cpu, process_cpu, stats};
use wasmraft_tests::cluster::{Cluster, free_port};
use wasmraft_tests::kv_load::{self, DEADLINE, KEYS, READERS, VALUE, WRITERS, drive, value};
use wasmraft_tests::load::{Figures, ms};

const ROUNDS: usize = 3;

/// 16 bytes.
fn key(n: u64) -> String {
    format!("key-{n:012}")
}

#[derive(Clone, Copy)]
enum Op {
    /// Puts to the leader.
    Put,
    /// Gets over all nodes; `stale`: etcd's serializable reads, wasmraft's stale ones.
    Get { stale: bool },
}

/// The loads, in the order they run: name, operation, clients, operations in all.
const LOADS: [(&str, Op, usize, usize); 4] = [
    ("puts, 1 client", Op::Put, 1, 3_000),
    ("puts, 64 clients", Op::Put, 64, 30_000),
    ("linearizable gets, 64", Op::Get { stale: false }, 64, 30_000),
    ("stale gets, 64", Op::Get { stale: true }, 64, 30_000),
];

/// etcd's messages, as far as the benchmark uses them: the field numbers of etcd 3.4's
/// `etcdserver/etcdserverpb/rpc.proto` (a decoder skips the fields left out).
mod etcdserverpb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResponseHeader {
        #[prost(uint64, tag = "2")]
        pub member_id: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PutRequest {
        #[prost(bytes = "vec", tag = "1")]
        pub key: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    /// The acknowledgement is awaited, not read: its fields are skipped.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PutResponse {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RangeRequest {
        #[prost(bytes = "vec", tag = "1")]
        pub key: Vec<u8>,
        #[prost(bool, tag = "7")]
        pub serializable: bool,
    }

    /// The answer is awaited, not read: its fields are skipped.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RangeResponse {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StatusRequest {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StatusResponse {
        #[prost(message, optional, tag = "1")]
        pub header: Option<ResponseHeader>,
        #[prost(string, tag = "2")]
        pub version: String,
        #[prost(uint64, tag = "4")]
        pub leader: u64,
    }
}

use etcdserverpb::{PutRequest, PutResponse, RangeRequest, RangeResponse, StatusRequest, StatusResponse};

/// One load's figures and its CPU time per operation.
#[derive(Clone, Copy)]
struct Run {
    figures: Figures,
    /// µs of CPU per operation, the three servers' together.
    servers: f64,
    /// µs of CPU per operation of the load generator (this process).
    generator: f64,
}

/// Runs `load` (which returns every latency and the time it took), with the CPU time the
/// processes `servers` and this one spent meanwhile.
async fn measured(servers: &[u32], load: impl Future<Output = (Vec<Duration>, Duration)>) -> Run {
    let cpu = || (servers.iter().map(|&pid| process_cpu(pid)).sum::<Duration>(), own_cpu());
    let before = cpu();
    let (latencies, elapsed) = load.await;
    let after = cpu();
    let per_op = |spent: Duration| spent.as_secs_f64() * 1e6 / latencies.len() as f64;
    let (servers, generator) = (per_op(after.0 - before.0), per_op(after.1 - before.1));
    Run { figures: Figures::of(latencies, elapsed), servers, generator }
}

/// A client of one etcd member, on a connection of its own.
type Etcd = Grpc<Channel>;

/// One unary call of etcd's gRPC API, within [`DEADLINE`].
async fn call<Q, A>(client: &mut Etcd, path: &'static str, request: Q) -> Result<A, tonic::Status>
where
    Q: Message + Send + Sync + 'static,
    A: Message + Default + Send + Sync + 'static,
{
    client.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(request);
    request.set_timeout(DEADLINE);
    let codec = tonic_prost::ProstCodec::<Q, A>::default();
    client.unary(request, PathAndQuery::from_static(path), codec).await.map(|r| r.into_inner())
}

async fn put(client: &mut Etcd, key: &str, value: &str) -> Result<PutResponse, tonic::Status> {
    let request = PutRequest { key: key.into(), value: value.into() };
    call(client, "/etcdserverpb.KV/Put", request).await
}

async fn range(client: &mut Etcd, key: &str, serializable: bool) -> Result<RangeResponse, tonic::Status> {
    call(client, "/etcdserverpb.KV/Range", RangeRequest { key: key.into(), serializable }).await
}

async fn status(client: &mut Etcd) -> Result<StatusResponse, tonic::Status> {
    call(client, "/etcdserverpb.Maintenance/Status", StatusRequest {}).await
}

async fn connect(address: String) -> Result<Etcd, tonic::Status> {
    let endpoint = Endpoint::from_shared(format!("http://{address}")).expect("endpoint");
    let channel = endpoint.connect_timeout(Duration::from_millis(500)).connect().await;
    Ok(Grpc::new(channel.map_err(|e| tonic::Status::unavailable(e.to_string()))?))
}

/// A 3-member etcd cluster of `etcd` processes on loopback, each with its data directory in
/// a temporary directory and its log beside it; killed when dropped.
struct EtcdCluster {
    dir: tempfile::TempDir,
    /// Each member's client address.
    clients: Vec<String>,
    children: Vec<Child>,
}

impl EtcdCluster {
    /// Starts 3 members of a new cluster with etcd's defaults (fsync on, heartbeat 100 ms,
    /// election timeout 1000 ms).
    fn start() -> EtcdCluster {
        let dir = tempfile::Builder::new().prefix("etcd-cluster-").tempdir().expect("temp dir");
        let peers: Vec<String> = (0..3).map(|_| format!("127.0.0.1:{}", free_port())).collect();
        let clients: Vec<String> = (0..3).map(|_| format!("127.0.0.1:{}", free_port())).collect();
        let initial = (0..3).map(|i| format!("m{i}=http://{}", peers[i])).collect::<Vec<_>>().join(",");
        let token = format!("wasmraft-bench-{}", peers[0]);
        let children = (0..3)
            .map(|i| {
                let log = std::fs::File::create(dir.path().join(format!("m{i}.log"))).expect("log file");
                let (peer, client) = (format!("http://{}", peers[i]), format!("http://{}", clients[i]));
                Command::new("etcd")
                    .args(["--name", &format!("m{i}")])
                    .arg("--data-dir")
                    .arg(dir.path().join(format!("m{i}")))
                    .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
                    .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
                    .args(["--initial-cluster", &initial, "--initial-cluster-state", "new"])
                    .args(["--initial-cluster-token", &token])
                    .args(["--logger", "zap", "--log-outputs", "stderr"])
                    .stdout(log.try_clone().expect("log file"))
                    .stderr(log)
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("etcd is not on PATH: `cargo xtask bench-etcd` installs Debian's etcd-server")
            })
            .collect();
        EtcdCluster { dir, clients, children }
    }

    /// Waits until every member answers and all name the same leader: the leader's index
    /// and its version.
    async fn leader(&self, within: Duration) -> (usize, String) {
        let deadline = Instant::now() + within;
        loop {
            let mut seen = Vec::new();
            for address in &self.clients {
                if let Ok(mut client) = connect(address.clone()).await
                    && let Ok(s) = status(&mut client).await
                {
                    seen.push((s.header.map_or(0, |h| h.member_id), s.leader, s.version));
                }
            }
            if seen.len() == self.clients.len()
                && seen[0].1 != 0
                && seen.iter().all(|s| s.1 == seen[0].1)
                && let Some(leader) = seen.iter().position(|s| s.0 == s.1)
            {
                return (leader, seen.swap_remove(leader).2);
            }
            assert!(
                Instant::now() < deadline,
                "etcd: no leader within {within:?} (logs in {})",
                self.dir.path().display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `clients` concurrent etcd clients, client `c` on `addresses[c % len]`, `total` puts
/// (`serializable: None`) or gets.
async fn etcd_load(
    addresses: &[String],
    clients: usize,
    total: usize,
    serializable: Option<bool>,
) -> (Vec<Duration>, Duration) {
    let addresses = addresses.to_vec();
    let connect = move |c: usize| {
        let address = addresses[c % addresses.len()].clone();
        async move { connect(address).await.expect("connect to etcd") }
    };
    let seed = if serializable.is_some() { READERS } else { WRITERS };
    drive(clients, connect, key, seed, total, Default::default(), move |mut client, key| async move {
        if let Some(serializable) = serializable {
            let _answered = range(&mut client, &key, serializable).await.expect("etcd get");
        } else {
            let _acked = put(&mut client, &key, &value()).await.expect("etcd put");
        }
    })
    .await
}

/// The loads of [`LOADS`] on a fresh etcd cluster, after the warm-up; and etcd's version.
async fn etcd_round() -> (Vec<Run>, String) {
    let etcd = EtcdCluster::start();
    let (leader, version) = etcd.leader(Duration::from_secs(30)).await;
    let to_leader = [etcd.clients[leader].clone()];
    etcd_load(&to_leader, 8, 2_000, None).await;
    let pids: Vec<u32> = etcd.children.iter().map(Child::id).collect();
    let mut runs = Vec::new();
    for (_, op, clients, total) in LOADS {
        let run = match op {
            Op::Put => measured(&pids, etcd_load(&to_leader, clients, total, None)).await,
            Op::Get { stale } => measured(&pids, etcd_load(&etcd.clients, clients, total, Some(stale))).await,
        };
        runs.push(run);
    }
    (runs, version)
}

/// The loads of [`LOADS`] on a fresh wasmraft cluster, after the warm-up, as
/// tests/benches/cluster.rs runs them.
async fn wasmraft_round() -> Vec<Run> {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(15)).await;
    let puts = |clients, total| kv_load::puts(cluster.endpoint(leader), key, clients, total, Default::default(), false);
    puts(8, 2_000).await;
    let endpoints: Vec<_> = cluster.ids().into_iter().map(|id| cluster.endpoint(id)).collect();
    let pids: Vec<u32> = cluster.ids().into_iter().map(|id| cluster.pid(id).expect("a running node")).collect();
    let mut runs = Vec::new();
    for (_, op, clients, total) in LOADS {
        let run = match op {
            Op::Put => measured(&pids, puts(clients, total)).await,
            Op::Get { stale } => {
                let consistency = if stale { Consistency::Stale } else { Consistency::Linearizable };
                measured(&pids, kv_load::gets(endpoints.clone(), key, consistency, clients, total)).await
            }
        };
        runs.push(run);
    }
    runs
}

/// "ops/s p50 p99" of one system's medians of a load.
fn medians(runs: &[Figures]) -> (f64, f64, f64) {
    let median = |f: fn(&Figures) -> f64| stats(runs.iter().map(f).collect()).median;
    (median(|f| f.rate), median(|f| ms(f.p50)), median(|f| ms(f.p99)))
}

fn rates(runs: &[Run]) -> String {
    runs.iter().map(|r| format!("{:>7.0}", r.figures.rate)).collect::<Vec<_>>().join(" ")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // [round][load]
    let (mut etcd, mut wasmraft) = (Vec::new(), Vec::new());
    let mut version = String::new();
    println!(
        "\netcd against wasmraft, 3 nodes each on loopback (fsync on, default settings), one load generator: \
         {}-byte keys drawn from {KEYS}, {VALUE}-byte values, puts to the leader, gets over all nodes",
        key(0).len()
    );
    println!("ops/s per round (puts x1, puts x64, linearizable gets x64, stale gets x64):");
    for round in 1..=ROUNDS {
        let (figures, v) = etcd_round().await;
        println!("  round {round} etcd     {}", rates(&figures));
        etcd.push(figures);
        version = v;
        let figures = wasmraft_round().await;
        println!("  round {round} wasmraft {}", rates(&figures));
        wasmraft.push(figures);
    }
    println!(
        "medians of {ROUNDS} rounds, fresh clusters each (etcd {version}; its stale gets are serializable reads, \
         wasmraft's at most 5 s behind); ratio = wasmraft / etcd (throughput above 1, p99 below 1: wasmraft ahead):"
    );
    println!(
        "{:<28} {:>8} {:>7} {:>7}  | {:>8} {:>7} {:>7}  | {:>10} {:>9}",
        "load (ops)", "etcd/s", "p50 ms", "p99 ms", "wasmr/s", "p50 ms", "p99 ms", "throughput", "p99"
    );
    for (i, (name, _, _, total)) in LOADS.into_iter().enumerate() {
        let column = |runs: &[Vec<Run>]| medians(&runs.iter().map(|r| r[i].figures).collect::<Vec<_>>());
        let ((e_rate, e_p50, e_p99), (w_rate, w_p50, w_p99)) = (column(&etcd), column(&wasmraft));
        println!(
            "{:<28} {e_rate:>8.0} {e_p50:>7.2} {e_p99:>7.2}  | {w_rate:>8.0} {w_p50:>7.2} {w_p99:>7.2}  | {:>9.2}x {:>8.2}x",
            format!("{name} ({total})"),
            w_rate / e_rate,
            w_p99 / e_p99
        );
    }
    println!(
        "CPU per operation, medians (µs: the three servers together / the load generator; ratio = wasmraft / etcd, \
         below 1: wasmraft cheaper):"
    );
    for (i, (name, ..)) in LOADS.into_iter().enumerate() {
        let median = |runs: &[Vec<Run>], f: fn(&Run) -> f64| stats(runs.iter().map(|r| f(&r[i])).collect()).median;
        let (e_servers, w_servers) = (median(&etcd, |r| r.servers), median(&wasmraft, |r| r.servers));
        println!(
            "{name:<28} etcd {e_servers:>6.0} / {:>4.0}   wasmraft {w_servers:>6.0} / {:>4.0}   servers {:.2}x",
            median(&etcd, |r| r.generator),
            median(&wasmraft, |r| r.generator),
            w_servers / e_servers
        );
    }
}
