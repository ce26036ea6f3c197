//! Proposals waiting for their outcome on the node that took them.
//!
//! A waiter learns its proposal's fate from the apply thread: the entry applied (with the
//! applier's output), or another entry applied at the log position the proposal had taken
//! (it was overtaken: a new leader truncated it, so it will never apply). What cannot be
//! known ends as such: a proposal lost on its way to a leader (at its caller's deadline,
//! or when the leader changes), one whose place a snapshot covered, one in flight when the
//! node stops.

use crate::entry::ProposalId;
use crate::runtime::StateMap;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;
use wasmraft_sdk::contract::ApplierError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("no leader is known right now; retry shortly")]
    NoLeader,
    #[error("the proposal was overtaken at index {0} by a new leader's log; it was not applied")]
    Overtaken(u64),
    /// The node has as much work of this kind as it takes (the message says which).
    #[error("{0}")]
    Busy(String),
    #[error("the node stopped while the proposal was in flight: it may or may not be applied")]
    ShuttingDown,
    /// Only the leader takes this; `0`: none known.
    #[error("only the leader takes this, and this node is not it (leader: {0})")]
    NotLeader(u64),
    #[error("{0}")]
    Refused(String),
    #[error("the leader changed before the proposal reached this node's log: it may or may not be applied; retry")]
    LeaderChanged,
    #[error("this node cannot apply entries: {0}")]
    Halted(String),
    /// The entry was placed at an index a snapshot from the leader then covered: whether
    /// it was that entry that committed there, this node never sees.
    #[error(
        "this node caught up by a snapshot past index {0}, where the proposal was in its log: it may or may not \
         be applied; a retry with the same request id learns which"
    )]
    CoveredBySnapshot(u64),
}

/// An entry's outcome on this node.
#[derive(Clone)]
pub struct Applied {
    /// Where the command applied: for a retried request id, the first entry's position.
    pub index: u64,
    pub term: u64,
    pub result: Result<Vec<u8>, ApplierError>,
    /// A retry of a request that had applied: `result` is its first outcome.
    pub replayed: bool,
    /// The applier's state just after the entry, for a proposer that asked for it
    /// ([`Wants::OutputAndState`]) and whose entry was an applier's command.
    pub state: Option<StateMap>,
}

/// What a proposer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wants {
    Output,
    /// The output and the state it was applied to (an O(1) copy, which the apply thread
    /// then pays for in copied tree nodes while it lives): to render the answer from.
    OutputAndState,
}

struct Waiter {
    reply: oneshot::Sender<Outcome>,
    wants: Wants,
}

pub type Outcome = Result<Applied, ProposeError>;

#[derive(Default)]
struct Inner {
    waiting: HashMap<u64, Waiter>,
    /// Log index -> sequence number, for proposals whose entry this node has persisted.
    placed: BTreeMap<u64, u64>,
    /// Handed to Raft (on a follower: forwarded to the leader), not placed yet.
    submitted: HashSet<u64>,
}

impl Inner {
    /// Ends the wait of every proposal placed at or before `index` (but `except`) with
    /// `error(its index)`.
    fn settle_through(&mut self, index: u64, except: Option<u64>, error: fn(u64) -> ProposeError) {
        let later = self.placed.split_off(&index.saturating_add(1));
        for (at, seq) in std::mem::replace(&mut self.placed, later) {
            if Some(seq) != except
                && let Some(waiter) = self.waiting.remove(&seq)
            {
                let _ = waiter.reply.send(Err(error(at)));
            }
        }
    }
}

pub struct Proposals {
    node: u64,
    /// This process's, random: entries proposed by an earlier process of this node (which
    /// can commit and apply after a restart) carry another and answer no one here.
    incarnation: u64,
    next_seq: AtomicU64,
    inner: Mutex<Inner>,
}

