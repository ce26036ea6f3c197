//! The Raft thread with a real log and snapshot directory, stepped by hand.

use super::*;
use crate::snapshot::descriptor;
use raft::eraftpb::{ConfState, MessageType, Snapshot, SnapshotMetadata};
use std::path::Path;

struct NoPeers;

/// Keeps what the node sends.
#[derive(Default, Clone)]
struct Recorded(Arc<std::sync::Mutex<Vec<Message>>>);

impl Recorded {
    fn take(&self) -> Vec<Message> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Outbox for Recorded {
    fn send(&self, messages: Vec<Message>) {
        self.0.lock().unwrap().extend(messages);
    }
    fn set_peers(&mut self, _: &BTreeMap<u64, String>) {}
}

impl Outbox for NoPeers {
    fn send(&self, _: Vec<Message>) {}
    fn set_peers(&mut self, _: &BTreeMap<u64, String>) {}
}

/// A leader's `MsgSnapshot` to node 2 for the snapshot (index, term) of `voters`.
fn msg_snapshot(term: u64, index: u64, voters: &[u64]) -> Message {
    let conf_state = ConfState { voters: voters.to_vec(), ..Default::default() };
    let meta = SnapshotMetadata { index, term, conf_state: Some(conf_state).into(), ..Default::default() };
    let mut snapshot = Snapshot { data: descriptor(&meta).into(), ..Default::default() };
    snapshot.set_metadata(meta);
    let mut m = Message { from: 1, to: 2, term, snapshot: Some(snapshot).into(), ..Default::default() };
    m.set_msg_type(MessageType::MsgSnapshot);
    m
}

/// Runs node 2 of {1, 2, 3} over the log in `dir` and `snapshots` until `messages` are handled.
fn run_with(dir: &Path, snapshots: &Arc<SnapshotDir>, messages: Vec<Message>) -> Result<(), LogError> {
    let mut log = RaftLog::open(&dir.join("log")).unwrap();
    log.bootstrap(&[1, 2, 3]).unwrap();
    let (events, consensus) = node_2(log, 0, snapshots.clone()).unwrap();
    events.send(Event::Messages(messages)).unwrap();
    // The loop ends once the channel is empty and closed, after the Ready of what it held.
    drop(events);
    consensus.run()
}

/// Node 2 of {1, 2, 3} over `log`, having applied up to `applied`, with no peers: its
/// inbox's sender and the Raft thread, not yet running.
fn node_2(
    log: RaftLog,
    applied: u64,
    snapshots: Arc<SnapshotDir>,
) -> anyhow::Result<(Sender<Event>, Consensus<NoPeers>)> {
    node_2_with(log, applied, snapshots, NoPeers)
}

fn node_2_with<O: Outbox>(
    log: RaftLog,
    applied: u64,
    snapshots: Arc<SnapshotDir>,
    outbox: O,
) -> anyhow::Result<(Sender<Event>, Consensus<O>)> {
    let settings = Settings {
        id: 2,
        tick: Duration::from_secs(60),
        election_ticks: 10,
        heartbeat_ticks: 1,
        catchup_entries: 100,
        applied,
        members: MemberBook::default(),
        snapshots,
    };
    let (events, inbox) = crossbeam_channel::unbounded();
    let (apply, _applied) = crossbeam_channel::unbounded();
    let (proposals, status) = (Arc::new(Proposals::new(2).unwrap()), Arc::new(StatusBoard::default()));
    Ok((events, Consensus::new(settings, log, inbox, outbox, apply, proposals, status)?))
}

/// Stages a received, verified snapshot file, as the transport does.
fn receive(dir: &SnapshotDir, index: u64, term: u64) {
    let tmp = dir.temp_path("recv");
    std::fs::write(&tmp, b"a verified snapshot file").unwrap();
    dir.stage(&tmp, index, term, 0).unwrap();
}

#[test]
fn only_a_snapshot_raft_accepts_is_adopted() {
    let tmp = tempfile::tempdir().unwrap();
    let snapshots = Arc::new(SnapshotDir::open(tmp.path().join("snapshots")).unwrap());
    receive(&snapshots, 50, 3);
    receive(&snapshots, 60, 3);
    receive(&snapshots, 70, 1);
    run_with(
        tmp.path(),
        &snapshots,
        vec![
            msg_snapshot(3, 50, &[1, 2, 3]),
            // Refused: it does not include this node.
            msg_snapshot(3, 60, &[1, 3]),
            // Refused: from a past term.
            msg_snapshot(1, 70, &[1, 2, 3]),
        ],
    )
    .unwrap();
    let listed: Vec<(u64, u64)> = snapshots.list().unwrap().into_iter().map(|(i, t, _)| (i, t)).collect();
    assert_eq!(listed, vec![(50, 3)]);
    let log = RaftLog::open(&tmp.path().join("log")).unwrap();
    assert_eq!(log.snapshot_metadata().map(|m| (m.index, m.term)), Some((50, 3)));
    assert_eq!(log.hard_state().commit, 50);
}

#[test]
fn an_accepted_snapshot_whose_file_is_gone_stops_the_node_before_the_log_points_at_it() {
    let tmp = tempfile::tempdir().unwrap();
    let snapshots = Arc::new(SnapshotDir::open(tmp.path().join("snapshots")).unwrap());
    let e = run_with(tmp.path(), &snapshots, vec![msg_snapshot(3, 50, &[1, 2, 3])]).unwrap_err();
    assert!(e.to_string().contains("adopting the received snapshot at 50"), "{e}");
    let log = RaftLog::open(&tmp.path().join("log")).unwrap();
    assert!(log.snapshot_metadata().is_none());
    assert_eq!(log.first_index(), 1);
}

#[test]
fn read_contexts_name_their_node() {
    assert_eq!(our_read(&read_context(2, 9), 2), Some(9));
    assert_eq!(our_read(&read_context(3, 9), 2), None, "another node's round with the same number");
    assert_ne!(read_context(2, 9), read_context(3, 9));
    assert_eq!(our_read(&9u64.to_be_bytes(), 2), None);
    assert_eq!(our_read(&[], 2), None);
}

/// A crash can leave the durable commit index below what the node applied and checkpointed
/// (it is written without a sync): the node starts, with the commit index raised to it.
#[test]
fn a_commit_index_behind_the_applied_state_is_raised_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let snapshots = Arc::new(SnapshotDir::open(tmp.path().join("snapshots")).unwrap());
    {
        let mut log = RaftLog::open(&tmp.path().join("log")).unwrap();
        log.bootstrap(&[1, 2, 3]).unwrap();
        let entries: Vec<raft::eraftpb::Entry> =
            (1..=5).map(|index| raft::eraftpb::Entry { index, term: 1, ..Default::default() }).collect();
        let hs = raft::eraftpb::HardState { term: 1, vote: 1, commit: 2, ..Default::default() };
        log.persist(Persist { entries: &entries, hard_state: Some(&hs), ..Default::default() }, true).unwrap();
    }
    let log = RaftLog::open(&tmp.path().join("log")).unwrap();
    assert_eq!(log.hard_state().commit, 2);
    let (_events, consensus) = node_2(log, 5, snapshots).expect("starts");
    assert_eq!(consensus.node.raft.raft_log.committed, 5);
    assert_eq!(consensus.node.store().hard_state().commit, 5, "and durably so");
}

