//! The Raft thread: one raft-rs `RawNode` driven by one Ready loop.
//!
//! Order of a Ready (raft-rs pitfalls, `../shared/notes/raft-anchors.md` §4.3):
//! 1. the leader's messages go out at once: they need nothing durable here;
//! 2. a snapshot (its received file adopted first), the new entries and the hard state are
//!    made durable in one write, synced when raft asks (new entries, term or vote) or for a
//!    snapshot. A commit index alone is not synced: the entries it covers are durable on a
//!    majority already, so a client may hear of them at once, and a fsync before every
//!    apply would sit on every write's path (a restart raises the commit index to what it
//!    applied: `RaftLog::commit_at_least`);
//! 3. committed entries go to the apply thread, a received snapshot is installed first;
//! 4. only then the messages that promise durability (votes, append acks) go out;
//! 5. `advance_append`, and the same for its light ready (commit index persisted first);
//!    the applied index advances when the apply thread reports it.
//!
//! Nothing else runs on this thread: applying happens on the apply thread (which reports
//! progress with `Applied`), snapshots are written by the snapshot writer, and network I/O
//! is the transport's. So ticks and heartbeats are never held up by the applier.

mod contact;
pub mod logger;
#[cfg(test)]
mod tests;

use crate::entry::now_ns;
use crate::entry::{EntryContext, ProposalId, UPGRADE_TAG};
use crate::inbox::{ApplyTask, Event};
use crate::log::{LogError, Persist, RaftLog};
use crate::membership::{Change, MemberBook};
use crate::metrics::{Metrics, RoundTrips};
use crate::proposals::{Proposals, ProposeError};
use crate::snapshot::SnapshotDir;
use crate::status::{self, StatusBoard};
use contact::Contact;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use raft::eraftpb::{Message, MessageType};
use raft::{RawNode, SnapshotStatus, StateRole};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Where outgoing Raft messages go (the transport).
pub trait Outbox: Send {
    fn send(&self, messages: Vec<Message>);
    /// The peers to send to from now on (this node excluded), after a membership change.
    fn set_peers(&mut self, peers: &BTreeMap<u64, String>);
}

/// A learner is promoted only when it is at most this many entries behind the commit index
/// (etcd refuses to promote a learner that is not in sync with the leader, too).
const PROMOTE_MAX_LAG: u64 = 1000;

pub struct Settings {
    pub id: u64,
    pub tick: Duration,
    pub election_ticks: usize,
    pub heartbeat_ticks: usize,
    /// Entries kept in the log behind a snapshot, for followers that lag a little.
    pub catchup_entries: u64,
    /// The applied index the state was restored at.
    pub applied: u64,
    /// The member book as of `applied`.
    pub members: MemberBook,
    /// Where a received snapshot waits for Raft to accept it.
    pub snapshots: Arc<SnapshotDir>,
}

/// Proposals are refused while this many committed entries wait to apply.
const MAX_APPLY_LAG: u64 = 10_000;

pub struct Consensus<O: Outbox> {
    node: RawNode<RaftLog>,
    events: Receiver<Event>,
    outbox: O,
    apply: Sender<ApplyTask>,
    proposals: Arc<Proposals>,
    status: Arc<StatusBoard>,
    tick: Duration,
    catchup_entries: u64,
    applied: u64,
    /// Reads that arrived since the last ReadIndex round: they share the next one.
    reads_waiting: Vec<oneshot::Sender<u64>>,
    /// ReadIndex rounds in flight, by the sequence number in their context.
    reads_in_flight: HashMap<u64, (Instant, Vec<oneshot::Sender<u64>>)>,
    /// The next round's sequence number: it starts at this process's random incarnation, so
    /// that a restarted node's rounds do not meet its previous process's at the leader.
    next_read: u64,
    /// Told about every upgrade entry as it reaches this node's log, so that its module
    /// compiles before the entry commits and the switch does not stall applies.
    upgrade_appended: AppendHook,
    /// (term, leader) as of the last Ready.
    leader_seen: (u64, u64),
    /// As of the last conf change applied or snapshot installed: what membership changes
    /// are checked against, and whose addresses the transport sends to.
    members: MemberBook,
    snapshots: Arc<SnapshotDir>,
    metrics: Arc<Metrics>,
    round_trips: RoundTrips,
    /// When this node last heard from its leader, or as leader from a quorum.
    contact: Contact,
    /// The last index of an entry a follower proposed through this leader: until it
    /// commits, a new commit index goes to the followers at once (see
    /// [`Self::choose_commit_broadcast`]).
    forwarded_until: u64,
}

