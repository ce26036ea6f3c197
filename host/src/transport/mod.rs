//! Peer transport over gRPC.
//!
//! Sending: one task per peer holds a long-lived client stream and sends Raft messages in
//! batches (raft-rs's own protobuf encoding, as bytes). The Raft thread only ever does a
//! non-blocking push into the peer's queue: a peer that is down or slow fills its queue,
//! messages are dropped (Raft retransmits), and raft-rs hears `report_unreachable`, but
//! the loop never waits. Connection failures back off from 50 ms to 250 ms.
//!
//! Snapshots go on a stream of their own, in 1 MiB chunks of the snapshot file, and their
//! outcome reaches raft-rs as `report_snapshot`.
//!
//! Receiving is in [`server`].

pub mod gate;
mod progress;
pub mod server;

use crate::consensus::Outbox;
use crate::inbox::Event;
use crate::metrics::{Metrics, SnapshotOp};
use crate::proto::MAX_MESSAGE;
use crate::proto::client::{MemberChange, MemberChangeResponse, TransferLeaderRequest, TransferLeaderResponse};
use crate::proto::peer::peer_client::PeerClient;
use crate::proto::peer::{JoinInfo, JoinRequest, PrepareModule, RaftBatch, SnapshotChunk};
use crate::snapshot::{SnapshotDir, parse_descriptor};
use crate::status::StatusBoard;
use crate::tls::Credentials;
use crate::tls::connect::connect_node;
use crossbeam_channel::Sender;
use progress::Progress;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use std::collections::{BTreeMap, HashMap};
use std::future::Future as _;
use std::sync::Arc;
use std::task::{Poll, ready};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Messages waiting for one peer before new ones are dropped.
const QUEUE: usize = 8192;
/// A batch closes at this many messages or bytes.
const BATCH_MESSAGES: usize = 1024;
const BATCH_BYTES: usize = 8 << 20;
pub const SNAPSHOT_CHUNK: usize = 1 << 20;
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// A peer that comes back hears from this node within about this long: a refused connect
/// costs next to nothing, and a returning follower that waits on it knows no leader.
const MAX_BACKOFF: Duration = Duration::from_millis(250);
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);

/// What the per-peer tasks share.
struct Shared {
    id: u64,
    cluster_id: u64,
    /// The digest of this node's consensus settings, on every message.
    settings: u64,
    events: Sender<Event>,
    snapshots: Arc<SnapshotDir>,
    /// Mutual TLS with the peers; none: in the clear.
    tls: Option<Arc<Credentials>>,
    metrics: Arc<Metrics>,
    /// Where snapshot transfers show their progress.
    status: Arc<StatusBoard>,
}

impl Shared {
    fn send_failed(&self, peer: u64) {
        self.metrics.peer_send_failures.with_label_values(&[&peer.to_string()]).inc();
    }

    /// Messages to `peer` were lost: Raft hears so, and the metrics count it.
    fn unreachable(&self, peer: u64) {
        self.send_failed(peer);
        let _ = self.events.send(Event::Unreachable(peer));
    }
}

struct PeerQueue {
    address: String,
    queue: mpsc::Sender<Message>,
}

pub struct Transport {
    shared: Arc<Shared>,
    peers: HashMap<u64, PeerQueue>,
    runtime: tokio::runtime::Handle,
}

impl Transport {
    /// Starts a sender task for every peer (`peers` excludes this node).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        id: u64,
        cluster_id: u64,
        settings: u64,
        peers: &BTreeMap<u64, String>,
        events: Sender<Event>,
        snapshots: Arc<SnapshotDir>,
        tls: Option<Arc<Credentials>>,
        runtime: tokio::runtime::Handle,
        (metrics, status): (Arc<Metrics>, Arc<StatusBoard>),
    ) -> Self {
        let shared = Arc::new(Shared { id, cluster_id, settings, events, snapshots, tls, metrics, status });
        let mut transport = Transport { shared, peers: HashMap::new(), runtime };
        transport.set_peers(peers);
        transport
    }
}

