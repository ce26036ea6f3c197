//! A wasmraft node: its data directory, its threads, and how they are wired.
//!
//! ```text
//! data-dir/  LOCK  identity.json  module.wasm, module-2.wasm, ... (the bootstrap modules)
//!            log/ (raft-engine)  snapshots/  module-cache/ (compiled code)
//! ```
//! Threads: the Raft thread ([`crate::consensus`]), the apply thread ([`crate::apply`]),
//! the snapshot writer, a small tokio runtime for the peer door and transport, and another
//! for the client doors (gRPC and HTTP), so that client load never holds up consensus.

pub mod agreement;
pub mod config;
mod housekeeping;
pub mod identity;
pub mod restore;

use crate::api::ClientService;
use crate::api::authz::Authorizer;
use crate::api::standard;
use crate::apply::Applier;
use crate::consensus::{Consensus, Settings};
use crate::durable;
use crate::entry::EntryData;
use crate::handle::NodeHandle;
use crate::http::{self, Gateway, auth::Verifier};
use crate::inbox::Event;
use crate::log::RaftLog;
use crate::membership::MemberBook;
use crate::metrics::{self, GrpcLayer, Metrics};
use crate::proposals::{Proposals, ProposeError};
use crate::runtime::engine::POOL_INSTANCES;
use crate::runtime::{Checkpoint, Runtime, WasmBackend, WasmEngine};
use crate::snapshot::writer::{self, Schedule};
use crate::snapshot::{self, SnapshotDir, SnapshotFile};
use crate::status::StatusBoard;
use crate::tls::{self, Credentials, Door};
use crate::transport::server::PeerService;
use crate::transport::{self, Transport};
use agreement::ConsensusSettings;
use anyhow::{Context, bail};
use config::NodeConfig;
use fs2::FileExt;
use identity::Identity;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// How long in-flight calls get to finish once the node is told to stop.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Holds the data directory's lock for the life of the node.
fn lock(dir: &Path) -> anyhow::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("LOCK"))?;
    file.try_lock_exclusive().with_context(|| format!("{} is in use by another wasmraft process", dir.display()))?;
    Ok(file)
}

/// The primary applier's module as the cluster started with it, which a joining node
/// replays the log from; the n-th applier's (from the second) is `module-<n>.wasm`.
pub const MODULE_FILE: &str = "module.wasm";
/// The data directory's snapshot files (see [`SnapshotDir`]).
pub const SNAPSHOTS_DIR: &str = "snapshots";

pub(crate) fn bootstrap_file(dir: &Path, n: usize) -> std::path::PathBuf {
    match n {
        0 => dir.join(MODULE_FILE),
        n => dir.join(format!("module-{}.wasm", n + 1)),
    }
}

/// The bootstrap module files of a data directory, in hosting order.
fn bootstrap_files(dir: &Path) -> Vec<std::path::PathBuf> {
    (0..).map(|n| bootstrap_file(dir, n)).take_while(|path| path.exists()).collect()
}

fn read_all(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
    let max = crate::runtime::module::MAX_MODULE_BYTES;
    paths
        .iter()
        .map(|path| durable::read(path, max).with_context(|| format!("cannot read {}", path.display())))
        .collect()
}

/// Loads modules and checks that they can be hosted together (distinct names, routes
/// that do not overlap).
fn load_all(engine: &WasmEngine, modules: &[Vec<u8>]) -> anyhow::Result<Vec<Arc<crate::runtime::LoadedModule>>> {
    let loaded = modules.iter().map(|m| engine.load(m)).collect::<Result<Vec<_>, _>>()?;
    let descriptors: Vec<_> = loaded.iter().map(|m| m.descriptor()).collect();
    crate::runtime::hosting_check(&descriptors)?;
    Ok(loaded)
}

/// The newest snapshot file that loads, once the files beyond what this node has committed
/// are gone (a received snapshot whose acceptance never became durable lies beyond it).
fn newest_usable_snapshot(dir: &SnapshotDir, commit: u64) -> anyhow::Result<Option<SnapshotFile>> {
    dir.discard_beyond(commit)?;
    for (_, _, path) in dir.list()? {
        match snapshot::load(&path) {
            Ok(file) => return Ok(Some(file)),
            Err(e) => tracing::warn!(path = %path.display(), "skipping a snapshot that does not load: {e}"),
        }
    }
    Ok(None)
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminated => {},
    }
    tracing::info!("shutting down");
}