/// A ReadIndex round's context: the node's id, then its sequence number. raft-rs's leader
/// keeps one pending read per context and silently drops a request whose context is
/// already pending, so two nodes' rounds must never share one (when every node counted
/// from 1, they met, and the later round went unanswered until its caller retried).
fn read_context(node: u64, seq: u64) -> Vec<u8> {
    [node.to_be_bytes(), seq.to_be_bytes()].concat()
}

/// The sequence number of one of `node`'s rounds, from its context.
fn our_read(context: &[u8], node: u64) -> Option<u64> {
    let (id, seq) = context.split_at_checked(8)?;
    (id == node.to_be_bytes()).then(|| seq.try_into().ok().map(u64::from_be_bytes))?
}

/// Called with the data of an appended entry.
type AppendHook = Box<dyn Fn(&[u8]) + Send>;

/// A ReadIndex round still unanswered after this is forgotten (its callers have retried).
const READ_ROUND_TIMEOUT: Duration = Duration::from_secs(10);

impl<O: Outbox> Consensus<O> {
    pub fn new(
        settings: Settings,
        mut log: RaftLog,
        events: Receiver<Event>,
        outbox: O,
        apply: Sender<ApplyTask>,
        proposals: Arc<Proposals>,
        status: Arc<StatusBoard>,
    ) -> anyhow::Result<Self> {
        log.commit_at_least(settings.applied)?;
        let config = raft::Config {
            id: settings.id,
            election_tick: settings.election_ticks,
            heartbeat_tick: settings.heartbeat_ticks,
            applied: settings.applied,
            // raft-rs's defaults are one entry per append and no pre-vote or check-quorum.
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            batch_append: true,
            // Chosen per message: see `choose_commit_broadcast`.
            skip_bcast_commit: true,
            max_uncommitted_size: 64 << 20,
            max_committed_size_per_ready: 16 << 20,
            ..Default::default()
        };
        config.validate()?;
        let node = RawNode::new(&config, log, &logger::logger())?;
        let incarnation = proposals.incarnation();
        Ok(Consensus {
            node,
            events,
            outbox,
            apply,
            proposals,
            status,
            tick: settings.tick,
            catchup_entries: settings.catchup_entries,
            applied: settings.applied,
            reads_waiting: Vec::new(),
            reads_in_flight: HashMap::new(),
            next_read: incarnation,
            upgrade_appended: Box::new(|_| {}),
            leader_seen: (0, 0),
            members: settings.members,
            forwarded_until: 0,
            snapshots: settings.snapshots,
            metrics: Arc::default(),
            round_trips: RoundTrips::default(),
            contact: Contact::default(),
        })
    }

    /// Records this node's consensus figures in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Calls `hook` with the data of every upgrade entry this node appends.
    pub fn on_upgrade_appended(mut self, hook: impl Fn(&[u8]) + Send + 'static) -> Self {
        self.upgrade_appended = Box::new(hook);
        self
    }

