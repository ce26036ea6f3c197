//! The receiving side of the peer transport. Everything here comes from the network, so
//! nothing is trusted: with TLS, a peer is the node its certificate names (checked by
//! [`PeerService::sender`]), and must be a member that was never removed; a batch from
//! another cluster, or whose messages claim another sender, is refused; a message that does
//! not parse or is not addressed to this node is dropped with a log line; and a snapshot is
//! stepped into Raft only once its whole file has arrived and verified.

use super::gate::{self, PeerGate};
use super::progress::Progress;
use crate::handle::NodeHandle;
use crate::inbox::Event;
use crate::metrics::SnapshotOp;
use crate::node::agreement::ConsensusSettings;
use crate::node::identity::Identity;
use crate::proto::client::{MemberChange, MemberChangeResponse, TransferLeaderRequest, TransferLeaderResponse};
use crate::proto::peer::peer_server::{Peer, PeerServer};
use crate::proto::peer::{Ack, JoinInfo, JoinRequest, PrepareModule, Prepared, RaftBatch, SnapshotChunk};
use crate::proto::{MAX_MESSAGE, deadline, status_of};
use crate::runtime::WasmEngine;
use crate::snapshot::{self, SnapshotDir, parse_descriptor};
use crate::status::StatusBoard;
use crate::tls::accept::ConnInfo;
use crate::tls::names;
use crossbeam_channel::Sender;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Message, MessageType, SnapshotMetadata};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tonic::{Request, Response, Status, Streaming};

/// Incoming messages are dropped while this many events wait for the Raft thread.
const MAX_PENDING_EVENTS: usize = 100_000;
/// A snapshot larger than this is refused.
const MAX_SNAPSHOT_BYTES: u64 = 16 << 30;
/// A snapshot stream that sends nothing for this long is given up (its sender, a leader on
/// a live link, sends 1 MiB chunks back to back).
const SNAPSHOT_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

pub struct PeerService {
    pub id: u64,
    pub cluster_id: u64,
    /// This node's consensus settings: a peer's must be the same.
    pub consensus: ConsensusSettings,
    /// `consensus.digest()`, what peer messages carry.
    pub settings_digest: u64,
    pub identity: Identity,
    /// The module the cluster started with (a joining node replays the log from its start).
    /// The files of the modules the cluster bootstrapped with, the primary first.
    pub bootstrap_modules: Vec<std::path::PathBuf>,
    pub events: Sender<Event>,
    pub snapshots: Arc<SnapshotDir>,
    pub engine: Arc<WasmEngine>,
    pub status: Arc<StatusBoard>,
    /// Refusals already logged, by sender and what was wrong: a refused peer retries every
    /// few hundred milliseconds, and one line says it all.
    pub refusals_logged: std::sync::Mutex<std::collections::HashSet<(u64, u64)>>,
    /// Whether peers speak mutual TLS, so that a peer is the node its certificate names.
    pub tls: bool,
    /// Runs the member calls a follower hands to this node as the leader.
    pub node: Arc<NodeHandle>,
    /// Snapshots being received.
    pub transfers: Transfers,
}

/// What a refusal is about, for [`PeerService::log_refusal`].
const NOT_A_MEMBER: u64 = u64::MAX;
const NOT_ITS_NAME: u64 = u64::MAX - 1;

impl PeerService {
    /// Logs a refusal of `from`'s traffic the first time `what` (cluster or settings
    /// digest) is refused.
    fn log_refusal(&self, from: u64, what: u64, why: std::fmt::Arguments) {
        let mut logged = self.refusals_logged.lock().unwrap_or_else(|p| p.into_inner());
        // What a sender claims is not checked yet: its variety must not grow the set.
        if logged.len() >= 1024 {
            logged.clear();
        }
        let first = logged.insert((from, what));
        drop(logged);
        if first {
            tracing::warn!(from, "{why}");
        }
    }