/// The data directory's identity, bootstrapping a new node: from `--peers` (a new cluster)
/// or from a member reached with `--join`. A new node's directory gets the module its
/// cluster started with and the member book, then its identity: `identity.json` is written
/// last, so a directory without it (or, as older versions left it, with it but with neither
/// the module nor a log) is one whose bootstrap did not finish, and bootstraps again.
fn establish(config: &NodeConfig, engine: &WasmEngine, tokio: &tokio::runtime::Runtime) -> anyhow::Result<Identity> {
    let dir = &config.data_dir;
    if identity::exists(dir) && (dir.join(MODULE_FILE).exists() || dir.join("log").exists()) {
        let wanted = (!config.peers.is_empty()).then(|| Identity::bootstrapping(config));
        if !config.modules.is_empty() {
            tracing::info!("--module is ignored: {} already holds this node's state and module", dir.display());
        }
        return identity::establish(dir, config.id, wanted);
    }
    let (wanted, modules, members) = match &config.join {
        Some(through) => {
            // The cluster's name is not known yet: `--cluster-name` says which to expect.
            let tls = peer_credentials(config, &config.cluster_name)?;
            let info = tokio
                .block_on(transport::ask_to_join(tls.as_deref(), through, config.id))
                .map_err(|e| anyhow::anyhow!("cannot join the cluster through {through}: {e}"))?;
            // A member of an older version sends none.
            let consensus = match info.consensus_settings.as_str() {
                "" => None,
                json => Some(ConsensusSettings::of_cluster(json).context("the cluster's consensus settings")?),
            };
            if let Some(theirs) = &consensus {
                ConsensusSettings::of(&config.limits).check(theirs, &format!("the cluster's (as {through} says)"))?;
            }
            let identity = Identity {
                cluster_name: info.cluster_name,
                cluster_id: format!("{:016x}", info.cluster_id),
                node_id: config.id,
                initial_members: info.initial_members,
                consensus,
                restored_from: None,
                bootstrap_modules: None,
            };
            let modules = std::iter::once(info.bootstrap_module).chain(info.later_bootstrap_modules).collect();
            (Some(identity), modules, MemberBook::from_addresses(info.addresses.into_iter().collect()))
        }
        None => {
            if config.modules.is_empty() {
                bail!("a new node needs --module: the applier (or appliers) its cluster starts with");
            }
            let modules = read_all(&config.modules)?;
            let wanted = (!config.peers.is_empty()).then(|| Identity::bootstrapping(config));
            (wanted, modules, MemberBook::from_addresses(config.peers.clone()))
        }
    };
    load_all(engine, &modules).context("the cluster's first modules cannot be hosted")?;
    let wanted = wanted.map(|w| Identity { bootstrap_modules: Some(modules.len()), ..w });
    let identity = identity::establish(dir, config.id, wanted)?;
    for (n, module) in modules.iter().enumerate() {
        durable::write(&bootstrap_file(dir, n), module)?;
    }
    // An interrupted bootstrap may have left more (the files are read while they follow on).
    for path in (modules.len()..).map(|n| bootstrap_file(dir, n)).take_while(|path| path.exists()) {
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    members.save(dir)?;
    identity::write(dir, &identity)?;
    Ok(identity)
}

/// The peer door's credentials, for a node of `cluster`.
fn peer_credentials(config: &NodeConfig, cluster: &str) -> anyhow::Result<Option<Arc<Credentials>>> {
    let Some(files) = &config.peer_tls else { return Ok(None) };
    let creds = Credentials::load(files.clone(), Door::Peer { id: config.id }, cluster).context("--peer-cert")?;
    Ok(Some(creds))
}

/// Reads the certificate files again on every SIGHUP; a failure keeps those in use.
async fn reload_on_hangup(doors: Vec<(&'static str, Arc<Credentials>)>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
    while hangups.recv().await.is_some() {
        for (door, creds) in &doors {
            match creds.reload() {
                Ok(()) => tracing::info!(door, "reloaded the certificate files"),
                Err(e) => tracing::error!(door, "kept the certificates in use; reloading failed: {e:#}"),
            }
        }
    }
}

/// Connections open at once on each door (see [`tls::accept`]).
const MAX_PEER_CONNECTIONS: usize = 256;
const MAX_CLIENT_CONNECTIONS: usize = 1024;
/// gRPC requests in flight on one client connection.
const MAX_CLIENT_STREAMS: u32 = 128;
/// Calls in flight on one peer connection: a peer keeps one Raft stream, sends a snapshot
/// or two, and hands over the odd member call.
const MAX_PEER_STREAMS: u32 = 32;

/// A panic in any thread stops the node: a node whose Raft or apply thread died but whose
/// gRPC server still answers would look alive to its peers and to operators.
fn exit_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        tracing::error!("halting: {info}");
        std::process::exit(70);
    }));
}

