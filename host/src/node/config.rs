//! `wasmraft serve` settings: each from its flag, else from the `--config` TOML file (same
//! names, kebab-case), else its default.

use crate::runtime::Limits;
use crate::runtime::requests::{MAX_WINDOW_NS, MIN_WINDOW_NS};
use crate::tls::{TlsFiles, dev, is_loopback};
use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The largest `--http-max-body-kib`: a gRPC message's limit ([`crate::proto::MAX_MESSAGE`]).
const MAX_HTTP_BODY_KIB: usize = crate::proto::MAX_MESSAGE >> 10;

#[derive(Args, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeArgs {
    /// Read settings from this TOML file; flags win over it. Keys are the flag names
    /// (`id = 1`, `peers = "1=127.0.0.1:7001,2=..."`, `data-dir = "..."`).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// This node's id: a positive integer, unique in the cluster, never reused.
    #[arg(long)]
    pub id: Option<u64>,
    /// Where other nodes reach this one (the peer door: Raft, snapshots, joining), as
    /// HOST:PORT: the address `--peers`, `--join` and `member add --address` name.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Where clients reach this node's gRPC API (`wasmraft propose`, `status`, ...), as
    /// HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub client_listen: Option<String>,
    /// A new cluster's members as ID=HOST:PORT, comma-separated, this node included.
    /// Needed to bootstrap; a node that already has a data directory knows its members.
    #[arg(long, value_name = "ID=ADDR,...", conflicts_with = "join")]
    pub peers: Option<String>,
    /// Join a running cluster through one of its members (HOST:PORT). Add the node first:
    /// `wasmraft member add ID --address ADDR`; it then catches up as a learner.
    #[arg(long, value_name = "ADDR")]
    pub join: Option<String>,
    /// The node's data directory: its log, snapshots and identity. A new directory
    /// bootstraps a new node; an existing one is recovered.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The applier component (.wasm) a new cluster starts with; repeat it to host several
    /// appliers (`--module scd.wasm --module rid.wasm`: distinct names, HTTP routes that do
    /// not overlap; the first also answers the paths no applier claims). In the file:
    /// `module = ["scd.wasm", "rid.wasm"]`. Ignored when the data directory already holds
    /// state: the active modules live in the replicated state.
    #[arg(long, value_name = "PATH")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub module: Option<Vec<PathBuf>>,
    /// The cluster's name; with the initial members it makes the cluster id that every
    /// peer message carries [default: wasmraft]
    #[arg(long)]
    pub cluster_name: Option<String>,
    /// Length of one Raft tick, in milliseconds [default: 50]
    #[arg(long)]
    pub tick_ms: Option<u64>,
    /// Ticks without a leader before an election; randomized up to twice this [default: 8]
    #[arg(long)]
    pub election_ticks: Option<usize>,
    /// Ticks between leader heartbeats [default: 1]
    #[arg(long)]
    pub heartbeat_ticks: Option<usize>,
    /// Take a snapshot every this many applied entries, at the next point where the apply
    /// instance is fresh (every 1024 entries), so never before entry 1024; past 16 MiB of
    /// state, also only once the entries since the last one add up to an eighth of the
    /// state beyond 16 MiB, so that snapshot writes stay proportional to the writes
    /// [default: 10000]
    #[arg(long)]
    pub snapshot_interval: Option<u64>,
    /// Log entries kept behind a snapshot for followers that lag briefly [default: 5000]
    #[arg(long)]
    pub snapshot_catchup: Option<u64>,
    /// Fuel per applier call; must be the same on every node [default: 1000000000]
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Linear memory per applier instance, MiB; must be the same on every node [default: 128]
    #[arg(long)]
    pub memory_mib: Option<usize>,
    /// Deadline of a client call that sets none, e.g. `10s`, `500ms` [default: 10s]
    #[arg(long, value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// How long the cluster remembers the outcome of a command proposed through this node
    /// with a request id (gRPC `request_id`, HTTP `Idempotency-Key`), so that a retry gets
    /// the first outcome instead of applying again; 60s to 24h. Each remembered request
    /// holds its output (up to 64 KiB) in the replicated state until then; the cluster
    /// holds at most 128 MiB of them and refuses new ids beyond (`request-table-full`)
    /// [default: 5m]
    #[arg(long, value_name = "DURATION")]
    pub request_window: Option<String>,
    /// Serve Prometheus metrics (text format, `GET /metrics`) on HOST:PORT, in plain HTTP:
    /// the figures hold no secrets, but give an address only the monitoring system reaches.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Also serve the module's HTTP API on HOST:PORT (`GET /healthy` answers without the
    /// module). Any member answers any request: writes go through the leader.
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<String>,
    /// Verify bearer tokens (RS256 JWTs, on HTTP and on the client gRPC API) with these RSA
    /// public keys (PEM files, comma-separated); without it, every HTTP request is anonymous.
    #[arg(long, value_name = "FILE,...", requires = "jwt_audience")]
    pub jwt_public_key: Option<String>,
    /// The token audiences (`aud`) accepted, comma-separated, e.g. the DSS's host name.
    #[arg(long, value_name = "NAME,...", requires = "jwt_public_key")]
    pub jwt_audience: Option<String>,
    /// Let USS base URLs use http:// (local testing); without it the module requires https.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub allow_http_base_urls: Option<bool>,
    /// A setting handed to the module with every HTTP request, as NAME=VALUE (repeat the
    /// flag for more), e.g. the SCD module's `locality`, `public-endpoint` and `dar-id`.
    #[arg(long, value_name = "NAME=VALUE")]
    pub http_setting: Option<Vec<String>>,
    /// Serve HTTP in the clear even with --client-cert (behind a proxy that terminates
    /// TLS, or for local development as the reference DSS is run); loopback only, unless
    /// --insecure.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub http_plain: Option<bool>,
    /// HTTP request bodies larger than this many KiB are refused (at most 65536) [default: 1024]
    #[arg(long, value_name = "KIB")]
    pub http_max_body_kib: Option<usize>,
    /// This node's certificate for the peer door (PEM), which must carry the DNS name
    /// `node-<id>.<cluster-name>`: peers speak mutual TLS 1.3 and know a node by it.
    #[arg(long, value_name = "FILE", requires_all = ["peer_key", "peer_ca"])]
    pub peer_cert: Option<PathBuf>,
    /// The private key of `--peer-cert` (PEM).
    #[arg(long, value_name = "FILE", requires = "peer_cert")]
    pub peer_key: Option<PathBuf>,
    /// The cluster's CA (PEM): a peer must present a certificate it issued.
    #[arg(long, value_name = "FILE", requires = "peer_cert")]
    pub peer_ca: Option<PathBuf>,
    /// Serve the client gRPC API and HTTP over TLS with this certificate (PEM).
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The private key of `--client-cert` (PEM).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Accept client certificates issued by this CA (PEM): a client certificate's CN names
    /// the caller and its O the caller's scopes (`wasmraft.admin`, `wasmraft.write`,
    /// `wasmraft.read` are the API's roles).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_ca: Option<PathBuf>,
    /// A directory made by `wasmraft dev-certs`: sets --peer-cert, --peer-key, --peer-ca,
    /// --client-cert, --client-key and --client-ca from its files for this node's id.
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// Serve without TLS or client authentication on addresses other than loopback. Without
    /// it, a node given no certificates refuses to listen anywhere but 127.0.0.1/::1.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub insecure: Option<bool>,
    /// How often the leader asks the module for housekeeping (such as removing what
    /// expired), e.g. `60s` [default: 60s]
    #[arg(long, value_name = "DURATION")]
    pub housekeeping_interval: Option<String>,
    /// How the node logs to stderr: `text`, or `json` for log collectors (one object a
    /// line, the event's fields beside its message, the node's id under `span`). RUST_LOG
    /// sets the levels [default: text]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The HTTP front door's settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: String,
    /// In the clear, whatever the client door does.
    pub plain: bool,
    /// What the module is handed with every request (`allow-http-base-urls` among them).
    pub module_settings: Vec<(String, String)>,
    pub max_body: usize,
}