    /// The peer door's service, behind its gate.
    pub fn into_server(self) -> PeerGate<PeerServer<Self>> {
        let cluster = self.tls.then(|| self.identity.cluster_name.clone());
        gate::gate(PeerServer::new(self).max_decoding_message_size(MAX_MESSAGE), cluster, gate::MAX_RECEIVING)
    }

    /// Refuses traffic from another cluster, or from a node whose consensus settings
    /// differ (`settings`: their digest; `None` for calls that apply nothing).
    fn check_cluster(&self, cluster_id: u64, from: u64, settings: Option<u64>) -> Result<(), Status> {
        if let Some(theirs) = settings
            && theirs != self.settings_digest
        {
            self.log_refusal(
                from,
                theirs,
                format_args!("refused traffic from a node whose consensus settings differ (digest {theirs:016x})"),
            );
            return Err(Status::failed_precondition(format!(
                "node {} runs with other consensus settings than node {from} (digests {:016x} and {theirs:016x}): every node \
                 of a cluster must run the same wasmraft build with the same --fuel and --memory-mib",
                self.id, self.settings_digest
            )));
        }
        if cluster_id != self.cluster_id {
            self.log_refusal(
                from,
                cluster_id,
                format_args!("refused traffic from cluster {cluster_id:016x}; this is {:016x}", self.cluster_id),
            );
            return Err(Status::permission_denied(format!(
                "this node belongs to cluster {:016x}, not {cluster_id:016x}",
                self.cluster_id
            )));
        }
        Ok(())
    }

    /// The node the connection's certificate names, with TLS (refused if it names none);
    /// `None` in the clear.
    fn certified<T>(&self, request: &Request<T>) -> Result<Option<u64>, Status> {
        if !self.tls {
            return Ok(None);
        }
        let leaf = request.extensions().get::<ConnInfo>().and_then(ConnInfo::leaf);
        match leaf.and_then(|cert| names::node_of(cert, &self.identity.cluster_name)) {
            Some(node) => Ok(Some(node)),
            None => {
                self.log_refusal(0, NOT_ITS_NAME, format_args!("refused a peer whose certificate names no node"));
                Err(Status::unauthenticated(format!(
                    "the certificate names no node of cluster {}",
                    self.identity.cluster_name
                )))
            }
        }
    }

    /// `claimed`, once it is known to be the sender: the node the certificate names (if
    /// any), and a member that was never removed.
    fn sender(&self, certified: Option<u64>, claimed: u64) -> Result<u64, Status> {
        if let Some(node) = certified.filter(|&node| node != claimed) {
            self.log_refusal(
                node,
                NOT_ITS_NAME,
                format_args!("refused node {node}'s traffic, which claims to come from node {claimed}"),
            );
            return Err(Status::permission_denied(format!(
                "the certificate is node {node}'s, but the call claims to come from node {claimed}"
            )));
        }
        if !self.status.is_member(claimed) {
            self.log_refusal(claimed, NOT_A_MEMBER, format_args!("refused traffic from node {claimed}, not a member"));
            return Err(Status::permission_denied(format!(
                "node {claimed} is not a member of this cluster as node {} knows it, or was removed",
                self.id
            )));
        }
        Ok(claimed)
    }

    /// Refuses a call that names no sender unless its certificate names a member (in the
    /// clear there is no one to check).
    fn certified_member<T>(&self, request: &Request<T>) -> Result<(), Status> {
        if let Some(node) = self.certified(request)? {
            self.sender(Some(node), node)?;
        }
        Ok(())
    }

