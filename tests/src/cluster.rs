//! Real clusters for tests and benchmarks: `wasmraft serve` processes of the release build,
//! on loopback, each with its own data directory, killed and restarted at will.

use crate::netns::Network;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use wasmraft::proto::client::client_client::ClientClient;
use wasmraft::proto::client::{
    Encoding, MemberChange, MemberChangeResponse, ProposeRequest, ProposeResponse, QueryRequest, QueryResponse,
    StatusRequest, StatusResponse, TransferLeaderRequest, UpgradeRequest, UpgradeResponse, member_change,
    propose_response, query_response,
};

pub use tonic::{Code, Status};

/// The release binary (`cargo build --release -p wasmraft`; `cargo xtask test` builds it).
pub fn binary() -> PathBuf {
    let path = crate::appliers_dir().parent().expect("target dir").join("release/wasmraft");
    assert!(path.exists(), "{} is missing: run `cargo build --release -p wasmraft`", path.display());
    path
}

/// `wasmraft` as the admin of a cluster whose dev certificates are in `certs` (none: no
/// TLS), through the environment the CLI reads its credentials from.
pub fn admin_command(certs: Option<&Path>) -> Command {
    let mut command = Command::new(binary());
    if let Some(certs) = certs {
        command
            .env("WASMRAFT_CACERT", certs.join("ca.pem"))
            .env("WASMRAFT_CERT", certs.join("admin.pem"))
            .env("WASMRAFT_KEY", certs.join("admin-key.pem"));
    }
    command
}

/// A port for a node's door: one this process has not handed out before, free now, and
/// below the kernel's ephemeral ports (32768 and up here). A port from binding port 0 is an
/// ephemeral one, which any outgoing connection of any node may take before the node
/// binds it: a node once died of "address already in use" at start.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const PORTS: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Processes that run at once (a test binary, a benchmark) start far apart.
    let start = (u64::from(std::process::id()) * 7_919 % u64::from(PORTS)) as u32;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..PORTS {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % PORTS) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + PORTS)
}

pub struct Node {
    pub id: u64,
    /// Its peer door (`--listen`).
    pub address: String,
    /// Its client door (`--client-listen`).
    pub client: String,
    pub data_dir: PathBuf,
    /// Where it serves HTTP (`--http-listen`), if it does.
    pub http: Option<String>,
    /// Where it serves Prometheus metrics (`--metrics-listen`): every test node does.
    pub metrics: String,
    log: PathBuf,
    child: Option<Child>,
    /// For a node added to the running cluster: the member it joins through.
    join: Option<String>,
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: BTreeMap<u64, Node>,
    peers: String,
    /// The appliers' modules, the primary first.
    modules: Vec<PathBuf>,
    args: Vec<String>,
    /// With TLS: the `dev-certs` directory the nodes use, and how clients connect.
    tls: Option<ClusterTls>,
    /// What clients present where nodes verify tokens but not certificates: an admin token,
    /// minted once (an RSA signature, and a first verification on the node, per token).
    bearer: Bearer,
    /// The network the nodes run on, if not loopback: see [`Cluster::start_cuttable`].
    network: Option<Network>,
}

struct ClusterTls {
    dir: PathBuf,
    client: ClientTlsConfig,
}

/// A client of a node's API, with the credentials its cluster asks for.
pub type Client = ClientClient<InterceptedService<Channel, Bearer>>;

/// Adds a bearer token to every call, if there is one.
#[derive(Clone, Debug, Default)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("authorization", token.clone());
        }
        Ok(request)
    }
}

/// How a test client reaches a node's client door: its address; on a TLS cluster, the
/// cluster's CA and the admin certificate; on a cluster that verifies tokens but has no
/// TLS, an admin token.
#[derive(Clone, Debug)]
pub struct Access {
    pub address: String,
    pub tls: Option<ClientTlsConfig>,
    pub bearer: Bearer,
}