const ALLOW_HTTP_BASE_URLS: &str = "allow-http-base-urls";
/// The setting the node adds itself: its cluster's id (hex), which no flag may set (the
/// DSS modules report it as the DSS Airspace Representation id unless `dar-id` is given,
/// as the reference reports its database cluster's id).
pub const CLUSTER_ID_SETTING: &str = "cluster-id";

/// `--http-setting` values, then `allow-http-base-urls`; a name given twice is refused.
fn module_settings(given: &[String], allow_http_base_urls: bool) -> anyhow::Result<Vec<(String, String)>> {
    let mut settings = Vec::new();
    for text in given {
        let Some((name, value)) = text.split_once('=').filter(|(name, _)| !name.trim().is_empty()) else {
            bail!("--http-setting `{text}`: expected NAME=VALUE");
        };
        let name = name.trim();
        if name == ALLOW_HTTP_BASE_URLS {
            bail!("--http-setting {name}: use --allow-http-base-urls");
        }
        if name == CLUSTER_ID_SETTING {
            bail!("--http-setting {name}: the node sets it (to its cluster's id)");
        }
        if settings.iter().any(|(n, _)| n == name) {
            bail!("--http-setting {name} is given twice");
        }
        settings.push((name.to_string(), value.to_string()));
    }
    settings.push((ALLOW_HTTP_BASE_URLS.to_string(), allow_http_base_urls.to_string()));
    Ok(settings)
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn duration(flag: &str, value: Option<String>, default: Duration) -> anyhow::Result<Duration> {
    match value {
        Some(t) => humantime::parse_duration(&t).with_context(|| format!("--{flag} `{t}`")),
        None => Ok(default),
    }
}

/// Resolved settings of a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: u64,
    /// The peer door.
    pub listen: String,
    /// The client gRPC door.
    pub client_listen: String,
    /// Mutual TLS between nodes; none: peers speak in the clear.
    pub peer_tls: Option<TlsFiles>,
    /// TLS for the client gRPC API and HTTP; none: in the clear.
    pub client_tls: Option<TlsFiles>,
    /// Bearer tokens: the RSA public keys that sign them and the audiences accepted.
    pub public_keys: Vec<PathBuf>,
    pub audiences: Vec<String>,
    /// A new cluster's members, this node included (empty unless bootstrapping).
    pub peers: BTreeMap<u64, String>,
    /// A member to join the cluster through.
    pub join: Option<String>,
    pub data_dir: PathBuf,
    /// The bootstrap appliers' modules, the primary first (empty unless bootstrapping).
    pub modules: Vec<PathBuf>,
    pub cluster_name: String,
    pub tick: Duration,
    pub election_ticks: usize,
    pub heartbeat_ticks: usize,
    pub snapshot_interval: u64,
    pub snapshot_catchup: u64,
    pub limits: Limits,
    pub request_timeout: Duration,
    pub request_window: Duration,
    pub http: Option<HttpSettings>,
    /// Where Prometheus scrapes this node, if anywhere.
    pub metrics_listen: Option<String>,
    pub housekeeping_interval: Duration,
}