    /// Parses one message of `from`; `None` (logged) if it is garbled, not for this node or
    /// not from `from`.
    fn parse(&self, from: u64, bytes: &[u8]) -> Option<Message> {
        match Message::parse_from_bytes(bytes) {
            Ok(m) if m.to != self.id => {
                tracing::warn!(from, to = m.to, "dropped a message addressed to another node");
                None
            }
            Ok(m) if m.from != from => {
                tracing::warn!(from, claimed = m.from, "dropped a message that claims another sender");
                None
            }
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(from, len = bytes.len(), "dropped a garbled message: {e}");
                None
            }
        }
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn raft(&self, request: Request<Streaming<RaftBatch>>) -> Result<Response<Ack>, Status> {
        // With TLS, the stream's node is its certificate's, and every batch must claim it;
        // membership is checked at every batch, so a member removed mid-stream is cut off.
        let certified = self.certified(&request)?;
        if let Some(node) = certified {
            self.sender(certified, node)?;
        }
        let mut stream = request.into_inner();
        while let Some(batch) = stream.message().await? {
            // Who sends, before what it says.
            self.sender(certified, batch.from)?;
            self.check_cluster(batch.cluster_id, batch.from, Some(batch.settings))?;
            let messages: Vec<Message> = batch
                .messages
                .iter()
                .filter_map(|bytes| self.parse(batch.from, bytes))
                // A snapshot is only believed once its file is here: see `snapshot`.
                .filter(|m| m.get_msg_type() != MessageType::MsgSnapshot)
                .collect();
            if messages.is_empty() {
                continue;
            }
            if self.events.len() > MAX_PENDING_EVENTS {
                tracing::warn!(from = batch.from, "the Raft thread is behind; dropped {} messages", messages.len());
                continue;
            }
            if self.events.send(Event::Messages(messages)).is_err() {
                return Err(Status::unavailable("shutting down"));
            }
        }
        Ok(Response::new(Ack {}))
    }

    async fn snapshot(&self, request: Request<Streaming<SnapshotChunk>>) -> Result<Response<Ack>, Status> {
        let certified = self.certified(&request)?;
        let mut stream = request.into_inner();
        let first = stream.message().await?.ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
        self.sender(certified, first.from)?;
        self.check_cluster(first.cluster_id, first.from, Some(first.settings))?;
        let from = first.from;
        let message = self
            .parse(from, &first.message)
            .filter(|m| m.get_msg_type() == MessageType::MsgSnapshot)
            .ok_or_else(|| Status::invalid_argument("the first chunk must carry a MsgSnapshot for this node"))?;
        let meta = message.get_snapshot().get_metadata();
        let (index, term) = parse_descriptor(message.get_snapshot().get_data())
            .filter(|&(i, t)| i == meta.index && t == meta.term)
            .ok_or_else(|| Status::invalid_argument("the snapshot descriptor does not match its metadata"))?;

        // One transfer from each sender at a time: a newer one (the sender retrying, maybe
        // on a new connection while this one lingers until its idle timeout) ends it.
        let (transfer, superseded) = self.transfers.begin(from);
        let tmp = self.snapshots.temp_path(&format!("recv-{from}-{index}-{term}-{transfer}"));
        let started = std::time::Instant::now();
        let mut progress = Progress::start(&self.status, from, false, (index, term), first.size);
        let received = tokio::select! {
            received = receive_file(&tmp, first, &mut stream, &mut progress) => received,
            _ = superseded => Err(format!("a newer transfer from node {from} took its place")),
        };
        let verified = match received {
            Ok(()) => {
                let (path, expected) = (tmp.clone(), meta.clone());
                tokio::task::spawn_blocking(move || snapshot::load(&path).map(|f| f.meta))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                    .and_then(|file| agrees(&file, &expected))
            }
            Err(e) => Err(e),
        };
        self.transfers.end(from, transfer);
        progress.finish(verified.clone());
        if let Err(e) = verified {
            let _ = tokio::fs::remove_file(&tmp).await;
            tracing::warn!(from, index, "refused a snapshot: {e}");
            return Err(Status::invalid_argument(format!("snapshot refused: {e}")));
        }
        // Adopted only if Raft accepts the message (see `SnapshotDir`).
        let commit = self.status.consensus().commit_index;
        let bytes = tokio::fs::metadata(&tmp).await.map_or(0, |m| m.len());
        self.snapshots.stage(&tmp, index, term, commit).map_err(|e| Status::internal(e.to_string()))?;
        self.node.metrics.snapshot(SnapshotOp::Receive, started.elapsed(), bytes);
        tracing::info!(from, index, term, bytes, "received a snapshot");
        self.events.send(Event::Messages(vec![message])).map_err(|_| Status::unavailable("shutting down"))?;
        Ok(Response::new(Ack {}))
    }

    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<JoinInfo>, Status> {
        let id = request.get_ref().id;
        if self.tls {
            // Membership is checked below, with advice.
            let leaf = request.extensions().get::<ConnInfo>().and_then(ConnInfo::leaf);
            let named = leaf.and_then(|cert| names::node_of(cert, &self.identity.cluster_name));
            if named != Some(id) {
                return Err(Status::permission_denied(format!(
                    "only node {id} may join as node {id}: its certificate must carry {}",
                    names::node_name(id, &self.identity.cluster_name)
                )));
            }
        }
        let (consensus, setup) = (self.status.consensus(), self.status.setup());
        if setup.members.removed.contains(&id) {
            return Err(Status::failed_precondition(format!(
                "node id {id} was removed from this cluster; ids are never reused"
            )));
        }
        if !consensus.voters.contains(&id) && !consensus.learners.contains(&id) {
            return Err(Status::failed_precondition(format!(
                "node {id} is not a member of this cluster (as node {} sees it): add it first with \
                 `wasmraft member add {id} --address HOST:PORT`",
                self.id
            )));
        }
        let mut modules = Vec::with_capacity(self.bootstrap_modules.len());
        let failed = |e: String| Status::internal(format!("reading a bootstrap module: {e}"));
        for path in &self.bootstrap_modules {
            let (path, max) = (path.clone(), crate::runtime::module::MAX_MODULE_BYTES);
            let read = tokio::task::spawn_blocking(move || crate::durable::read(&path, max));
            modules.push(read.await.map_err(|e| failed(e.to_string()))?.map_err(|e| failed(e.to_string()))?);
        }
        let mut modules = modules.into_iter();
        let bootstrap_module = modules.next().ok_or_else(|| Status::internal("no bootstrap module"))?;
        Ok(Response::new(JoinInfo {
            cluster_id: self.cluster_id,
            cluster_name: self.identity.cluster_name.clone(),
            initial_members: self.identity.initial_members.clone(),
            bootstrap_module,
            later_bootstrap_modules: modules.collect(),
            addresses: setup.members.addresses.into_iter().collect(),
            consensus_settings: serde_json::to_string(&self.consensus).map_err(|e| Status::internal(e.to_string()))?,
        }))
    }

