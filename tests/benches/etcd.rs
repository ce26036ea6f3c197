//! etcd 3.4 and wasmraft side by side: the same KV load from one load generator
//! (`wasmraft_tests::kv_load::drive`) on a local 3-node etcd cluster and a local 3-node
//! wasmraft cluster (real processes on loopback, fsync on, each system's default settings).
//! Run with `cargo xtask bench-etcd`, which installs etcd (Debian's etcd-server) if missing.
//!
//! 16-byte keys drawn from 100,000, 256-byte values; each cluster warmed up with 2,000 puts
//! from 8 clients, then: puts to the leader from 1 client (3,000) and from 64 (30,000); gets
//! from 64 clients over the 3 nodes (30,000), linearizable, then stale (etcd's serializable
//! reads; wasmraft's stale reads, at most 5 s behind). Every client has a connection of its
//! own. Three rounds, each on fresh clusters, etcd first; the medians of each figure.

use prost::Message;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use wasmraft::proto::client::Consistency;
use wasmraft_tests::bench::stats;
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
async fn etcd_round() -> (Vec<Figures>, String) {
    let etcd = EtcdCluster::start();
    let (leader, version) = etcd.leader(Duration::from_secs(30)).await;
    let to_leader = [etcd.clients[leader].clone()];
    etcd_load(&to_leader, 8, 2_000, None).await;
    let mut figures = Vec::new();
    for (_, op, clients, total) in LOADS {
        let (latencies, elapsed) = match op {
            Op::Put => etcd_load(&to_leader, clients, total, None).await,
            Op::Get { stale } => etcd_load(&etcd.clients, clients, total, Some(stale)).await,
        };
        figures.push(Figures::of(latencies, elapsed));
    }
    (figures, version)
}

/// The loads of [`LOADS`] on a fresh wasmraft cluster, after the warm-up, as
/// tests/benches/cluster.rs runs them.
async fn wasmraft_round() -> Vec<Figures> {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(15)).await;
    let puts = |clients, total| kv_load::puts(cluster.endpoint(leader), key, clients, total, Default::default(), false);
    puts(8, 2_000).await;
    let endpoints: Vec<_> = cluster.ids().into_iter().map(|id| cluster.endpoint(id)).collect();
    let mut figures = Vec::new();
    for (_, op, clients, total) in LOADS {
        let (latencies, elapsed) = match op {
            Op::Put => puts(clients, total).await,
            Op::Get { stale } => {
                let consistency = if stale { Consistency::Stale } else { Consistency::Linearizable };
                kv_load::gets(endpoints.clone(), key, consistency, clients, total).await
            }
        };
        figures.push(Figures::of(latencies, elapsed));
    }
    figures
}

/// "ops/s p50 p99" of one system's medians of a load.
fn medians(runs: &[Figures]) -> (f64, f64, f64) {
    let median = |f: fn(&Figures) -> f64| stats(runs.iter().map(f).collect()).median;
    (median(|f| f.rate), median(|f| ms(f.p50)), median(|f| ms(f.p99)))
}

fn rates(figures: &[Figures]) -> String {
    figures.iter().map(|f| format!("{:>7.0}", f.rate)).collect::<Vec<_>>().join(" ")
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
        let column = |runs: &[Vec<Figures>]| medians(&runs.iter().map(|r| r[i]).collect::<Vec<_>>());
        let ((e_rate, e_p50, e_p99), (w_rate, w_p50, w_p99)) = (column(&etcd), column(&wasmraft));
        println!(
            "{:<28} {e_rate:>8.0} {e_p50:>7.2} {e_p99:>7.2}  | {w_rate:>8.0} {w_p50:>7.2} {w_p99:>7.2}  | {:>9.2}x {:>8.2}x",
            format!("{name} ({total})"),
            w_rate / e_rate,
            w_p99 / e_p99
        );
    }
}