/// A path or a list of paths (`module = "kv.wasm"` as well as `module = ["a", "b"]`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<PathBuf>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(Some(match OneOrMany::deserialize(d)? {
        OneOrMany::One(path) => vec![path],
        OneOrMany::Many(paths) => paths,
    }))
}

/// Parses `1=host:port,2=host:port`.
pub fn parse_peers(text: &str) -> anyhow::Result<BTreeMap<u64, String>> {
    let mut peers = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, address) = part.split_once('=').with_context(|| format!("`{part}` is not ID=HOST:PORT"))?;
        let id: u64 = id.trim().parse().with_context(|| format!("`{id}` is not a node id"))?;
        if id == 0 {
            bail!("node ids start at 1 (`{part}`)");
        }
        let address = address.trim();
        if address.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()).is_none() {
            bail!("`{address}` is not HOST:PORT");
        }
        if peers.insert(id, address.to_string()).is_some() {
            bail!("node {id} is listed twice");
        }
    }
    if peers.is_empty() {
        bail!("--peers lists no members");
    }
    Ok(peers)
}

macro_rules! merge {
    ($a:ident, $b:ident, $($field:ident),*) => {
        ServeArgs { config: $a.config, $($field: $a.$field.or($b.$field)),* }
    };
}

impl ServeArgs {
    /// Fills what the flags leave unset from the config file, if one is named.
    pub fn with_file(self) -> anyhow::Result<ServeArgs> {
        let Some(path) = &self.config else { return Ok(self) };
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let file: ServeArgs =
            toml::from_str(&text).with_context(|| format!("{} is not a valid config file", path.display()))?;
        let a = self;
        Ok(merge!(
            a,
            file,
            id,
            listen,
            client_listen,
            peers,
            join,
            data_dir,
            module,
            cluster_name,
            tick_ms,
            election_ticks,
            heartbeat_ticks,
            snapshot_interval,
            snapshot_catchup,
            fuel,
            memory_mib,
            request_timeout,
            request_window,
            metrics_listen,
            http_listen,
            jwt_public_key,
            jwt_audience,
            allow_http_base_urls,
            http_setting,
            http_max_body_kib,
            housekeeping_interval,
            http_plain,
            peer_cert,
            peer_key,
            peer_ca,
            client_cert,
            client_key,
            client_ca,
            tls_dir,
            insecure,
            log_format
        ))
    }