    async fn prepare(&self, request: Request<PrepareModule>) -> Result<Response<Prepared>, Status> {
        self.sender(self.certified(&request)?, request.get_ref().from)?;
        let request = request.into_inner();
        self.check_cluster(request.cluster_id, request.from, None)?;
        let engine = self.engine.clone();
        let loaded = tokio::task::spawn_blocking(move || engine.load(&request.module))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::invalid_argument(format!("the module is refused: {e}")))?;
        tracing::info!(from = request.from, hash = %loaded.hash, "compiled a module an upgrade is about to propose");
        Ok(Response::new(Prepared { hash: loaded.hash.to_string() }))
    }

    async fn change_members(&self, request: Request<MemberChange>) -> Result<Response<MemberChangeResponse>, Status> {
        self.certified_member(&request)?;
        let deadline = deadline(request.metadata(), self.node.deadline);
        self.node.change_members(request.into_inner(), deadline, true).await.map(Response::new).map_err(status_of)
    }

    async fn transfer_leader(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderResponse>, Status> {
        self.certified_member(&request)?;
        let deadline = deadline(request.metadata(), self.node.deadline);
        self.node.transfer_leader(request.into_inner(), deadline, true).await.map(Response::new).map_err(status_of)
    }
}

/// Whether a received file is the snapshot its message describes: Raft takes the message's
/// index, term and members, the apply thread the file's.
fn agrees(file: &SnapshotMetadata, message: &SnapshotMetadata) -> Result<(), String> {
    if (file.index, file.term) != (message.index, message.term) {
        return Err(format!("the file holds index {} of term {}", file.index, file.term));
    }
    let members = |c: &ConfState| {
        let sorted = |ids: &[u64]| ids.iter().copied().collect::<std::collections::BTreeSet<u64>>();
        (sorted(&c.voters), sorted(&c.learners), sorted(&c.voters_outgoing), sorted(&c.learners_next), c.auto_leave)
    };
    if members(file.get_conf_state()) != members(message.get_conf_state()) {
        return Err(format!(
            "the file's members ({:?}) are not the message's ({:?})",
            file.get_conf_state(),
            message.get_conf_state()
        ));
    }
    Ok(())
}

