//! The Raft thread with a real log and snapshot directory, stepped by hand.

use super::*;
use crate::snapshot::descriptor;
use raft::eraftpb::{ConfState, MessageType, Snapshot, SnapshotMetadata};
use std::path::Path;

struct NoPeers;

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
    Ok((events, Consensus::new(settings, log, inbox, NoPeers, apply, proposals, status)?))
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