    /// The log format, from the flag or the config file, known before the node starts
    /// logging; text if neither says (a config file that does not load is reported when the
    /// settings are resolved).
    pub fn log_format(&self) -> LogFormat {
        let from_file = || {
            let text = std::fs::read_to_string(self.config.as_ref()?).ok()?;
            toml::from_str::<ServeArgs>(&text).ok()?.log_format
        };
        self.log_format.or_else(from_file).unwrap_or_default()
    }

    pub fn resolve(self) -> anyhow::Result<NodeConfig> {
        let args = self.with_file()?;
        let id = args.id.context("--id is required")?;
        let peers = match &args.peers {
            Some(text) => parse_peers(text)?,
            None => BTreeMap::new(),
        };
        if args.peers.is_some() && args.join.is_some() {
            bail!("--peers starts a new cluster and --join joins a running one: give one of them");
        }
        if !peers.is_empty() && !peers.contains_key(&id) {
            bail!("--peers must list this node ({id}) too");
        }
        let listen = args.listen.clone().context("--listen is required (the peer door)")?;
        let client_listen = args.client_listen.clone().context("--client-listen is required (the client gRPC door)")?;
        let (peer_tls, client_tls) = tls_files(&args, id)?;
        if !args.insecure.unwrap_or(false) {
            secure_enough(&args, &peers, peer_tls.is_some(), client_tls.is_some(), args.jwt_public_key.is_some())?;
        }
        let data_dir = args.data_dir.context("--data-dir is required")?;
        let defaults = Limits::default();
        let request_timeout = duration("request-timeout", args.request_timeout, Duration::from_secs(10))?;
        let request_window = duration("request-window", args.request_window, Duration::from_secs(300))?;
        if request_window.as_nanos() > u128::from(MAX_WINDOW_NS) {
            bail!("--request-window is at most 24h");
        }
        if request_window.as_nanos() < u128::from(MIN_WINDOW_NS) {
            bail!(
                "--request-window is at least 60s: a client retries a request for up to 30s by default (the CLI's \
                 --retry-for), entry times may differ by a second or so between leaders, and a retry after its \
                 outcome is forgotten would apply the command again"
            );
        }
        let housekeeping_interval =
            duration("housekeeping-interval", args.housekeeping_interval, Duration::from_secs(60))?;
        if housekeeping_interval.is_zero() {
            bail!("--housekeeping-interval must be positive");
        }
        let public_keys: Vec<PathBuf> =
            args.jwt_public_key.as_deref().map(comma_list).unwrap_or_default().into_iter().map(PathBuf::from).collect();
        let audiences = args.jwt_audience.as_deref().map(comma_list).unwrap_or_default();
        if public_keys.is_empty() != audiences.is_empty() {
            bail!("--jwt-public-key and --jwt-audience go together: tokens are checked against both");
        }
        let http = match args.http_listen.clone() {
            Some(listen) => Some(HttpSettings {
                listen,
                plain: args.http_plain.unwrap_or(false),
                module_settings: module_settings(
                    args.http_setting.as_deref().unwrap_or_default(),
                    args.allow_http_base_urls.unwrap_or(false),
                )?,
                max_body: match args.http_max_body_kib.unwrap_or(1024) {
                    kib @ 1..=MAX_HTTP_BODY_KIB => kib << 10,
                    kib => bail!(
                        "--http-max-body-kib {kib}: from 1 to {MAX_HTTP_BODY_KIB} (a command travels in one entry)"
                    ),
                },
            }),
            None if args.allow_http_base_urls.is_some() || args.http_setting.is_some() || args.http_plain.is_some() => {
                bail!("--allow-http-base-urls, --http-setting and --http-plain are settings of --http-listen")
            }
            None => None,
        };
        // 50 ms heartbeats and elections after 400-800 ms without one: no more than about
        // 850 ms without a leader when one stops (README, "Availability").
        let election_ticks = args.election_ticks.unwrap_or(8);
        let heartbeat_ticks = args.heartbeat_ticks.unwrap_or(1);
        if heartbeat_ticks == 0 || election_ticks <= heartbeat_ticks {
            bail!(
                "--election-ticks ({election_ticks}) must be larger than --heartbeat-ticks ({heartbeat_ticks}), which must be at least 1"
            );
        }
        let tick_ms = args.tick_ms.unwrap_or(50);
        if tick_ms == 0 {
            bail!("--tick-ms must be at least 1");
        }
        Ok(NodeConfig {
            id,
            listen,
            client_listen,
            peer_tls,
            client_tls,
            public_keys,
            audiences,
            peers,
            join: args.join,
            data_dir,
            modules: args.module.unwrap_or_default(),
            cluster_name: args.cluster_name.unwrap_or_else(|| "wasmraft".into()),
            tick: Duration::from_millis(tick_ms),
            election_ticks,
            heartbeat_ticks,
            snapshot_interval: args.snapshot_interval.unwrap_or(10_000).max(1),
            snapshot_catchup: args.snapshot_catchup.unwrap_or(5_000),
            limits: Limits {
                fuel_per_call: args.fuel.unwrap_or(defaults.fuel_per_call),
                memory_bytes: args.memory_mib.map_or(defaults.memory_bytes, |m| m << 20),
            },
            request_timeout,
            request_window,
            http,
            metrics_listen: args.metrics_listen,
            housekeeping_interval,
        })
    }
}