/// The snapshot transfer under way from each sender: one at a time, the newest.
#[derive(Default)]
pub struct Transfers {
    next: std::sync::atomic::AtomicU64,
    /// Sender -> its transfer's number, and what ends that transfer when dropped.
    by_sender: std::sync::Mutex<std::collections::HashMap<u64, (u64, tokio::sync::oneshot::Sender<()>)>>,
}

impl Transfers {
    /// Starts a transfer from `from`, ending the one under way: its number, and what
    /// resolves when a newer one takes its place.
    fn begin(&self, from: u64) -> (u64, tokio::sync::oneshot::Receiver<()>) {
        let number = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (ender, ended) = tokio::sync::oneshot::channel();
        self.by_sender.lock().unwrap_or_else(|p| p.into_inner()).insert(from, (number, ender));
        (number, ended)
    }

    fn end(&self, from: u64, number: u64) {
        let mut by_sender = self.by_sender.lock().unwrap_or_else(|p| p.into_inner());
        if by_sender.get(&from).is_some_and(|(n, _)| *n == number) {
            by_sender.remove(&from);
        }
    }
}

async fn receive_file(
    path: &std::path::Path,
    first: SnapshotChunk,
    stream: &mut Streaming<SnapshotChunk>,
    progress: &mut Progress,
) -> Result<(), String> {
    let mut file = tokio::fs::File::create(path).await.map_err(|e| e.to_string())?;
    let mut chunk = first;
    let mut total = 0u64;
    loop {
        total += chunk.data.len() as u64;
        if total > MAX_SNAPSHOT_BYTES {
            return Err(format!("more than {MAX_SNAPSHOT_BYTES} bytes"));
        }
        file.write_all(&chunk.data).await.map_err(|e| e.to_string())?;
        progress.advance(total);
        if chunk.last {
            break;
        }
        chunk = match tokio::time::timeout(SNAPSHOT_IDLE, stream.message()).await {
            Err(_) => return Err(format!("no chunk for {SNAPSHOT_IDLE:?}")),
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => return Err("the stream ended before the last chunk".into()),
            Ok(Err(status)) => return Err(status.message().to_string()),
        };
    }
    file.sync_all().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(index: u64, term: u64, voters: &[u64], learners: &[u64]) -> SnapshotMetadata {
        let conf = ConfState { voters: voters.to_vec(), learners: learners.to_vec(), ..Default::default() };
        SnapshotMetadata { index, term, conf_state: Some(conf).into(), ..Default::default() }
    }

    #[test]
    fn a_file_agrees_with_its_message_on_position_and_members() {
        let message = meta(10, 2, &[1, 2, 3], &[4]);
        assert!(agrees(&meta(10, 2, &[3, 1, 2], &[4]), &message).is_ok(), "the order of ids does not count");
        assert!(agrees(&meta(11, 2, &[1, 2, 3], &[4]), &message).unwrap_err().contains("index 11"));
        assert!(agrees(&meta(10, 3, &[1, 2, 3], &[4]), &message).unwrap_err().contains("term 3"));
        // Raft would take the message's members, the apply thread the file's.
        assert!(agrees(&meta(10, 2, &[1], &[4]), &message).unwrap_err().contains("members"));
        assert!(agrees(&meta(10, 2, &[1, 2, 3], &[]), &message).unwrap_err().contains("members"));
    }
}