    /// Runs until `Shutdown`. An error is a failure of the log: the node cannot go on.
    pub fn run(mut self) -> Result<(), LogError> {
        let mut next_tick = Instant::now() + self.tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(wait) {
                Ok(event) => {
                    if !self.handle(event)? {
                        return Ok(());
                    }
                    // Take what else has arrived before the next Ready: one fsync for all.
                    for event in self.events.try_iter().take(4096).collect::<Vec<_>>() {
                        if !self.handle(event)? {
                            return Ok(());
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            self.start_read_round();
            if Instant::now() >= next_tick {
                self.node.tick();
                next_tick += self.tick;
                if next_tick < Instant::now() {
                    next_tick = Instant::now() + self.tick;
                }
            }
            self.on_ready()?;
            self.notice_leader_change();
            self.publish();
        }
    }

    /// Returns false on shutdown.
    fn handle(&mut self, event: Event) -> Result<bool, LogError> {
        match event {
            Event::Messages(messages) => {
                for mut m in messages {
                    if let Some(why) = self.unfit(&m) {
                        tracing::warn!(from = m.from, kind = ?m.get_msg_type(), "dropped a peer's message: {why}");
                        continue;
                    }
                    self.round_trips.received(&m, &self.metrics);
                    let forwarded = m.get_msg_type() == MessageType::MsgPropose;
                    if forwarded {
                        self.stamp(&mut m);
                    }
                    self.choose_commit_broadcast();
                    let (from, term) = (m.from, m.term);
                    if let Err(e) = self.node.step(m) {
                        tracing::debug!("raft ignored a message: {e}");
                    }
                    self.contact.heard(from, term, self.node.raft.term);
                    if forwarded && self.node.raft.state == StateRole::Leader {
                        self.forwarded_until = self.node.raft.raft_log.last_index();
                    }
                }
            }
            Event::ReadIndex { reply } => self.reads_waiting.push(reply),
            Event::Propose { id, data } => {
                let lag = self.node.raft.raft_log.committed.saturating_sub(self.applied);
                if lag > MAX_APPLY_LAG {
                    self.proposals
                        .fail(id, ProposeError::Busy("too many entries are waiting to apply; retry shortly".into()));
                } else if self.propose(id, data).is_err() {
                    self.proposals.fail(id, ProposeError::NoLeader);
                } else {
                    self.proposals.submitted(id);
                }
            }
            Event::ChangeMembers { id, change } => self.propose_change(id, change),
            Event::ApplyConfChange { change, members, reply } => {
                let result = self.node.apply_conf_change(&change).map_err(|e| e.to_string());
                if result.is_ok() {
                    self.use_members(members);
                }
                let _ = reply.send(result);
            }
            Event::SnapshotMembers(members) => self.use_members(members),
            Event::TransferLeader { to, reply } => {
                let _ = reply.send(self.transfer_leader(to));
            }
            Event::Applied(index) => {
                if index > self.applied {
                    self.applied = index;
                    self.node.advance_apply_to(index);
                }
            }
            Event::SnapshotBuilt(meta) => {
                let index = meta.index;
                self.node.mut_store().set_snapshot(meta)?;
                self.node.mut_store().compact_to((index + 1).saturating_sub(self.catchup_entries))?;
            }
            Event::Unreachable(peer) => self.node.report_unreachable(peer),
            Event::PeerDown(peer) => {
                // Our leader is gone, not merely quiet: skip the rest of its lease and keep
                // only the randomized part of the election timeout (which spreads the
                // followers' campaigns apart). Safe: with pre-vote and check-quorum a lone
                // false alarm wins no votes from followers that still hear the leader.
                let raft = &mut self.node.raft;
                if raft.state == StateRole::Follower && raft.leader_id == peer {
                    raft.election_elapsed = raft.election_elapsed.max(raft.election_timeout());
                    tracing::info!(peer, term = raft.term, "the leader's process is gone; its lease is over");
                }
            }
            Event::SnapshotSent { to, ok } => {
                let status = if ok { SnapshotStatus::Finish } else { SnapshotStatus::Failure };
                self.node.report_snapshot(to, status);
            }
            Event::Shutdown => return Ok(false),
        }
        Ok(true)
    }

    /// Proposes a command. On the leader its entry gets the leader's clock at once; a
    /// follower's goes to the leader as a `MsgPropose`, which [`Self::stamp`]s it there.
    fn propose(&mut self, id: ProposalId, data: Vec<u8>) -> raft::Result<()> {
        let context = id.to_context();
        let context = match self.node.raft.state {
            StateRole::Leader => EntryContext::stamped(&context, now_ns()).unwrap_or(context),
            _ => context,
        };
        self.node.propose(context, data)
    }

    /// A leader writes its clock into the entries of a proposal forwarded to it, over
    /// whatever time the sender put there: entry time is bounded by it (see
    /// [`crate::entry::entry_time`]). A node that does not lead leaves the proposal as it
    /// is: raft-rs forwards or drops it.
    fn stamp(&self, m: &mut Message) {
        if self.node.raft.state != StateRole::Leader {
            return;
        }
        let now = now_ns();
        for e in m.mut_entries().iter_mut() {
            if let Some(context) = EntryContext::stamped(&e.context, now) {
                e.context = context.into();
            }
        }
    }

    /// Whether a leader tells the followers of a new commit index at once (an append to
    /// each, and its answer) or with its next append or heartbeat (at most a tick later).
    /// At once only while an entry a follower proposed awaits its commit: that follower
    /// answers its client when it applies the entry. Otherwise the followers need not
    /// know yet: this leader answers its own proposals, linearizable reads on a follower
    /// learn the commit index from their round's heartbeat, and stale reads rest on a
    /// ReadIndex round too. A lone writer at the leader then costs each follower one append
    /// and its answer instead of two (TiKV skips these broadcasts too): about a tenth less
    /// CPU per write (README, "Benchmarks", CPU per operation). raft-rs broadcasts a
    /// pending membership change's commit regardless.
    fn choose_commit_broadcast(&mut self) {
        let skip = self.forwarded_until <= self.node.raft.raft_log.committed;
        self.node.skip_bcast_commit(skip);
    }

    /// Proposes a membership change if this node leads, no change is pending, it fits the
    /// current membership, and a learner to promote has caught up: raft-rs would otherwise
    /// drop some of these without a word.
    fn propose_change(&mut self, id: ProposalId, change: Change) {
        let raft = &self.node.raft;
        let refuse = |why: String| Err(ProposeError::Refused(why));
        let checked = if raft.state != StateRole::Leader {
            Err(ProposeError::NotLeader(raft.leader_id))
        } else if raft.has_pending_conf() {
            refuse("another membership change is still in progress; retry once it has applied".into())
        } else if let Err(why) = change.check(&raft.prs().conf().to_conf_state(), &self.members) {
            refuse(why)
        } else {
            match change {
                Change::Remove { id: gone } | Change::Promote { replacing: Some(gone), .. } if gone == raft.id => {
                    refuse(format!(
                        "node {gone} is the leader and cannot remove itself: hand leadership over first (`wasmraft transfer-leader`)"
                    ))
                }
                Change::Promote { id: learner, .. } => {
                    let matched = raft.prs().get(learner).map_or(0, |p| p.matched);
                    let commit = raft.raft_log.committed;
                    match matched + PROMOTE_MAX_LAG < commit {
                        true => refuse(format!(
                            "learner {learner} has not caught up (it has {matched} of {commit} entries); retry shortly"
                        )),
                        false => Ok(()),
                    }
                }
                _ => Ok(()),
            }
        };
        let proposed = checked.and_then(|()| {
            self.node
                .propose_conf_change(id.to_context(), change.to_conf_change())
                .map_err(|e| ProposeError::Refused(format!("raft refused the change: {e}")))
        });
        match proposed {
            Ok(()) => self.proposals.submitted(id),
            Err(e) => self.proposals.fail(id, e),
        }
    }

    /// Starts a leadership transfer (raft-rs finishes it: it catches the target up, then
    /// tells it to campaign at once).
    fn transfer_leader(&mut self, to: u64) -> Result<u64, ProposeError> {
        let raft = &self.node.raft;
        if raft.state != StateRole::Leader {
            return Err(ProposeError::NotLeader(raft.leader_id));
        }
        let me = raft.id;
        let voters: Vec<u64> = raft.prs().conf().voters().ids().iter().filter(|&v| v != me).collect();
        let to = match to {
            0 => *voters
                .iter()
                .max_by_key(|&&v| raft.prs().get(v).map_or(0, |p| p.matched))
                .ok_or_else(|| ProposeError::Refused("there is no other voter to hand leadership to".into()))?,
            id if id == me => return Ok(me),
            id if voters.contains(&id) => id,
            id => return Err(ProposeError::Refused(format!("node {id} is not a voter"))),
        };
        self.node.transfer_leader(to);
        Ok(to)
    }

    /// One ReadIndex round for every read that arrived since the last one (TiKV batches the
    /// same way): one heartbeat exchange serves them all.
    fn start_read_round(&mut self) {
        if self.reads_waiting.is_empty() {
            return;
        }
        let seq = self.next_read;
        self.next_read = self.next_read.wrapping_add(1);
        self.node.read_index(read_context(self.node.raft.id, seq));
        self.reads_in_flight.insert(seq, (Instant::now(), std::mem::take(&mut self.reads_waiting)));
        // raft-rs drops a ReadIndex silently (no leader, a new leader without a commit in
        // its term); those rounds never answer, and their callers retry.
        self.reads_in_flight
            .retain(|_, (at, waiters)| at.elapsed() < READ_ROUND_TIMEOUT && waiters.iter().any(|w| !w.is_closed()));
    }

    fn on_ready(&mut self) -> Result<(), LogError> {
        if !self.node.has_ready() {
            return Ok(());
        }
        let mut rd = self.node.ready();
        self.send(rd.take_messages());
        for state in rd.take_read_states() {
            let Some(seq) = our_read(&state.request_ctx, self.node.raft.id) else { continue };
            if let Some((_, waiters)) = self.reads_in_flight.remove(&seq) {
                for w in waiters {
                    let _ = w.send(state.index);
                }
            }
        }

        let snapshot = (!rd.snapshot().is_empty()).then(|| rd.snapshot().get_metadata().clone());
        let committed = rd.take_committed_entries();
        let sync = rd.must_sync() || snapshot.is_some();
        if let Some(meta) = &snapshot {
            // Raft accepted a received snapshot: its staged file becomes a snapshot file
            // before the log points at it.
            self.snapshots.adopt(meta.index, meta.term).map_err(LogError::Snapshot)?;
        }
        let started = Instant::now();
        self.node
            .mut_store()
            .persist(Persist { snapshot: snapshot.as_ref(), entries: rd.entries(), hard_state: rd.hs() }, sync)?;
        match sync {
            true => &self.metrics.wal_fsync,
            false => &self.metrics.wal_append,
        }
        .observe(started.elapsed().as_secs_f64());
        for e in rd.entries() {
            if let Some(context) = EntryContext::parse(&e.context) {
                self.proposals.placed(context.id, e.index);
            }
            if e.get_entry_type() == raft::eraftpb::EntryType::EntryNormal && e.data.first() == Some(&UPGRADE_TAG) {
                (self.upgrade_appended)(&e.data);
            }
        }
        let restored = snapshot.as_ref().map(|meta| meta.index);
        if let Some(meta) = snapshot {
            self.applied = meta.index;
            let _ = self.apply.send(ApplyTask::InstallSnapshot(meta));
        }
        self.hand_over(committed);
        self.send(rd.take_persisted_messages());

        // Not `advance`: it would also mark everything handed out as applied, but applying
        // happens on the apply thread, whose progress arrives as `Applied`. Our own entries
        // persisted may commit some: broadcast or not as after a follower's answer.
        self.choose_commit_broadcast();
        let mut light = self.node.advance_append(rd);
        if let Some(index) = restored {
            // Raft's applied index moves to the snapshot now (it is persisted), not when the
            // apply thread reports: the entries before it are gone from the log, and raft-rs
            // reads the unapplied ones, from its applied index on, when it campaigns.
            self.node.advance_apply_to(index);
        }
        if let Some(commit) = light.commit_index() {
            let mut hs = self.node.store().hard_state().clone();
            hs.commit = commit;
            let started = Instant::now();
            self.node.mut_store().persist(Persist { hard_state: Some(&hs), ..Default::default() }, false)?;
            self.metrics.wal_append.observe(started.elapsed().as_secs_f64());
        }
        self.send(light.take_messages());
        self.hand_over(light.take_committed_entries());
        Ok(())
    }

    /// Why a message from a peer must not reach raft-rs, which panics (stopping the node)
    /// on some that no correct peer sends, or takes local ones from anyone.
    fn unfit(&self, m: &Message) -> Option<&'static str> {
        use MessageType::*;
        let log = &self.node.raft.raft_log;
        match m.get_msg_type() {
            // This node's own events: a peer's would start elections or fake progress.
            // (Leadership is moved by asking the leader: peers never forward a transfer.)
            MsgHup | MsgBeat | MsgUnreachable | MsgSnapStatus | MsgCheckQuorum | MsgTransferLeader => {
                Some("a local message type")
            }
            // Campaigning at once skips pre-vote and the leader's lease: only the leader that
            // hands leadership over may ask for it, not any member (a learner included).
            MsgTimeoutNow if m.from != self.node.raft.leader_id => Some("a campaign order not from this node's leader"),
            // `commit_to` panics past the last index; a leader sends at most what we hold.
            MsgHeartbeat if m.commit > log.last_index() => Some("a commit index beyond this node's log"),
            // `maybe_append` assumes the entries follow `index` one by one.
            MsgAppend if m.entries.iter().zip(m.index + 1..).any(|(e, i)| e.index != i) => {
                Some("entries that do not follow its index")
            }
            // A leader counts an acknowledged index toward its commit index.
            MsgAppendResponse if !m.reject && m.index > log.last_index() => {
                Some("an acknowledgement beyond this node's log")
            }
            _ => None,
        }
    }

    /// `members` from now on: the peers to send to, and what changes are checked against.
    fn use_members(&mut self, members: MemberBook) {
        let me = self.node.raft.id;
        let peers = members.addresses.iter().filter(|(id, _)| **id != me).map(|(i, a)| (*i, a.clone())).collect();
        self.outbox.set_peers(&peers);
        self.members = members;
    }

    fn send(&mut self, messages: Vec<Message>) {
        self.round_trips.sending(&messages);
        self.outbox.send(messages);
    }

    /// Committed entries to the apply thread.
    fn hand_over(&self, committed: Vec<raft::eraftpb::Entry>) {
        if !committed.is_empty() {
            self.metrics.proposals_committed.inc_by(committed.len() as u64);
            let _ = self.apply.send(ApplyTask::Entries(committed));
        }
    }

    /// After this Ready placed what reached the log: see [`Proposals::leader_changed`].
    fn notice_leader_change(&mut self) {
        let raft = &self.node.raft;
        let now = (raft.term, raft.leader_id);
        if now != self.leader_seen {
            self.leader_seen = now;
            // raft-rs says so too, but in words: these carry the fields operators search by.
            let (term, index, commit) = (raft.term, raft.raft_log.last_index(), raft.raft_log.committed);
            match raft.leader_id {
                raft::INVALID_ID => {}
                leader if leader == raft.id => tracing::info!(term, index, commit, "became leader"),
                leader => tracing::info!(term, leader, index, commit, "following a new leader"),
            }
            if raft.leader_id != raft::INVALID_ID {
                self.metrics.leader_changes.inc();
            }
            self.round_trips.clear();
            self.proposals.leader_changed();
        }
    }

    fn publish(&self) {
        let raft = &self.node.raft;
        let m = &self.metrics;
        m.has_leader.set(i64::from(raft.leader_id != raft::INVALID_ID));
        m.is_leader.set(i64::from(raft.state == StateRole::Leader));
        m.term.set(raft.term as i64);
        m.commit_index.set(raft.raft_log.committed as i64);
        m.apply_lag.set(raft.raft_log.committed.saturating_sub(self.applied) as i64);
        let conf = raft.prs().conf().to_conf_state();
        let store = self.node.store();
        self.status.set_consensus(status::Consensus {
            role: match raft.state {
                StateRole::Leader => "leader",
                StateRole::Follower => "follower",
                StateRole::Candidate => "candidate",
                StateRole::PreCandidate => "pre-candidate",
            },
            term: raft.term,
            leader: raft.leader_id,
            leader_contact: self.contact.last(&contact::View {
                id: raft.id,
                term: raft.term,
                role: raft.state,
                leader: raft.leader_id,
                voters: &conf.voters,
                outgoing: &conf.voters_outgoing,
                committed_in_term: raft.commit_to_current_term(),
            }),
            commit_index: raft.raft_log.committed,
            first_index: store.first_index(),
            last_index: raft.raft_log.last_index(),
            snapshot_index: store.snapshot_metadata().map_or(0, |m| m.index),
            voters: conf.voters,
            learners: conf.learners,
        });
    }
}