impl Proposals {
    /// Fails only if the OS gives no random bytes.
    pub fn new(node: u64) -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes)?;
        // 0 is the incarnation of entries from before incarnations existed.
        Ok(Proposals::with_incarnation(node, u64::from_le_bytes(bytes).max(1)))
    }

    fn with_incarnation(node: u64, incarnation: u64) -> Self {
        assert_ne!(incarnation, 0, "incarnation 0 is reserved for older entries");
        Proposals { node, incarnation, next_seq: AtomicU64::new(1), inner: Mutex::default() }
    }

    /// This process's random incarnation (never 0).
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Whether `id` is one of this process's proposals.
    fn ours(&self, id: ProposalId) -> bool {
        id.node == self.node && id.incarnation == self.incarnation
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new proposal id and the receiver of its outcome.
    pub fn register(&self, wants: Wants) -> (ProposalId, oneshot::Receiver<Outcome>) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = oneshot::channel();
        self.lock().waiting.insert(seq, Waiter { reply, wants });
        (ProposalId { node: self.node, incarnation: self.incarnation, seq }, rx)
    }

    /// The caller gave up (deadline): forget the proposal.
    pub fn forget(&self, id: ProposalId) {
        let mut inner = self.lock();
        inner.waiting.remove(&id.seq);
        inner.submitted.remove(&id.seq);
    }

    pub fn fail(&self, id: ProposalId, error: ProposeError) {
        let mut inner = self.lock();
        inner.submitted.remove(&id.seq);
        if let Some(waiter) = inner.waiting.remove(&id.seq) {
            let _ = waiter.reply.send(Err(error));
        }
    }

    /// Raft took the proposal (a follower forwarded it to the leader).
    pub fn submitted(&self, id: ProposalId) {
        self.lock().submitted.insert(id.seq);
    }

    /// The leader changed: a proposal Raft took but that has not reached this node's log
    /// was most likely dropped with the old leader (raft-rs says nothing when it is). Its
    /// caller hears so now instead of at its deadline.
    pub fn leader_changed(&self) {
        let mut inner = self.lock();
        for seq in std::mem::take(&mut inner.submitted) {
            if let Some(waiter) = inner.waiting.remove(&seq) {
                let _ = waiter.reply.send(Err(ProposeError::LeaderChanged));
            }
        }
    }

    /// Fails every waiting proposal (shutdown, or this node can no longer apply).
    pub fn fail_all(&self, error: ProposeError) {
        let mut inner = self.lock();
        inner.placed.clear();
        inner.submitted.clear();
        for (_, waiter) in inner.waiting.drain() {
            let _ = waiter.reply.send(Err(error.clone()));
        }
    }

    /// This node installed a snapshot from the leader up to `index`: entries it had placed
    /// there were replaced, and their outcomes are in the state but never reach here.
    pub fn snapshot_installed(&self, index: u64) {
        self.lock().settle_through(index, None, ProposeError::CoveredBySnapshot);
    }

    /// An entry of ours reached this node's log at `index`.
    pub fn placed(&self, id: ProposalId, index: u64) {
        if self.ours(id) {
            let mut inner = self.lock();
            inner.submitted.remove(&id.seq);
            if inner.waiting.contains_key(&id.seq) {
                inner.placed.insert(index, id.seq);
            }
        }
    }

    /// The entry at `index` applied, proposed as `id` (none for entries without a client),
    /// with `outcome` for its proposer, and `state()` as its state if the proposer wants it.
    pub fn applied(
        &self,
        index: u64,
        id: Option<ProposalId>,
        mut outcome: Applied,
        state: impl FnOnce() -> Option<StateMap>,
    ) {
        let mut inner = self.lock();
        let ours = id.filter(|&id| self.ours(id)).map(|id| id.seq);
        // Proposals placed at or before this index that are not this entry never will be.
        inner.settle_through(index, ours, ProposeError::Overtaken);
        if let Some(seq) = ours
            && let Some(waiter) = inner.waiting.remove(&seq)
        {
            if waiter.wants == Wants::OutputAndState {
                outcome.state = state();
            }
            let _ = waiter.reply.send(Ok(outcome));
        }
    }

    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::EntryContext;

    fn done(index: u64, term: u64, result: Result<Vec<u8>, ApplierError>) -> Applied {
        Applied { index, term, result, replayed: false, state: None }
    }

    #[test]
    fn a_leader_change_fails_what_never_reached_the_log() {
        let p = Proposals::with_incarnation(1, 1);
        let (placed, mut placed_rx) = p.register(Wants::Output);
        let (lost, mut lost_rx) = p.register(Wants::Output);
        let (unsent, mut unsent_rx) = p.register(Wants::Output);
        p.submitted(placed);
        p.submitted(lost);
        p.placed(placed, 4);
        p.leader_changed();
        assert_eq!(lost_rx.try_recv().unwrap().err(), Some(ProposeError::LeaderChanged));
        assert!(placed_rx.try_recv().is_err(), "placed: its entry decides");
        assert!(unsent_rx.try_recv().is_err(), "not yet handed to Raft");
        p.applied(4, Some(placed), done(4, 2, Ok(Vec::new())), || None);
        assert!(placed_rx.try_recv().unwrap().is_ok());
        let _ = unsent;
    }

    #[test]
    fn the_applied_entry_answers_its_proposer() {
        let p = Proposals::with_incarnation(1, 1);
        let (id, mut rx) = p.register(Wants::Output);
        p.placed(id, 7);
        p.applied(7, Some(id), done(7, 2, Ok(b"out".to_vec())), || None);
        let applied = rx.try_recv().unwrap().unwrap();
        assert_eq!((applied.index, applied.term, applied.result), (7, 2, Ok(b"out".to_vec())));
        assert!(applied.state.is_none(), "not asked for");
        assert_eq!(p.waiting(), 0);
    }

    #[test]
    fn the_state_goes_only_to_a_proposer_that_wants_it() {
        let p = Proposals::with_incarnation(1, 1);
        let state = StateMap::from_entries([(b"k".to_vec().into(), b"v".to_vec().into())]);
        let (id, mut rx) = p.register(Wants::OutputAndState);
        p.applied(7, Some(id), done(7, 2, Ok(vec![])), || Some(state.clone()));
        let applied = rx.try_recv().unwrap().unwrap();
        assert_eq!(applied.state.map(|s| s.digest()), Some(state.digest()));
        let (id, mut rx) = p.register(Wants::Output);
        p.applied(8, Some(id), done(8, 2, Ok(vec![])), || panic!("not asked for: no copy of the state"));
        assert!(rx.try_recv().unwrap().unwrap().state.is_none());
    }

    #[test]
    fn another_entry_at_the_placed_index_overtakes() {
        let p = Proposals::with_incarnation(1, 1);
        let (a, mut rx_a) = p.register(Wants::Output);
        let (b, mut rx_b) = p.register(Wants::Output);
        p.placed(a, 5);
        p.applied(5, Some(ProposalId { node: 2, incarnation: 1, seq: 9 }), done(5, 3, Ok(vec![])), || None);
        assert_eq!(rx_a.try_recv().unwrap().err(), Some(ProposeError::Overtaken(5)));
        // Not placed: it waits (for its entry, or its deadline).
        assert!(rx_b.try_recv().is_err());
        p.applied(6, Some(b), done(6, 3, Ok(vec![])), || None);
        assert!(rx_b.try_recv().unwrap().is_ok());
    }

    /// A follower places its proposal at 5, falls behind, and catches up by a snapshot up
    /// to 9: the entry that committed at 5 is in the snapshot, unseen. The proposal was
    /// answered "overtaken, not applied" at the next entry applied, though it may well be
    /// the entry that committed.
    #[test]
    fn a_place_a_snapshot_covers_leaves_the_outcome_unknown() {
        let p = Proposals::with_incarnation(1, 1);
        let (covered, mut covered_rx) = p.register(Wants::Output);
        let (later, mut later_rx) = p.register(Wants::Output);
        p.placed(covered, 5);
        p.placed(later, 11);
        p.snapshot_installed(9);
        assert_eq!(covered_rx.try_recv().unwrap().err(), Some(ProposeError::CoveredBySnapshot(5)));
        p.applied(10, Some(ProposalId { node: 2, incarnation: 1, seq: 9 }), done(10, 3, Ok(vec![])), || None);
        assert!(later_rx.try_recv().is_err(), "placed after the snapshot: its entry decides");
        p.applied(11, Some(later), done(11, 3, Ok(vec![])), || None);
        assert!(later_rx.try_recv().unwrap().is_ok());
    }

    #[test]
    fn other_nodes_proposals_and_forgotten_ones_are_ignored() {
        let p = Proposals::with_incarnation(1, 1);
        let (id, rx) = p.register(Wants::Output);
        drop(rx);
        p.forget(id);
        p.applied(1, Some(id), done(1, 1, Ok(vec![])), || None);
        p.placed(ProposalId { node: 3, incarnation: 1, seq: 1 }, 2);
        assert_eq!(p.waiting(), 0);
    }

    /// An entry this node proposed before a restart commits and applies after it: its
    /// outcome must not answer the new process's proposal that drew the same sequence
    /// number (it did, when ids were (node, sequence)).
    #[test]
    fn an_entry_from_before_a_restart_answers_no_one() {
        let before = Proposals::new(1).unwrap();
        let (old, _gone) = before.register(Wants::Output);
        let after = Proposals::new(1).unwrap();
        let (new, mut rx) = after.register(Wants::Output);
        assert_eq!((old.node, old.seq), (new.node, new.seq), "the same node and sequence number");
        // The old entry reaches the log, commits and applies on the restarted node.
        let old = EntryContext::parse(&old.to_context()).unwrap().id;
        after.placed(old, 8);
        after.applied(8, Some(old), done(8, 2, Ok(b"the old command's output".to_vec())), || None);
        assert!(rx.try_recv().is_err(), "the new proposal waits for its own entry");
        after.placed(new, 9);
        after.applied(9, Some(new), done(9, 2, Ok(b"its own".to_vec())), || None);
        assert_eq!(rx.try_recv().unwrap().unwrap().result, Ok(b"its own".to_vec()));
    }

    #[test]
    fn entries_of_older_nodes_answer_no_one() {
        let p = Proposals::with_incarnation(1, 1);
        let (id, mut rx) = p.register(Wants::Output);
        let mut legacy = 1u64.to_be_bytes().to_vec();
        legacy.extend_from_slice(&id.seq.to_be_bytes());
        p.applied(3, EntryContext::parse(&legacy).map(|c| c.id), done(3, 1, Ok(vec![])), || None);
        assert!(rx.try_recv().is_err());
    }
}