/// The doors' TLS files: from the flags, else from `--tls-dir`.
fn tls_files(args: &ServeArgs, id: u64) -> anyhow::Result<(Option<TlsFiles>, Option<TlsFiles>)> {
    let (node, dir) = (dev::node_files(id), args.tls_dir.as_deref());
    let cert = dir.map(|d| dev::cert_file(d, &node));
    let key = dir.map(|d| dev::key_file(d, &node));
    let ca = dir.map(dev::ca_file);
    let peer = match (args.peer_cert.clone().or(cert.clone()), args.peer_key.clone().or(key.clone())) {
        (Some(cert), Some(key)) => {
            let ca = args.peer_ca.clone().or(ca.clone()).context("--peer-cert needs --peer-ca")?;
            Some(TlsFiles { cert, key, ca: Some(ca) })
        }
        (None, None) if args.peer_ca.is_none() => None,
        _ => bail!("--peer-cert, --peer-key and --peer-ca go together"),
    };
    let client = match (args.client_cert.clone().or(cert), args.client_key.clone().or(key)) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key, ca: args.client_ca.clone().or(ca) }),
        (None, None) if args.client_ca.is_none() => None,
        _ => bail!("--client-cert and --client-key go together, and --client-ca needs them"),
    };
    Ok((peer, client))
}