/// Applied beyond the log is an inconsistency: refused with a message, not a panic.
#[test]
fn an_applied_state_beyond_the_log_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = RaftLog::open(&tmp.path().join("log")).unwrap();
    log.bootstrap(&[1, 2, 3]).unwrap();
    let error = log.commit_at_least(7).unwrap_err().to_string();
    assert!(error.contains("index 7"), "{error}");
}

/// A message to node 2 of `msg_type` from `from` in `term`, about `index`.
fn to_2(msg_type: MessageType, from: u64, term: u64, index: u64) -> Message {
    let mut m = Message { from, to: 2, term, index, ..Default::default() };
    m.set_msg_type(msg_type);
    m
}

/// The commit-only appends among `sent`: (to, commit).
fn commit_news(sent: &[Message]) -> Vec<(u64, u64)> {
    let news = sent.iter().filter(|m| m.get_msg_type() == MessageType::MsgAppend && m.entries.is_empty());
    news.map(|m| (m.to, m.commit)).collect()
}

/// Node 2 leads {1, 2, 3} (a vote from 1, its first entry acknowledged by 1 and 3): its
/// Raft thread, what it sends, and its last index.
fn leader_2(dir: &Path) -> (Consensus<Recorded>, Recorded, u64) {
    let mut log = RaftLog::open(&dir.join("log")).unwrap();
    log.bootstrap(&[1, 2, 3]).unwrap();
    let snapshots = Arc::new(SnapshotDir::open(dir.join("snapshots")).unwrap());
    let sent = Recorded::default();
    let (_events, mut node) = node_2_with(log, 0, snapshots, sent.clone()).unwrap();
    node.node.campaign().unwrap();
    node.on_ready().unwrap();
    let term = node.node.raft.term + 1;
    node.handle(Event::Messages(vec![to_2(MessageType::MsgRequestPreVoteResponse, 1, term, 0)])).unwrap();
    node.on_ready().unwrap();
    node.handle(Event::Messages(vec![to_2(MessageType::MsgRequestVoteResponse, 1, term, 0)])).unwrap();
    node.on_ready().unwrap();
    assert_eq!(node.node.raft.state, StateRole::Leader);
    let last = node.node.raft.raft_log.last_index();
    let acks = [1, 3].map(|from| to_2(MessageType::MsgAppendResponse, from, term, last));
    node.handle(Event::Messages(acks.to_vec())).unwrap();
    node.on_ready().unwrap();
    assert_eq!(node.node.raft.raft_log.committed, last);
    sent.take();
    (node, sent, last)
}