impl Outbox for Transport {
    fn set_peers(&mut self, peers: &BTreeMap<u64, String>) {
        // A dropped queue ends its sender task.
        self.peers.retain(|id, p| peers.get(id) == Some(&p.address));
        for (&peer, address) in peers {
            if !self.peers.contains_key(&peer) {
                let (queue, rx) = mpsc::channel(QUEUE);
                self.runtime.spawn(run_peer(self.shared.clone(), peer, address.clone(), rx));
                self.peers.insert(peer, PeerQueue { address: address.clone(), queue });
            }
        }
    }

    fn send(&self, messages: Vec<Message>) {
        for m in messages {
            let to = m.to;
            let Some(peer) = self.peers.get(&to) else {
                tracing::warn!(to, "no address for peer; message dropped");
                continue;
            };
            if m.get_msg_type() == MessageType::MsgSnapshot {
                self.runtime.spawn(send_snapshot(self.shared.clone(), to, peer.address.clone(), m));
            } else if peer.queue.try_send(m).is_err() {
                self.shared.unreachable(to);
            }
        }
    }
}

async fn run_peer(shared: Arc<Shared>, peer: u64, address: String, queue: mpsc::Receiver<Message>) {
    let queue: Queue = Arc::new(std::sync::Mutex::new(queue));
    let mut backoff = MIN_BACKOFF;
    // Why the peer last refused this node's messages: said once, not at every retry.
    let mut refused = None;
    // Connect when there is something to send.
    let mut reloads = shared.tls.as_ref().map(|tls| tls.reloads());
    while let Some(first) = std::future::poll_fn(|cx| lock(&queue).poll_recv(cx)).await {
        match stream_to(&shared, peer, &address, first, &queue, &mut backoff, reloads.as_mut()).await {
            Ok(()) => return,
            // The stream closes; the next message opens one with the new certificate.
            Err(StreamEnd::Reloaded) => tracing::info!(peer, "reconnecting with the reloaded certificate"),
            Err(StreamEnd::Refused(why)) => {
                if refused.as_ref() != Some(&why) {
                    tracing::warn!(peer, %address, "the peer refuses this node's messages: {why}");
                    refused = Some(why);
                }
                shared.unreachable(peer);
                drain(&queue);
                tokio::time::sleep(MAX_BACKOFF).await;
            }
            Err(StreamEnd::Failed(e)) => {
                tracing::debug!(peer, %address, "peer stream ended: {e}");
                shared.unreachable(peer);
                // A refused connection means the process is gone, which Raft would
                // otherwise only learn from a silent election timeout.
                if connect_node(shared.tls.as_deref(), &address, Some(peer)).await.is_err() {
                    let _ = shared.events.send(Event::PeerDown(peer));
                }
                // What waited during the outage is stale; Raft will send again.
                drain(&queue);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Drops what waits for the peer: stale once a stream failed (Raft sends again).
fn drain(queue: &Queue) {
    let mut queue = lock(queue);
    while queue.try_recv().is_ok() {}
}

/// How a stream to a peer ended.
enum StreamEnd {
    /// The peer refused this node (another cluster, other consensus settings).
    Refused(String),
    /// The connection failed or closed.
    Failed(String),
    /// This node's certificates were read again.
    Reloaded,
}

/// Streams batches until the queue closes (`Ok`) or the stream ends.
async fn stream_to(
    shared: &Arc<Shared>,
    peer: u64,
    address: &str,
    first: Message,
    queue: &Queue,
    backoff: &mut Duration,
    mut reloads: Option<&mut tokio::sync::watch::Receiver<u64>>,
) -> Result<(), StreamEnd> {
    if let Some(reloads) = reloads.as_mut() {
        reloads.mark_unchanged();
    }
    let channel = connect_node(shared.tls.as_deref(), address, Some(peer))
        .await
        .map_err(|e| StreamEnd::Failed(format!("connect: {e}")))?;
    let mut client = PeerClient::new(channel).max_encoding_message_size(MAX_MESSAGE);
    // Dropped on every return: the body, which hyper may poll after this stream is given up,
    // then ends without touching the queue that the sender task and the next stream read.
    let (_retire_on_return, retired) = tokio::sync::oneshot::channel();
    let batches = Batches { shared: shared.clone(), queue: queue.clone(), first: Some(first), retired };
    let mut call = tokio::spawn(async move { client.raft(batches).await });
    *backoff = MIN_BACKOFF;
    let reloaded = async {
        match reloads.as_mut() {
            Some(reloads) => reloads.changed().await.unwrap_or(()),
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = &mut call => match result {
            // The body ends only when the queue closes: the peer left the membership.
            Ok(Ok(_)) if lock(queue).is_closed() => Ok(()),
            Ok(Err(status)) if matches!(status.code(), tonic::Code::FailedPrecondition | tonic::Code::PermissionDenied) => {
                Err(StreamEnd::Refused(status.message().to_string()))
            }
            Ok(Err(status)) => Err(StreamEnd::Failed(status.message().to_string())),
            _ => Err(StreamEnd::Failed("stream closed".to_string())),
        },
        () = reloaded => {
            call.abort();
            Err(StreamEnd::Reloaded)
        }
    }
}

/// A peer's queue, shared by its sender task (which waits for the first message and
/// reconnects) and the body of its current stream (which draws the rest).
type Queue = Arc<std::sync::Mutex<mpsc::Receiver<Message>>>;

fn lock(queue: &Queue) -> std::sync::MutexGuard<'_, mpsc::Receiver<Message>> {
    queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The body of a stream to a peer: what waits in the peer's queue, in batches drawn when the
/// connection takes the next one. The Raft thread's push wakes the connection's writer
/// directly, with no task in between, and what arrives while the connection is busy
/// joins the next batch.
struct Batches {
    shared: Arc<Shared>,
    queue: Queue,
    /// The message that opened the stream.
    first: Option<Message>,
    /// Resolves (its sender dropped) once the stream is given up. A tokio mpsc receiver
    /// wakes one waker: a retired body that polled the queue would take the wake-up (and
    /// the messages) meant for the sender task, which would then never open the next stream.
    retired: tokio::sync::oneshot::Receiver<()>,
}

impl tokio_stream::Stream for Batches {
    type Item = RaftBatch;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<RaftBatch>> {
        let this = &mut *self;
        let mut queue = lock(&this.queue);
        // Checked under the queue's lock: the sender task polls the queue only after the
        // retirement, so it is the last to register its waker.
        if std::pin::Pin::new(&mut this.retired).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        let first = match this.first.take() {
            Some(m) => m,
            // The queue closed: the peer left the membership.
            None => match ready!(queue.poll_recv(cx)) {
                Some(m) => m,
                None => return Poll::Ready(None),
            },
        };
        let mut pending = Some(first);
        let mut messages = Vec::new();
        let mut bytes = 0;
        while let Some(m) = pending.take() {
            if let Ok(encoded) = m.write_to_bytes() {
                bytes += encoded.len();
                messages.push(encoded);
            }
            if messages.len() < BATCH_MESSAGES && bytes < BATCH_BYTES {
                pending = queue.try_recv().ok();
            }
        }
        let shared = &this.shared;
        Poll::Ready(Some(RaftBatch {
            cluster_id: shared.cluster_id,
            from: shared.id,
            messages,
            settings: shared.settings,
        }))
    }
}

/// Asks the member at `address` what node `id` needs to join its cluster.
pub async fn ask_to_join(tls: Option<&Credentials>, address: &str, id: u64) -> Result<JoinInfo, String> {
    let channel = connect_node(tls, address, None).await.map_err(|e| format!("connect: {e}"))?;
    let mut client = PeerClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
    client.join(JoinRequest { id }).await.map(|r| r.into_inner()).map_err(|s| s.message().to_string())
}

/// Has node `peer` at `address` compile `module` (see `Peer.Prepare`); `Err` says why it did
/// not. `from`: this node.
pub async fn prepare_module(
    tls: Option<&Credentials>,
    (from, cluster_id): (u64, u64),
    (peer, address): (u64, &str),
    module: Vec<u8>,
) -> Result<(), String> {
    let channel = connect_node(tls, address, Some(peer)).await.map_err(|e| format!("connect: {e}"))?;
    let mut client = PeerClient::new(channel).max_encoding_message_size(MAX_MESSAGE);
    client.prepare(PrepareModule { cluster_id, from, module }).await.map_err(|s| s.message().to_string())?;
    Ok(())
}

async fn send_snapshot(shared: Arc<Shared>, peer: u64, address: String, message: Message) {
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(SNAPSHOT_TIMEOUT, try_send_snapshot(&shared, peer, &address, message))
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
    match &result {
        Ok(bytes) => shared.metrics.snapshot(SnapshotOp::Send, started.elapsed(), *bytes),
        Err(e) => {
            shared.send_failed(peer);
            tracing::warn!(peer, "sending a snapshot failed: {e}");
        }
    }
    let _ = shared.events.send(Event::SnapshotSent { to: peer, ok: result.is_ok() });
}

/// Streams the snapshot `message` names to `peer`; its size in bytes once sent.
async fn try_send_snapshot(shared: &Shared, peer: u64, address: &str, message: Message) -> Result<u64, String> {
    let (index, term) =
        parse_descriptor(message.get_snapshot().get_data()).ok_or("the snapshot message names no snapshot")?;
    let path = shared.snapshots.path(index, term);
    let mut file = tokio::fs::File::open(&path).await.map_err(|e| format!("{}: {e}", path.display()))?;
    let size = file.metadata().await.map_err(|e| e.to_string())?.len();
    let mut progress = Progress::start(&shared.status, peer, true, (index, term), size);
    let channel = connect_node(shared.tls.as_deref(), address, Some(peer)).await.map_err(|e| e.to_string())?;
    let mut client = PeerClient::new(channel);
    let (tx, rx) = mpsc::channel::<SnapshotChunk>(4);
    let (cluster_id, from, settings) = (shared.cluster_id, shared.id, shared.settings);
    let mut first = Some(message.write_to_bytes().map_err(|e| e.to_string())?);
    // Read and sent side by side: when the call ends, its stream drops, and the reader's
    // next send fails, which ends it too.
    let reader = async {
        let tx = tx;
        let mut sent = 0u64;
        loop {
            let mut data = vec![0u8; SNAPSHOT_CHUNK];
            let mut filled = 0;
            while filled < data.len() {
                match file.read(&mut data[filled..]).await {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => return Err(e.to_string()),
                }
            }
            data.truncate(filled);
            sent += filled as u64;
            let last = sent >= size || filled == 0;
            let message = first.take().unwrap_or_default();
            let chunk = SnapshotChunk { cluster_id, from, message, data, last, settings, size };
            // A failed send means the call ended: its status says why.
            if tx.send(chunk).await.is_err() {
                return Ok::<(), String>(());
            }
            progress.advance(sent);
            if last {
                return Ok(());
            }
        }
    };
    let (called, read) = tokio::join!(client.snapshot(ReceiverStream::new(rx)), reader);
    let outcome = called.map(drop).map_err(|s| s.message().to_string()).and(read);
    progress.finish(outcome.clone());
    outcome?;
    tracing::info!(to = peer, index, term, bytes = size, "snapshot sent");
    Ok(size)
}

/// Hands a member change an administrator made on this follower to the leader `peer`.
pub async fn forward_change_members(
    tls: Option<&Credentials>,
    (peer, address): (u64, &str),
    change: MemberChange,
    deadline: Duration,
) -> Result<MemberChangeResponse, tonic::Status> {
    let mut client = leader(tls, peer, address).await?;
    client.change_members(forwarded(change, deadline)).await.map(|r| r.into_inner())
}

/// Hands a leadership transfer to the leader `peer`.
pub async fn forward_transfer_leader(
    tls: Option<&Credentials>,
    (peer, address): (u64, &str),
    request: TransferLeaderRequest,
    deadline: Duration,
) -> Result<TransferLeaderResponse, tonic::Status> {
    let mut client = leader(tls, peer, address).await?;
    client.transfer_leader(forwarded(request, deadline)).await.map(|r| r.into_inner())
}

async fn leader(tls: Option<&Credentials>, peer: u64, address: &str) -> Result<PeerClient<Channel>, tonic::Status> {
    let channel = connect_node(tls, address, Some(peer))
        .await
        .map_err(|e| tonic::Status::unavailable(format!("cannot reach the leader ({peer} at {address}): {e}")))?;
    Ok(PeerClient::new(channel))
}

fn forwarded<T>(message: T, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    request
}