impl Access {
    pub fn endpoint(&self) -> tonic::transport::Endpoint {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let endpoint =
            tonic::transport::Endpoint::from_shared(format!("{scheme}://{}", self.address)).expect("endpoint");
        match &self.tls {
            Some(tls) => endpoint.tls_config(tls.clone()).expect("TLS settings"),
            None => endpoint,
        }
    }

    pub async fn connect(&self) -> Result<Client, Status> {
        let endpoint = self.endpoint().connect_timeout(Duration::from_millis(500));
        let channel = endpoint.connect().await.map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(self.client(channel))
    }

    pub fn client(&self, channel: Channel) -> Client {
        ClientClient::with_interceptor(channel, self.bearer.clone())
    }
}

fn signal(child: &Child, signal: i32) {
    // Safety: a plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

impl Cluster {
    /// Starts `n` nodes running the KV applier, with extra `serve` flags.
    pub fn start(n: u64, args: &[&str]) -> Cluster {
        Cluster::start_with(n, "kv", false, args)
    }

    /// Starts `n` nodes running the applier `module` (a directory under `appliers/`), each
    /// also serving HTTP on a port of its own if `http`, with extra `serve` flags.
    pub fn start_with(n: u64, module: &str, http: bool, args: &[&str]) -> Cluster {
        Cluster::start_routed(n, &[module], http, args, |node| node.address.clone())
    }

    /// As [`Cluster::start_with`], with TLS on every door: certificates from
    /// `wasmraft dev-certs` (made for nodes 1 to `n + 2`, so that tests can add nodes), and
    /// clients that connect as its `admin`.
    pub fn start_tls(n: u64, module: &str, http: bool, args: &[&str]) -> Cluster {
        Cluster::build(n, &[module], http, args, |node| node.address.clone(), true, None)
    }

    /// Starts `n` nodes (TLS on) hosting `modules` (directories under `appliers/`), the
    /// first the primary.
    pub fn start_hosting(n: u64, modules: &[&str], http: bool, args: &[&str]) -> Cluster {
        Cluster::build(n, modules, http, args, |node| node.address.clone(), true, None)
    }

    /// As [`Cluster::start_tls`], each node in a network namespace of its own (named
    /// `<prefix><id>`), so that [`Cluster::cut`] can partition it. Needs root.
    pub fn start_cuttable(n: u64, module: &str, args: &[&str], prefix: &str) -> Cluster {
        let ids: Vec<u64> = (1..=n).collect();
        let network = Network::create(prefix, &ids).expect("network namespaces (run as root)");
        Cluster::build(n, &[module], false, args, |node| node.address.clone(), true, Some(network))
    }

    /// Cuts node `id` off the network (`true`: its packets are dropped, its connections
    /// hang), or joins it again. Only on a cluster from [`Cluster::start_cuttable`].
    pub fn cut(&self, id: u64, cut: bool) {
        self.network.as_ref().expect("a cluster on a network of its own").cut(id, cut);
    }

    /// As [`Cluster::start_with`], but the nodes know each other (`--peers`) at
    /// `route(node)` rather than where each listens: something stands in between, such as
    /// the delay proxy of the DSS benchmark. Clients still reach each node directly.
    pub fn start_routed(
        n: u64,
        modules: &[&str],
        http: bool,
        args: &[&str],
        route: impl Fn(&Node) -> String,
    ) -> Cluster {
        Cluster::build(n, modules, http, args, route, false, None)
    }

    fn build(
        n: u64,
        modules: &[&str],
        http: bool,
        args: &[&str],
        route: impl Fn(&Node) -> String,
        tls: bool,
        network: Option<Network>,
    ) -> Cluster {
        let dir = tempfile::Builder::new().prefix("wasmraft-cluster-").tempdir().expect("temp dir");
        let tls = tls.then(|| {
            let certs = dir.path().join("certs");
            let ids: Vec<u64> = (1..=n + 2).collect();
            wasmraft::tls::dev::make_dir(&certs, "wasmraft", &ids).expect("dev certificates");
            let read = |name: &str| std::fs::read(certs.join(name)).expect("a certificate file");
            let client = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read("ca.pem")))
                .identity(Identity::from_pem(read("admin.pem"), read("admin-key.pem")))
                // The nodes' certificates name localhost, not the addresses of a test network.
                .domain_name("localhost");
            ClusterTls { dir: certs, client }
        });
        let nodes: BTreeMap<u64, Node> = (1..=n)
            .map(|id| {
                // On a network of its own a node has its address to itself: fixed ports.
                let (host, port) = match &network {
                    Some(network) => (network.address(id), Box::new(|fixed| fixed) as Box<dyn Fn(u16) -> u16>),
                    None => ("127.0.0.1".to_string(), Box::new(|_| free_port()) as Box<dyn Fn(u16) -> u16>),
                };
                let node = Node {
                    id,
                    address: format!("{host}:{}", port(7001)),
                    client: format!("{host}:{}", port(7101)),
                    data_dir: dir.path().join(format!("node{id}")),
                    http: http.then(|| format!("{host}:{}", port(8080))),
                    metrics: format!("{host}:{}", port(9090)),
                    log: dir.path().join(format!("node{id}.log")),
                    child: None,
                    join: None,
                };
                (id, node)
            })
            .collect();
        let peers = nodes.values().map(|n| format!("{}={}", n.id, route(n))).collect::<Vec<_>>().join(",");
        let mut cluster = Cluster {
            dir,
            nodes,
            peers,
            modules: modules.iter().map(|m| crate::appliers_dir().join(format!("{m}.wasm"))).collect(),
            bearer: match tls.is_none() && args.contains(&"--jwt-public-key") {
                true => {
                    let token = crate::http::token("admin", &["wasmraft.admin"]);
                    Bearer(Some(format!("Bearer {token}").parse().expect("ASCII")))
                }
                false => Bearer::default(),
            },
            args: args.iter().map(|s| s.to_string()).collect(),
            tls,
            network,
        };
        for id in 1..=n {
            cluster.spawn(id);
        }
        cluster
    }

    /// The command that (re)starts node `id`.
    pub fn serve_command(&self, id: u64) -> Command {
        self.serve_command_in(id, &self.nodes[&id].data_dir)
    }

    /// The command that starts node `id` on `data_dir`.
    pub fn serve_command_in(&self, id: u64, data_dir: &Path) -> Command {
        let node = &self.nodes[&id];
        let mut cmd = match &self.network {
            Some(network) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", &network.namespace(id)]).arg(binary());
                cmd
            }
            None => Command::new(binary()),
        };
        cmd.arg("serve").args(["--id", &id.to_string(), "--listen", &node.address, "--client-listen", &node.client]);
        if let Some(tls) = &self.tls {
            cmd.arg("--tls-dir").arg(&tls.dir);
        }
        match &node.join {
            Some(through) => cmd.args(["--join", through]),
            None => {
                cmd.args(["--peers", &self.peers]);
                for module in &self.modules {
                    cmd.arg("--module").arg(module);
                }
                &mut cmd
            }
        };
        if let Some(http) = &node.http {
            cmd.args(["--http-listen", http]);
        }
        cmd.args(["--metrics-listen", &node.metrics]);
        cmd.arg("--data-dir").arg(data_dir).args(&self.args).env("RUST_LOG", "info");
        cmd
    }

    /// Registers node `id` (not started) on fresh ports, to join through node `through`;
    /// returns its peer address.
    pub fn new_node(&mut self, id: u64, through: u64) -> String {
        assert!(self.network.is_none(), "nodes join only clusters on loopback");
        let node = Node {
            id,
            address: format!("127.0.0.1:{}", free_port()),
            client: format!("127.0.0.1:{}", free_port()),
            data_dir: self.dir.path().join(format!("node{id}")),
            http: None,
            metrics: format!("127.0.0.1:{}", free_port()),
            log: self.dir.path().join(format!("node{id}.log")),
            child: None,
            join: Some(self.peer_address(through).to_string()),
        };
        let address = node.address.clone();
        self.nodes.insert(id, node);
        address
    }

    /// The members every node is started with (`--peers`), as `ID=ADDR,...`: for a cluster
    /// made anew on the same nodes, such as one restored from a backup.
    pub fn set_peers(&mut self, peers: &str) {
        self.peers = peers.to_string();
    }

    /// Forgets node `id` (killed first): it left the cluster.
    pub fn forget(&mut self, id: u64) {
        self.kill(id);
        self.nodes.remove(&id);
    }

    pub fn spawn(&mut self, id: u64) {
        self.spawn_with(id, &[]);
    }

    /// Starts node `id` with `extra` flags besides the cluster's.
    pub fn spawn_with(&mut self, id: u64, extra: &[&str]) {
        let mut cmd = self.serve_command(id);
        cmd.args(extra);
        self.spawn_command(id, cmd);
    }

    /// Starts node `id` with `cmd` (made by [`Self::serve_command`], then changed).
    pub fn spawn_command(&mut self, id: u64, mut cmd: Command) {
        let node = self.nodes.get_mut(&id).expect("node");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&node.log).expect("log file");
        cmd.stdout(Stdio::null()).stderr(log);
        // Nodes die with the test process, even when it is killed.
        // Safety: prctl is async-signal-safe and touches nothing of the parent.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        node.child = Some(cmd.spawn().expect("wasmraft starts"));
    }

    /// kill -9: no chance to flush or hand over anything.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.nodes.get_mut(&id).and_then(|n| n.child.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, without waiting: the node shuts down gracefully (see `stop`).
    pub fn terminate(&self, id: u64) {
        if let Some(child) = &self.nodes[&id].child {
            signal(child, libc::SIGTERM);
        }
    }

    /// SIGTERM, then wait for the process to exit (kill -9 after 10 s: a node that does
    /// not stop fails the test, it does not hang it).
    pub fn stop(&mut self, id: u64) {
        self.terminate(id);
        if let Some(mut child) = self.nodes.get_mut(&id).and_then(|n| n.child.take()) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("node {id} did not stop within 10 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGSTOP / SIGCONT: the node stays connected but answers nothing.
    pub fn pause(&self, id: u64, paused: bool) {
        if let Some(child) = &self.nodes[&id].child {
            signal(child, if paused { libc::SIGSTOP } else { libc::SIGCONT });
        }
    }

    /// Whether the HTTP front door speaks TLS.
    fn https(&self) -> bool {
        self.tls.is_some() && !self.args.iter().any(|a| a == "--http-plain")
    }

    /// `http://HOST:PORT` (or `https://`) of node `id`'s HTTP front door.
    pub fn http_url(&self, id: u64) -> String {
        let scheme = if self.https() { "https" } else { "http" };
        format!("{scheme}://{}", self.nodes[&id].http.as_deref().expect("the node serves HTTP"))
    }

    /// An HTTP client of the front doors (trusting the cluster's CA when they speak TLS).
    pub fn http_client(&self) -> crate::http::HttpClient {
        let ca = self.https().then(|| std::fs::read(self.tls.as_ref().unwrap().dir.join("ca.pem")).expect("the CA"));
        crate::http::HttpClient::trusting(ca.as_deref())
    }

    /// How a client reaches node `id`.
    pub fn endpoint(&self, id: u64) -> Access {
        let tls = self.tls.as_ref().map(|t| t.client.clone());
        Access { address: self.nodes[&id].client.clone(), tls, bearer: self.bearer.clone() }
    }

    /// Node `id`'s peer door.
    pub fn peer_address(&self, id: u64) -> &str {
        &self.nodes[&id].address
    }

    /// The cluster's `dev-certs` directory, on a TLS cluster.
    pub fn certs_dir(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.dir.as_path())
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    pub fn running(&self) -> Vec<u64> {
        self.nodes.values().filter(|n| n.child.is_some()).map(|n| n.id).collect()
    }

    /// The process id of node `id`, if it runs.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.nodes[&id].child.as_ref().map(Child::id)
    }

    /// Where node `id` writes its log (appended to across restarts).
    pub fn log_path(&self, id: u64) -> &Path {
        &self.nodes[&id].log
    }

    pub fn log_of(&self, id: u64) -> String {
        std::fs::read_to_string(&self.nodes[&id].log).unwrap_or_default()
    }

    pub async fn client(&self, id: u64) -> Result<Client, Status> {
        self.client_within(id, Duration::from_secs(5)).await
    }

    /// A client of node `id` whose calls give up after `timeout`.
    pub async fn client_within(&self, id: u64, timeout: Duration) -> Result<Client, Status> {
        let access = self.endpoint(id);
        let endpoint = access.endpoint().connect_timeout(Duration::from_millis(500)).timeout(timeout);
        let channel = endpoint.connect().await.map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(access.client(channel))
    }

    pub async fn status(&self, id: u64) -> Option<StatusResponse> {
        let mut client = self.client(id).await.ok()?;
        client.status(StatusRequest {}).await.ok().map(|r| r.into_inner())
    }

    /// Waits until one running node is leader and every running node answers and agrees on it.
    pub async fn leader(&self, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let mut leaders = Vec::new();
            let running = self.running();
            for &id in &running {
                if let Some(s) = self.status(id).await {
                    leaders.push(s.leader);
                }
            }
            // Every running node answers (a slow starter may not serve yet) and agrees.
            if let Some(&first) = leaders.first()
                && first != 0
                && leaders.len() == running.len()
                && leaders.iter().all(|&l| l == first)
                && self.running().contains(&first)
            {
                return first;
            }
            assert!(Instant::now() < deadline, "no leader within {within:?} (seen {leaders:?})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until node `id` answers and knows a leader.
    pub async fn serving(&self, id: u64, within: Duration) {
        let deadline = Instant::now() + within;
        while self.status(id).await.is_none_or(|s| s.leader == 0) {
            assert!(Instant::now() < deadline, "node {id} is not serving within {within:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the running nodes report the same applied index and state hash, at least
    /// `min_applied`, and returns them.
    pub async fn converged(&self, min_applied: u64, within: Duration) -> (u64, String) {
        let deadline = Instant::now() + within;
        loop {
            let mut seen = Vec::new();
            for id in self.running() {
                seen.push(self.status(id).await.map(|s| (s.applied_index, s.state_hash)));
            }
            if let Some(Some(first)) = seen.first()
                && first.0 >= min_applied
                && seen.iter().all(|s| s.as_ref() == Some(first))
            {
                return first.clone();
            }
            assert!(Instant::now() < deadline, "nodes did not converge within {within:?}: {seen:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits as [`Cluster::converged`], then checks that every running node reports the same
    /// hosted appliers, each with the same version, state hash and upgrade history, and
    /// returns them.
    pub async fn appliers_converged(&self, min_applied: u64) -> Vec<Hosted> {
        let (applied, _) = self.converged(min_applied, Duration::from_secs(30)).await;
        let mut seen = Vec::new();
        for id in self.running() {
            let status = self.status(id).await.expect("status");
            assert_eq!(status.applied_index, applied, "node {id}");
            seen.push(status.appliers.iter().map(Hosted::of).collect::<Vec<_>>());
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
        seen.pop().expect("a running node")
    }
}

/// A hosted applier as a node's status reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosted {
    pub name: String,
    pub version: String,
    pub state_hash: String,
    /// (index, version) of each upgrade.
    pub upgrades: Vec<(u64, String)>,
}

impl Hosted {
    fn of(applier: &wasmraft::proto::client::HostedApplier) -> Hosted {
        let module = applier.module.as_ref().expect("a module");
        Hosted {
            name: module.name.clone(),
            version: module.version.clone(),
            state_hash: applier.state_hash.clone(),
            upgrades: applier.upgrades.iter().map(|u| (u.index, u.version.clone())).collect(),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in self.ids() {
            self.kill(id);
        }
        if std::thread::panicking() {
            // WASMRAFT_KEEP_LOGS=DIR keeps every node's whole log of a failed run.
            if let Some(keep) = std::env::var_os("WASMRAFT_KEEP_LOGS").map(PathBuf::from) {
                let _ = std::fs::create_dir_all(&keep);
                for node in self.nodes.values() {
                    let _ = std::fs::copy(&node.log, keep.join(format!("node{}.log", node.id)));
                }
            }
            for id in self.ids() {
                let log = self.log_of(id);
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("---- node {id} log (last 40 lines) ----");
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// Asks node `id` for a membership change.
pub async fn change_members(
    cluster: &Cluster,
    id: u64,
    change: member_change::Change,
) -> Result<MemberChangeResponse, Status> {
    let mut client = cluster.client_within(id, Duration::from_secs(10)).await?;
    client.change_members(MemberChange { change: Some(change) }).await.map(|r| r.into_inner())
}

/// Asks for `change` through node `via` until it is taken or `within` passes, while the
/// refusals are the passing kind: another change still applying, a learner catching up, a
/// leader changing, or the change removing the leader (leadership is moved away first).
pub async fn change_members_until(
    cluster: &Cluster,
    via: u64,
    change: member_change::Change,
    within: Duration,
) -> Result<MemberChangeResponse, Status> {
    let deadline = Instant::now() + within;
    loop {
        let e = match change_members(cluster, via, change.clone()).await {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        let message = e.message();
        let passing = match e.code() {
            // DEADLINE_EXCEEDED: the leader changed while the change was in flight.
            Code::Unavailable | Code::DeadlineExceeded => true,
            Code::FailedPrecondition => {
                ["in progress", "caught up", "cannot remove itself"].iter().any(|m| message.contains(m))
            }
            _ => false,
        };
        if !passing || Instant::now() >= deadline {
            return Err(e);
        }
        if message.contains("cannot remove itself") {
            let _ = transfer_leader(cluster, via, 0).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asks node `id` to hand leadership to `to`.
pub async fn transfer_leader(cluster: &Cluster, id: u64, to: u64) -> Result<u64, Status> {
    let mut client = cluster.client_within(id, Duration::from_secs(10)).await?;
    client.transfer_leader(TransferLeaderRequest { to }).await.map(|r| r.into_inner().leader)
}

/// Asks node `id` to roll out `module`.
pub async fn upgrade(
    cluster: &Cluster,
    id: u64,
    module: Vec<u8>,
    allow_downgrade: bool,
) -> Result<UpgradeResponse, Status> {
    upgrade_applier(cluster, id, "", module, allow_downgrade).await
}

/// Proposes, on node `id`, that `module` replace the hosted applier `applier` (when empty,
/// the applier of the module's own name).
pub async fn upgrade_applier(
    cluster: &Cluster,
    id: u64,
    applier: &str,
    module: Vec<u8>,
    allow_downgrade: bool,
) -> Result<UpgradeResponse, Status> {
    // Compiling on every node takes a while on a busy machine.
    let mut client = cluster.client_within(id, Duration::from_secs(30)).await?;
    let mut request = tonic::Request::new(UpgradeRequest { module, allow_downgrade, applier: applier.into() });
    request.set_timeout(Duration::from_secs(30));
    client.upgrade(request).await.map(|r| r.into_inner())
}

/// A KV put as JSON.
pub fn put_command(key: &str, value: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "put": { "key": key, "value": value } })).expect("json")
}

/// Proposes `command` (JSON) to the primary applier.
pub async fn propose(client: &mut Client, command: Vec<u8>, deadline: Duration) -> Result<ProposeResponse, Status> {
    propose_once(client, command, "", deadline).await
}

/// Proposes `command` (JSON) to the primary applier with the request id `request_id`
/// (empty: none).
pub async fn propose_once(
    client: &mut Client,
    command: Vec<u8>,
    request_id: &str,
    deadline: Duration,
) -> Result<ProposeResponse, Status> {
    let request_id = request_id.to_string();
    let request = ProposeRequest { command, encoding: Encoding::Json as i32, applier: String::new(), request_id };
    let mut request = tonic::Request::new(request);
    request.set_timeout(deadline);
    client.propose(request).await.map(|r| r.into_inner())
}

/// The applier's JSON output of a proposal, or its refusal as `code: message`.
pub fn output(response: &ProposeResponse) -> Result<serde_json::Value, String> {
    match response.outcome.as_ref().expect("an outcome") {
        propose_response::Outcome::Output(o) => Ok(serde_json::from_slice(o).expect("JSON output")),
        propose_response::Outcome::Error(e) => Err(format!("{}: {}", e.code, e.message)),
    }
}

/// A linearizable query (JSON): the applier's output or its refusal.
pub async fn query(client: &mut Client, query: serde_json::Value) -> Result<serde_json::Value, String> {
    let request = QueryRequest {
        query: serde_json::to_vec(&query).expect("json"),
        encoding: Encoding::Json as i32,
        ..Default::default()
    };
    query_with(client, request, Duration::from_secs(5)).await.map_err(|s| s.to_string())?.1
}

/// A query as asked, within `deadline`: the response and the applier's output or refusal.
pub async fn query_with(
    client: &mut Client,
    request: QueryRequest,
    deadline: Duration,
) -> Result<(QueryResponse, Result<serde_json::Value, String>), Status> {
    let mut request = tonic::Request::new(request);
    request.set_timeout(deadline);
    let response = client.query(request).await?.into_inner();
    let outcome = match response.outcome.clone().expect("an outcome") {
        query_response::Outcome::Output(o) => Ok(serde_json::from_slice(&o).expect("JSON output")),
        query_response::Outcome::Error(e) => Err(format!("{}: {}", e.code, e.message)),
    };
    Ok((response, outcome))
}

/// The value of `key` on node `id`, if any.
pub async fn get(cluster: &Cluster, id: u64, key: &str) -> Option<String> {
    let mut client = cluster.client(id).await.ok()?;
    let out = query(&mut client, serde_json::json!({ "get": { "key": key } })).await.ok()?;
    out["entry"]["value"].as_str().map(str::to_string)
}

/// Writes `key` through whichever node of `endpoints` takes it, trying each in turn (from
/// `first`) until `within` passes. `Ok` means acknowledged.
pub async fn put_anywhere(
    endpoints: &[Access],
    first: usize,
    key: &str,
    value: &str,
    within: Duration,
) -> Result<ProposeResponse, Status> {
    let deadline = Instant::now() + within;
    let mut last = Status::unavailable("no node tried");
    let mut turn = first;
    while Instant::now() < deadline {
        let endpoint = &endpoints[turn % endpoints.len()];
        turn += 1;
        match endpoint.connect().await {
            Ok(mut client) => match propose(&mut client, put_command(key, value), Duration::from_secs(2)).await {
                Ok(r) => return Ok(r),
                Err(s) => last = s,
            },
            Err(s) => last = s,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(last)
}

/// A write the cluster acknowledged.
#[derive(Debug)]
pub struct Acked {
    pub key: String,
    pub value: String,
    pub index: u64,
    /// The endpoint (position in the list given) that answered.
    pub via: usize,
    /// The applier's output, or its refusal as `code: message`.
    pub output: Result<serde_json::Value, String>,
}

/// What a write load achieved.
#[derive(Debug, Default)]
pub struct Load {
    pub acked: Vec<Acked>,
    /// Writes given up on (outcome unknown: they may or may not have applied).
    pub abandoned: usize,
    /// Failed attempts that were tried again (on another node).
    pub retries: usize,
}

/// `writers` concurrent clients writing keys `{prefix}-{writer}-{n}` through `endpoints`
/// (failing over between them) until `stop` is set or `total` writes were attempted.
pub async fn write_load(
    endpoints: Vec<Access>,
    prefix: &str,
    writers: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    total: Option<usize>,
) -> Load {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (endpoints, stop, next, prefix) = (endpoints.clone(), stop.clone(), next.clone(), prefix.to_string());
            tokio::spawn(async move {
                let mut load = Load::default();
                let mut client: Option<(usize, Client)> = None;
                let mut turn = w;
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if total.is_some_and(|t| n >= t) {
                        break;
                    }
                    let (key, value) = (format!("{prefix}-{n:07}"), format!("value-{n}-{}", "x".repeat(200)));
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        if client.as_ref().is_none_or(|(at, _)| *at != turn % endpoints.len()) {
                            client = endpoints[turn % endpoints.len()]
                                .connect()
                                .await
                                .ok()
                                .map(|c| (turn % endpoints.len(), c));
                        }
                        let result = match client.as_mut() {
                            Some((_, c)) => propose(c, put_command(&key, &value), Duration::from_secs(2)).await,
                            None => Err(Status::unavailable("not connected")),
                        };
                        match result {
                            Ok(r) => {
                                let via = turn % endpoints.len();
                                load.acked.push(Acked { key, value, index: r.index, via, output: output(&r) });
                                break;
                            }
                            Err(_) if attempts < 50 && !stop.load(Ordering::Relaxed) => {
                                load.retries += 1;
                                turn += 1;
                                client = None;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            Err(_) => {
                                load.abandoned += 1;
                                break;
                            }
                        }
                    }
                }
                load
            })
        })
        .collect();
    let mut all = Load::default();
    for t in tasks {
        let l = t.await.expect("writer task");
        all.acked.extend(l.acked);
        all.abandoned += l.abandoned;
        all.retries += l.retries;
    }
    all
}

/// Every key and value on node `id`, read with range queries a page at a time.
pub async fn all_entries(cluster: &Cluster, id: u64) -> BTreeMap<String, String> {
    let mut client = cluster.client(id).await.expect("node reachable");
    let mut out = BTreeMap::new();
    let mut start = String::new();
    loop {
        let page = query(&mut client, serde_json::json!({ "range": { "start": start, "end": null, "limit": 1000 } }))
            .await
            .expect("range query");
        let entries = page["range"]["entries"].as_array().expect("entries").clone();
        for e in &entries {
            out.insert(e["key"].as_str().unwrap().to_string(), e["value"].as_str().unwrap().to_string());
        }
        if !page["range"]["more"].as_bool().unwrap_or(false) {
            return out;
        }
        start = format!("{}\0", entries.last().expect("a page")["key"].as_str().unwrap());
    }
}

/// Asserts that every acknowledged write is on every running node.
pub async fn assert_acked_present(cluster: &Cluster, load: &Load) {
    for id in cluster.running() {
        let entries = all_entries(cluster, id).await;
        let missing: Vec<&String> =
            load.acked.iter().filter(|a| entries.get(&a.key) != Some(&a.value)).map(|a| &a.key).collect();
        assert!(
            missing.is_empty(),
            "node {id} lacks {} acknowledged writes, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
}

impl Cluster {
    pub fn endpoints(&self) -> Vec<Access> {
        self.ids().into_iter().map(|id| self.endpoint(id)).collect()
    }

    /// The newest raft-engine file of node `id`.
    pub fn newest_log_file(&self, id: u64) -> PathBuf {
        data_dir_files(&self.nodes[&id].data_dir.join("log"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "raftlog"))
            .max()
            .expect("a log file")
    }
}

pub fn data_dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(data_dir_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