/// Refuses a node that anyone off this machine could reach in the clear, or command
/// without credentials, unless `--insecure` says that is meant.
fn secure_enough(
    args: &ServeArgs,
    peers: &BTreeMap<u64, String>,
    peer_tls: bool,
    client_tls: bool,
    tokens: bool,
) -> anyhow::Result<()> {
    fn remote<'a>(mut addresses: impl Iterator<Item = &'a String>) -> Option<&'a String> {
        addresses.find(|a| !is_loopback(a))
    }
    let peer_addresses = args.listen.iter().chain(peers.values()).chain(args.join.iter());
    let advice = "give certificates (`wasmraft dev-certs` makes a set for trying it out), or --insecure";
    if !peer_tls && let Some(address) = remote(peer_addresses) {
        bail!(
            "peers would talk in the clear over {address}: without --peer-cert, only loopback addresses are served; {advice}"
        );
    }
    let http_plain = !client_tls || args.http_plain.unwrap_or(false);
    let plain = args.client_listen.iter().filter(|_| !client_tls).chain(args.http_listen.iter().filter(|_| http_plain));
    if let Some(address) = remote(plain) {
        bail!(
            "clients would talk in the clear at {address}: without TLS, only loopback addresses are served; {advice}"
        );
    }
    let verifies_clients = args.client_ca.is_some() || args.tls_dir.is_some() || tokens;
    if !verifies_clients && let Some(address) = remote(args.client_listen.iter()) {
        bail!(
            "anyone reaching {address} could upgrade the module or change the members: without --client-ca or \
             --jwt-public-key, the client API is served on loopback only; {advice}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_refuse_nonsense() {
        let p = parse_peers("1=127.0.0.1:7001, 2=localhost:7002").unwrap();
        assert_eq!(p[&2], "localhost:7002");
        for bad in ["", "1", "0=a:1", "x=a:1", "1=a", "1=a:99999", "1=a:1,1=b:2"] {
            assert!(parse_peers(bad).is_err(), "accepted `{bad}`");
        }
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("node.toml");
        std::fs::write(
            &file,
            "id = 1\nlisten = \"127.0.0.1:7001\"\nclient-listen = \"127.0.0.1:7101\"\npeers = \"1=127.0.0.1:7001\"\ndata-dir = \"/tmp/x\"\ntick-ms = 50\n",
        )
        .unwrap();
        let args = ServeArgs { config: Some(file.clone()), tick_ms: Some(20), ..Default::default() };
        let c = args.resolve().unwrap();
        assert_eq!((c.id, c.tick, c.election_ticks), (1, Duration::from_millis(20), 8));
        std::fs::write(&file, "id = 1\nbogus = 3\n").unwrap();
        let err = ServeArgs { config: Some(file), ..Default::default() }.resolve().unwrap_err();
        assert!(format!("{err:#}").contains("bogus"), "{err:#}");
    }

    #[test]
    fn a_request_window_too_short_to_retry_in_is_refused() {
        let base = || ServeArgs {
            id: Some(1),
            listen: Some("127.0.0.1:7001".into()),
            client_listen: Some("127.0.0.1:7101".into()),
            peers: Some("1=127.0.0.1:7001".into()),
            data_dir: Some("/tmp/x".into()),
            ..Default::default()
        };
        let window = |w: &str| ServeArgs { request_window: Some(w.into()), ..base() }.resolve();
        assert_eq!(base().resolve().unwrap().request_window, Duration::from_secs(300));
        assert_eq!(window("60s").unwrap().request_window, Duration::from_secs(60));
        // 30 s was the least: a last retry at the CLI's 30 s could find its outcome gone.
        for (short, why) in
            [("0s", "at least 60s"), ("30s", "at least 60s"), ("59s", "at least 60s"), ("25h", "at most 24h")]
        {
            let e = window(short).unwrap_err();
            assert!(e.to_string().contains(why), "{short}: {e}");
        }
    }

    #[test]
    fn an_http_body_limit_beyond_one_message_is_refused() {
        let args = |kib| ServeArgs {
            id: Some(1),
            listen: Some("127.0.0.1:7001".into()),
            client_listen: Some("127.0.0.1:7101".into()),
            peers: Some("1=127.0.0.1:7001".into()),
            data_dir: Some("/tmp/x".into()),
            http_listen: Some("127.0.0.1:8001".into()),
            http_max_body_kib: Some(kib),
            ..Default::default()
        };
        assert_eq!(args(65536).resolve().unwrap().http.unwrap().max_body, 64 << 20);
        // It was shifted into nonsense (usize::MAX << 10) rather than refused.
        for kib in [0, 65537, usize::MAX] {
            let e = args(kib).resolve().unwrap_err();
            assert!(e.to_string().contains("from 1 to 65536"), "{kib}: {e}");
        }
    }

    #[test]
    fn the_log_format_comes_from_the_flag_else_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("node.toml");
        std::fs::write(&file, "id = 1\nlog-format = \"json\"\n").unwrap();
        let args = |log_format| ServeArgs { config: Some(file.clone()), log_format, ..Default::default() };
        assert_eq!(args(None).log_format(), LogFormat::Json);
        assert_eq!(args(Some(LogFormat::Text)).log_format(), LogFormat::Text);
        assert_eq!(ServeArgs::default().log_format(), LogFormat::Text);
    }

    #[test]
    fn modules_come_one_or_many() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("node.toml");
        let base = "id = 1\nlisten = \"127.0.0.1:7001\"\nclient-listen = \"127.0.0.1:7101\"\npeers = \"1=127.0.0.1:7001\"\ndata-dir = \"/tmp/x\"\n";
        let modules = |extra: &str| {
            std::fs::write(&file, format!("{base}{extra}")).unwrap();
            ServeArgs { config: Some(file.clone()), ..Default::default() }.resolve().unwrap().modules
        };
        assert_eq!(modules("module = \"kv.wasm\"\n"), [PathBuf::from("kv.wasm")]);
        assert_eq!(modules("module = [\"scd.wasm\", \"rid.wasm\"]\n"), [PathBuf::from("scd.wasm"), "rid.wasm".into()]);
        assert!(modules("").is_empty());
    }

    #[test]
    fn module_settings_are_name_value_pairs() {
        let given = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let settings =
            module_settings(&given(&["locality=dss-a", "public-endpoint=https://dss.example.com/a=b"]), true).unwrap();
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            settings,
            [
                pair("locality", "dss-a"),
                pair("public-endpoint", "https://dss.example.com/a=b"),
                pair("allow-http-base-urls", "true")
            ]
        );
        for (bad, why) in [
            (&["locality"][..], "NAME=VALUE"),
            (&["=x"], "NAME=VALUE"),
            (&["a=1", "a=2"], "twice"),
            (&["allow-http-base-urls=true"], "--allow-http-base-urls"),
            (&["cluster-id=mine"], "the node sets it"),
        ] {
            let e = module_settings(&given(bad), false).unwrap_err();
            assert!(e.to_string().contains(why), "{bad:?}: {e}");
        }
        let without_http = ServeArgs { http_setting: Some(given(&["a=1"])), ..Default::default() };
        let dir = tempfile::tempdir().unwrap();
        let args = ServeArgs {
            id: Some(1),
            listen: Some("127.0.0.1:1".into()),
            client_listen: Some("127.0.0.1:2".into()),
            data_dir: Some(dir.path().into()),
            ..without_http
        };
        assert!(format!("{:#}", args.resolve().unwrap_err()).contains("settings of --http-listen"));
    }

    #[test]
    fn without_certificates_only_loopback_is_served_unless_insecure() {
        let dir = tempfile::tempdir().unwrap();
        let node = |listen: &str, client: &str, extra: ServeArgs| ServeArgs {
            id: Some(1),
            listen: Some(listen.into()),
            client_listen: Some(client.into()),
            data_dir: Some(dir.path().into()),
            ..extra
        };
        node("127.0.0.1:1", "[::1]:2", ServeArgs::default()).resolve().unwrap();
        let refused = |args: ServeArgs, why: &str| {
            let e = format!("{:#}", args.resolve().unwrap_err());
            assert!(e.contains(why), "{e}");
        };
        refused(node("0.0.0.0:1", "127.0.0.1:2", ServeArgs::default()), "peers would talk in the clear over 0.0.0.0:1");
        let remote_peer = ServeArgs { peers: Some("1=127.0.0.1:1,2=10.0.0.2:1".into()), ..Default::default() };
        refused(node("127.0.0.1:1", "127.0.0.1:2", remote_peer), "over 10.0.0.2:1");
        refused(
            node("127.0.0.1:1", "10.0.0.1:2", ServeArgs::default()),
            "clients would talk in the clear at 10.0.0.1:2",
        );
        let remote_http = ServeArgs { http_listen: Some("0.0.0.0:80".into()), ..Default::default() };
        refused(node("127.0.0.1:1", "127.0.0.1:2", remote_http), "at 0.0.0.0:80");
        let insecure = ServeArgs { insecure: Some(true), ..Default::default() };
        node("0.0.0.0:1", "0.0.0.0:2", insecure).resolve().unwrap();
        // TLS for clients, but no way to tell who they are: the client API stays on loopback.
        let tls_only = ServeArgs {
            client_cert: Some("c.pem".into()),
            client_key: Some("k.pem".into()),
            insecure: None,
            ..Default::default()
        };
        refused(node("127.0.0.1:1", "10.0.0.1:2", tls_only), "anyone reaching 10.0.0.1:2 could upgrade");
        let half = ServeArgs { peer_cert: Some("c.pem".into()), ..Default::default() };
        refused(node("127.0.0.1:1", "127.0.0.1:2", half), "go together");
        let dev = ServeArgs { tls_dir: Some("/certs".into()), ..Default::default() };
        let c = node("10.0.0.1:1", "10.0.0.1:2", dev).resolve().unwrap();
        let peer = c.peer_tls.unwrap();
        assert_eq!(
            (peer.cert, peer.key, peer.ca),
            ("/certs/node-1.pem".into(), "/certs/node-1-key.pem".into(), Some("/certs/ca.pem".into()))
        );
        assert_eq!(c.client_tls.unwrap().ca, Some("/certs/ca.pem".into()));
    }
}