/// Node 1 acknowledges the leader's log up to `index`, which commits it: the commit-only
/// appends the leader sent then, sorted.
fn acknowledged(node: &mut Consensus<Recorded>, sent: &Recorded, index: u64) -> Vec<(u64, u64)> {
    sent.take();
    let term = node.node.raft.term;
    node.handle(Event::Messages(vec![to_2(MessageType::MsgAppendResponse, 1, term, index)])).unwrap();
    node.on_ready().unwrap();
    assert_eq!(node.node.raft.raft_log.committed, index);
    let mut news = commit_news(&sent.take());
    news.sort();
    news
}

/// A leader tells the followers of a new commit index at once only while an entry a
/// follower proposed awaits it: that follower answers its client when it applies. Its own
/// clients' entries wait for the next append or heartbeat.
#[test]
fn followers_hear_of_a_commit_at_once_only_when_one_of_them_proposed_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut node, sent, last) = leader_2(tmp.path());
    let propose_here = |node: &mut Consensus<Recorded>, seq: u64| {
        let id = ProposalId { node: 2, incarnation: 1, seq };
        node.handle(Event::Propose { id, data: b"from a client of the leader".to_vec() }).unwrap();
        node.on_ready().unwrap();
    };

    // Proposed here: committed through node 1's answer; node 3 is not told yet.
    propose_here(&mut node, 1);
    assert_eq!(node.node.raft.raft_log.last_index(), last + 1);
    assert_eq!(acknowledged(&mut node, &sent, last + 1), vec![]);

    // Forwarded by node 3: once committed, nodes 1 and 3 hear of it at once.
    let mut forwarded = to_2(MessageType::MsgPropose, 3, 0, 0);
    forwarded.entries =
        vec![raft::eraftpb::Entry { data: b"from a client of node 3".to_vec().into(), ..Default::default() }].into();
    node.handle(Event::Messages(vec![forwarded])).unwrap();
    node.on_ready().unwrap();
    assert_eq!(node.node.raft.raft_log.last_index(), last + 2);
    assert_eq!(acknowledged(&mut node, &sent, last + 2), vec![(1, last + 2), (3, last + 2)]);

    // And back to waiting once it has.
    propose_here(&mut node, 2);
    assert_eq!(acknowledged(&mut node, &sent, last + 3), vec![]);
}

/// A member's messages that raft-rs would panic on (stopping this node), or that are this
/// node's own events, are dropped before they reach it.
#[test]
fn a_peers_message_that_would_stop_this_node_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let snapshots = Arc::new(SnapshotDir::open(tmp.path().join("snapshots")).unwrap());
    let message = |kind: MessageType, f: &dyn Fn(&mut Message)| {
        let mut m = Message { from: 1, to: 2, term: 1, ..Default::default() };
        m.set_msg_type(kind);
        f(&mut m);
        m
    };
    let entry = |index: u64| raft::eraftpb::Entry { index, term: 1, ..Default::default() };
    let hostile = vec![
        message(MessageType::MsgHeartbeat, &|m| m.commit = u64::MAX),
        message(MessageType::MsgAppend, &|m| {
            m.index = 0;
            m.entries = vec![entry(5), entry(1)].into();
        }),
        message(MessageType::MsgHup, &|m| m.term = 0),
    ];
    run_with(tmp.path(), &snapshots, hostile).expect("the node keeps running");
    let log = RaftLog::open(&tmp.path().join("log")).unwrap();
    assert!(log.hard_state().commit <= log.last_index(), "{:?}", log.hard_state());
    assert!(log.last_index() < 5, "no entry out of order was appended");
}

#[test]
fn only_the_leader_may_tell_a_node_to_campaign_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let snapshots = Arc::new(SnapshotDir::open(tmp.path().join("snapshots")).unwrap());
    // Node 3 is not node 2's leader (node 2 knows none): raft-rs would campaign, skipping
    // pre-vote, at a new term.
    let mut order = Message { from: 3, to: 2, term: 1, ..Default::default() };
    order.set_msg_type(MessageType::MsgTimeoutNow);
    let mut transfer = Message { from: 3, to: 2, term: 1, ..Default::default() };
    transfer.set_msg_type(MessageType::MsgTransferLeader);
    run_with(tmp.path(), &snapshots, vec![order, transfer]).expect("the node keeps running");
    let log = RaftLog::open(&tmp.path().join("log")).unwrap();
    assert_ne!(log.hard_state().vote, 2, "node 2 campaigned: {:?}", log.hard_state());
}
