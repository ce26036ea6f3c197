//! What the node's threads receive: the Raft thread's [`Event`]s and the apply thread's
//! [`ApplyTask`]s. The transport, the client API and the threads themselves send them.

use crate::entry::ProposalId;
use crate::membership::{Change, MemberBook};
use crate::proposals::ProposeError;
use crate::runtime::StateMap;
use crossbeam_channel::Sender;
use raft::eraftpb::{ConfChangeV2, ConfState, Entry, Message, SnapshotMetadata};
use tokio::sync::oneshot;
use wasmraft_sdk::contract::{ApplierError, Caller, Payload};

/// Everything that reaches the Raft thread.
pub enum Event {
    /// Raft messages from peers.
    Messages(Vec<Message>),
    /// A linearizable read: answered with a read index (the leader's commit index when the
    /// request reached it); silently never, if Raft drops the request (the caller retries).
    ReadIndex {
        reply: oneshot::Sender<u64>,
    },
    /// A client command to propose; its fate reaches the waiter through [`Proposals`].
    Propose {
        id: ProposalId,
        data: Vec<u8>,
    },
    /// A membership change to check and propose, if this node leads.
    ChangeMembers {
        id: ProposalId,
        change: Change,
    },
    /// A committed conf change reached the apply thread: make it Raft's configuration, use
    /// `members` (the book after it) from now on, and answer with the new configuration or
    /// why the change is void.
    ApplyConfChange {
        change: ConfChangeV2,
        members: MemberBook,
        reply: Sender<Result<ConfState, String>>,
    },
    /// The apply thread installed a snapshot from the leader, whose member book is
    /// `members`: use it from now on (it may name members this node never saw join).
    SnapshotMembers(MemberBook),
    /// Hand leadership to `to` (0: the most caught-up voter); answered with the target.
    TransferLeader {
        to: u64,
        reply: oneshot::Sender<Result<u64, ProposeError>>,
    },
    /// The apply thread's progress.
    Applied(u64),
    /// A snapshot file of this node's is durable.
    SnapshotBuilt(SnapshotMetadata),
    /// Sending to this peer failed.
    Unreachable(u64),
    /// This peer's process is gone: its connection closed and reconnecting is refused.
    PeerDown(u64),
    /// A snapshot transfer to a peer ended.
    SnapshotSent {
        to: u64,
        ok: bool,
    },
    Shutdown,
}

/// Everything that reaches the apply thread.
pub enum ApplyTask {
    /// Committed entries, in log order; their commit is durable.
    Entries(Vec<Entry>),
    /// The log now continues after this snapshot, received from the leader: load it.
    InstallSnapshot(SnapshotMetadata),
    /// The state as of now, with what a snapshot file carries besides it (a backup).
    Backup { reply: oneshot::Sender<crate::apply::SnapshotJob> },
    /// A query, run once the applied index reaches `min_applied`.
    Query {
        /// The applier asked (none: the primary).
        applier: Option<String>,
        payload: Payload,
        caller: Option<Caller>,
        min_applied: u64,
        reply: oneshot::Sender<Result<QueryAnswer, ProposeError>>,
    },
}

pub struct QueryAnswer {
    pub applied_index: u64,
    pub result: Result<Vec<u8>, ApplierError>,
    /// The state the query read (an O(1) copy), to render the answer from.
    pub state: StateMap,
}