thread_local! {
    /// The node's span, entered for the life of a runtime's thread (see [`log_in`]).
    static IN_NODE: std::cell::RefCell<Option<tracing::span::EnteredSpan>> = const { std::cell::RefCell::new(None) };
}

/// Has every thread of `runtime` log in `span`: a task does not carry its spawner's span.
fn log_in<'a>(runtime: &'a mut tokio::runtime::Builder, span: &tracing::Span) -> &'a mut tokio::runtime::Builder {
    let span = span.clone();
    runtime
        .on_thread_start(move || IN_NODE.with(|entered| *entered.borrow_mut() = Some(span.clone().entered())))
        .on_thread_stop(|| IN_NODE.with(|entered| drop(entered.borrow_mut().take())))
}

/// `f`, run in `span` (on a thread of its own).
fn in_span<T>(span: tracing::Span, f: impl FnOnce() -> T) -> impl FnOnce() -> T {
    move || span.in_scope(f)
}

/// How long a leader that is asked to stop waits for another voter to take over.
const HANDOVER: std::time::Duration = std::time::Duration::from_secs(3);

/// A leader that stops hands leadership to the most caught-up voter first, so that the
/// cluster does not wait out an election timeout.
async fn hand_over_leadership(events: &crossbeam_channel::Sender<Event>, status: &StatusBoard, me: u64) {
    if status.consensus().leader != me {
        return;
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    if events.send(Event::TransferLeader { to: 0, reply }).is_err() {
        return;
    }
    let Ok(Ok(to)) = answer.await else { return };
    let until = std::time::Instant::now() + HANDOVER;
    while std::time::Instant::now() < until {
        if status.consensus().leader == to {
            tracing::info!(to, "handed leadership over");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tracing::warn!(to, "leadership did not move within {HANDOVER:?}; stopping anyway");
}

/// Runs a node until it is told to stop (SIGINT, SIGTERM).
pub fn run(config: NodeConfig) -> anyhow::Result<()> {
    exit_on_panic();
    // Every line the node logs names it, from every thread. At the error level, so that
    // whatever RUST_LOG lets through carries it.
    let span = tracing::error_span!("node", node = config.id);
    let _in_span = span.enter();
    let dir = &config.data_dir;
    durable::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _lock = lock(dir)?;
    let tokio =
        log_in(&mut tokio::runtime::Builder::new_multi_thread(), &span).worker_threads(2).enable_all().build()?;
    let engine = WasmEngine::new(config.limits, Some(dir.join("module-cache")))?;
    let metrics = Arc::new(Metrics::new());
    engine.observe_compiles(metrics.module_compile.clone());
    metrics.watch_pool(engine.engine(), POOL_INSTANCES);
    let identity = establish(&config, &engine, &tokio)?;
    let cluster_id = identity.cluster_id();
    let peer_tls = peer_credentials(&config, &identity.cluster_name)?;
    let client_tls = match &config.client_tls {
        Some(files) => {
            Some(Credentials::load(files.clone(), Door::Client, &identity.cluster_name).context("--client-cert")?)
        }
        None => None,
    };
    let agreed = ConsensusSettings::of(&config.limits);
    match &identity.consensus {
        Some(recorded) => {
            agreed.check(recorded, "its cluster's (recorded in identity.json when the node was created)")?
        }
        None => {
            tracing::info!("{} records no consensus settings (an older version made it); not checked", dir.display())
        }
    }
    let bootstrap_modules = bootstrap_files(dir);
    if let Some(recorded) = identity.bootstrap_modules
        && bootstrap_modules.len() != recorded
    {
        // Without one, the log would replay with an applier missing: a state of its own.
        bail!(
            "{} holds {} module file(s) ({} and module-N.wasm), but its cluster started with {recorded}: \
             bring back what is missing (or remove what is not its own), or remove {} and add the node back",
            dir.display(),
            bootstrap_modules.len(),
            MODULE_FILE,
            dir.display()
        );
    }
    if let Some(listen) = &config.metrics_listen {
        // Once the directory is known to be this node's, before the log replays and the
        // modules load: a restarting node is watched too.
        metrics::serve::start(listen, metrics.clone())?;
    }

    let mut log = RaftLog::open(&dir.join("log")).context("cannot open the write-ahead log")?;
    if !log.is_initialized() {
        // A node's first start writes its log's first members, then makes `snapshots/`:
        // with that directory there, a log without them was lost (a disk not mounted, a
        // file wiped). Starting afresh would forget this node's votes and the entries it
        // acknowledged, and make it a voter that lets a node without them win.
        if dir.join(SNAPSHOTS_DIR).exists() {
            bail!(
                "the write-ahead log in {} is empty, yet this node has run before (its {SNAPSHOTS_DIR}/ is there): \
                 its votes and acknowledged entries are gone. Bring the log back (is its disk mounted?), \
                 or remove {} and add the node back to the cluster",
                dir.join("log").display(),
                dir.display()
            );
        }
        log.bootstrap(&identity.initial_members)?;
    }
    let snapshots = Arc::new(SnapshotDir::open(dir.join(SNAPSHOTS_DIR))?);
    // The loaded snapshot's state size seeds the snapshot schedule: a large state is not
    // snapshotted again 10,000 entries after every restart.
    let (checkpoint, modules, conf_state, snapshot_members, snapshot_state_bytes) =
        match newest_usable_snapshot(&snapshots, log.hard_state().commit)? {
            Some(file) => {
                if file.meta.index + 1 < log.first_index() {
                    bail!(
                        "the newest usable snapshot (index {}) is older than the log (which starts at {}): \
                     this node's state cannot be rebuilt here; remove {} and add the node back to the cluster",
                        file.meta.index,
                        log.first_index(),
                        dir.display()
                    );
                }
                log.set_snapshot(file.meta.clone())?;
                let file_bytes =
                    std::fs::metadata(snapshots.path(file.meta.index, file.meta.term)).map_or(0, |m| m.len());
                let state_bytes = writer::state_share(file_bytes, &file.modules);
                (file.checkpoint, file.modules, file.meta.get_conf_state().clone(), Some(file.members), state_bytes)
            }
            None => {
                if log.first_index() > 1 {
                    bail!(
                        "{} has a compacted log but no usable snapshot: remove it and add the node back",
                        dir.display()
                    );
                }
                let modules = read_all(&bootstrap_modules)?;
                // The log replays from its start, conf changes included: Raft starts from the
                // first membership (whatever a snapshot that no longer loads recorded).
                log.bootstrap(&identity.initial_members)?;
                (Checkpoint::default(), modules, log.conf_state().clone(), None, 0)
            }
        };
    let loaded = load_all(&engine, &modules).context("the node's active modules cannot be hosted")?;
    let backends = loaded.into_iter().map(|m| Box::new(WasmBackend::new(engine.clone(), m)) as _).collect();
    let runtime = Runtime::restore_all(backends, checkpoint).context("the node's state and modules disagree")?;
    let applied = runtime.applied().index;
    tracing::info!(id = config.id, cluster = %identity.cluster_id, applied, commit = log.hard_state().commit, "starting");

    let (events_tx, events_rx) = crossbeam_channel::unbounded();
    let (apply_tx, apply_rx) = crossbeam_channel::unbounded();
    let (writer_tx, writer_rx) = crossbeam_channel::unbounded();
    let proposals = Arc::new(
        Proposals::new(config.id).map_err(|e| anyhow::anyhow!("no random bytes from the OS for proposal ids: {e}"))?,
    );
    let status = Arc::new(StatusBoard::default());

    // The book as of where the replay starts: the snapshot's, whose later changes the replay
    // reapplies. The one saved on disk may be older than the snapshot (a stop between adopting
    // a snapshot and saving its book), and the changes between are no longer in the log.
    // Without a snapshot the log replays from its start, on the saved book (which holds the
    // first members' addresses; applying a change again is idempotent).
    let members = match snapshot_members {
        Some(book) => book,
        None => MemberBook::load(dir)?.unwrap_or_else(|| MemberBook::from_addresses(config.peers.clone())),
    };
    let listener = tokio
        .block_on(tokio::net::TcpListener::bind(&config.listen))
        .with_context(|| format!("cannot listen for peers on {}", config.listen))?;

    let others: BTreeMap<u64, String> =
        members.addresses.iter().filter(|(id, _)| **id != config.id).map(|(id, a)| (*id, a.clone())).collect();
    let transport = Transport::start(
        config.id,
        cluster_id,
        agreed.digest(),
        &others,
        events_tx.clone(),
        snapshots.clone(),
        peer_tls.clone(),
        tokio.handle().clone(),
        (metrics.clone(), status.clone()),
    );
    let settings = Settings {
        id: config.id,
        tick: config.tick,
        election_ticks: config.election_ticks,
        heartbeat_ticks: config.heartbeat_ticks,
        catchup_entries: config.snapshot_catchup,
        applied,
        members: members.clone(),
        snapshots: snapshots.clone(),
    };
    let precompile = engine.clone();
    let consensus =
        Consensus::new(settings, log, events_rx, transport, apply_tx.clone(), proposals.clone(), status.clone())?
            .with_metrics(metrics.clone())
            .on_upgrade_appended(move |data| {
                // Compiled code is cached by content hash: at apply time, loading is a lookup
                // (or waits for this compile to finish). Off the raft thread, decoding included.
                let (engine, data) = (precompile.clone(), data.to_vec());
                std::thread::spawn(in_span(tracing::Span::current(), move || {
                    if let Ok(EntryData::Upgrade(up)) = EntryData::decode(&data)
                        && let Err(e) = engine.load(&up.module)
                    {
                        tracing::warn!("an appended upgrade's module does not compile here: {e}");
                    }
                }));
            });
    let snapshot_state_bytes = Arc::new(std::sync::atomic::AtomicU64::new(snapshot_state_bytes));
    let schedule = Schedule::new(config.snapshot_interval, runtime.applied().index, snapshot_state_bytes.clone());
    let applier = Applier {
        runtime,
        engine: engine.clone(),
        modules: modules.into_iter().map(Arc::new).collect(),
        conf_state,
        members,
        data_dir: dir.clone(),
        proposals: proposals.clone(),
        events: events_tx.clone(),
        snapshots: snapshots.clone(),
        writer: writer_tx,
        status: status.clone(),
        schedule,
        metrics: metrics.clone(),
        setup_changed: true,
    };
    let raft_thread = std::thread::Builder::new().name("raft".into()).spawn({
        let proposals = proposals.clone();
        in_span(span.clone(), move || {
            if let Err(e) = consensus.run() {
                tracing::error!("halting: {e}");
                proposals.fail_all(ProposeError::Halted(e.to_string()));
                std::process::exit(70);
            }
        })
    })?;
    std::thread::Builder::new().name("apply".into()).spawn(in_span(span.clone(), move || applier.run(apply_rx)))?;
    std::thread::Builder::new().name("snapshot-writer".into()).spawn({
        let (snapshots, events) = (snapshots.clone(), events_tx.clone());
        let metrics = metrics.clone();
        in_span(span.clone(), move || writer::run(writer_rx, snapshots, events, metrics, snapshot_state_bytes))
    })?;

    let tokens = match config.public_keys.is_empty() {
        true => None,
        false => Some(Arc::new(
            Verifier::from_files(&config.public_keys, config.audiences.clone())
                .context("cannot load --jwt-public-key")?,
        )),
    };
    let authz = Authorizer {
        tokens: tokens.clone(),
        certificates: client_tls.as_ref().is_some_and(|tls| tls.verifies_clients()),
    };
    if authz.is_open() {
        tracing::warn!(
            "the client API checks no credentials (no --client-ca, no --jwt-public-key): anyone who reaches it may do anything"
        );
    }
    let node = Arc::new(NodeHandle {
        id: config.id,
        cluster_id,
        events: events_tx.clone(),
        apply: apply_tx,
        proposals: proposals.clone(),
        status: status.clone(),
        deadline: config.request_timeout,
        engine: engine.clone(),
        tls: peer_tls.clone(),
        admission: Default::default(),
        request_window: config.request_window,
        snapshots: snapshots.clone(),
        metrics: metrics.clone(),
        last_round: Default::default(),
    });
    let peer = PeerService {
        id: config.id,
        cluster_id,
        settings_digest: agreed.digest(),
        consensus: agreed,
        identity: identity.clone(),
        bootstrap_modules,
        events: events_tx.clone(),
        snapshots,
        engine,
        status: status.clone(),
        refusals_logged: Default::default(),
        tls: peer_tls.is_some(),
        node: node.clone(),
        transfers: Default::default(),
    };
    tokio.spawn(housekeeping::run(node.clone(), config.housekeeping_interval));
    let doors = [("peer", peer_tls.clone()), ("client", client_tls.clone())];
    tokio.spawn(reload_on_hangup(doors.into_iter().filter_map(|(door, tls)| Some((door, tls?))).collect()));

    // The client doors run on their own workers (and blocking threads, where the module's
    // calls run), apart from the peer door and the transport.
    let front = log_in(&mut tokio::runtime::Builder::new_multi_thread(), &span)
        .worker_threads(2)
        .thread_name("front")
        .enable_all()
        .build()?;
    let (front_stop, front_stopped) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stopped = front_stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    if let Some(http) = &config.http {
        if tokens.is_none() {
            tracing::warn!("no --jwt-public-key: every HTTP request is anonymous");
        }
        let gateway = Arc::new(Gateway {
            node: node.clone(),
            verifier: tokens,
            settings: http
                .module_settings
                .iter()
                .cloned()
                .chain([(config::CLUSTER_ID_SETTING.to_string(), identity.cluster_id.clone())])
                .collect(),
            max_body: http.max_body,
            receiving: crate::budget::Budget::new(http::MAX_RECEIVING.max(2 * http.max_body)),
            anonymous: crate::budget::Budget::new(http::ANONYMOUS_RECEIVING.max(2 * http.max_body)),
            deadline: config.request_timeout,
        });
        let listener = front
            .block_on(tokio::net::TcpListener::bind(&http.listen))
            .with_context(|| format!("cannot listen for HTTP on {}", http.listen))?;
        let tls = client_tls.clone().filter(|_| !http.plain);
        tracing::info!(listen = %http.listen, tls = tls.is_some(), "serving HTTP");
        let conns =
            front.block_on(async { tls::accept::accept("http", listener, tls, http::listener::MAX_CONNECTIONS) });
        front.spawn({
            let stopped = stopped();
            async move {
                if let Err(e) = http::serve(conns, gateway, stopped).await {
                    tracing::error!("the HTTP server failed: {e}");
                }
            }
        });
    }
    // Last: a node that answers on its client door serves HTTP too.
    let client_listener = front
        .block_on(tokio::net::TcpListener::bind(&config.client_listen))
        .with_context(|| format!("cannot listen for clients on {}", config.client_listen))?;
    let client_conns = front
        .block_on(async { tls::accept::accept("client", client_listener, client_tls.clone(), MAX_CLIENT_CONNECTIONS) });
    tracing::info!(listen = %config.client_listen, tls = client_tls.is_some(), "serving clients");
    let client = ClientService { node: node.clone() }.into_server(authz);
    let (health, follow_readiness) = front.block_on(standard::health(status.clone()));
    front.spawn(follow_readiness);
    let reflection = standard::reflection().context("the reflection service")?;
    let reflection_v1alpha = standard::reflection_v1alpha().context("the reflection service")?;
    front.spawn(
        tonic::transport::Server::builder()
            .max_concurrent_streams(Some(MAX_CLIENT_STREAMS))
            .layer(GrpcLayer(metrics))
            .add_service(client.beside(health))
            .add_service(client.beside(reflection))
            .add_service(client.beside(reflection_v1alpha))
            .add_service(client)
            .serve_with_incoming_shutdown(ReceiverStream::new(client_conns).map(Ok::<_, std::io::Error>), stopped()),
    );
    tracing::info!(listen = %config.listen, tls = peer_tls.is_some(), "serving peers");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let peer_conns = tokio.block_on(async { tls::accept::accept("peer", listener, peer_tls, MAX_PEER_CONNECTIONS) });
    let server = tokio.spawn(
        tonic::transport::Server::builder()
            .max_concurrent_streams(Some(MAX_PEER_STREAMS))
            .add_service(peer.into_server())
            .serve_with_incoming_shutdown(ReceiverStream::new(peer_conns).map(Ok::<_, std::io::Error>), async {
                let _ = stop_rx.await;
            }),
    );
    let served = tokio.block_on(async {
        tokio::select! {
            result = server => result.map_err(anyhow::Error::from).and_then(|r| r.map_err(anyhow::Error::from)),
            () = shutdown_signal() => {
                hand_over_leadership(&events_tx, &status, config.id).await;
                // Peers hold streams open for good: a graceful close gets a moment, no more.
                let _ = stop_tx.send(());
                let _ = front_stop.send(true);
                tokio::time::sleep(SHUTDOWN_GRACE).await;
                Ok(())
            }
        }
    });
    let _ = events_tx.send(Event::Shutdown);
    let _ = raft_thread.join();
    proposals.fail_all(ProposeError::ShuttingDown);
    front.shutdown_timeout(SHUTDOWN_GRACE);
    tokio.shutdown_timeout(SHUTDOWN_GRACE);
    served.context("the gRPC server failed")
}
