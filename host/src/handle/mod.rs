//! One handle on a running node for everything that reaches it from outside Raft's own
//! traffic: the client gRPC service, the HTTP gateway, housekeeping, and the member calls a
//! follower hands to the leader. Each door authenticates and translates; the handle
//! proposes, reads, upgrades and changes members, and answers with one error type.
//!
//! A proposal whose outcome is known to be "not applied" (no leader, overtaken by a new
//! leader's log) fails at once and says so; one whose outcome is unknown (the deadline
//! passed, the leader changed while it was in flight, a snapshot covered its place, the
//! node stopped) fails with [`NodeError::DeadlineExceeded`] and says that it may or may
//! not have applied.

pub mod admission;
mod backup;
pub mod members;
mod upgrade;

pub use upgrade::Upgraded;

use crate::entry::{EntryData, ProposalId, ProposedCommand, RequestId, now_ns};
use crate::inbox::{ApplyTask, Event, QueryAnswer};
use crate::metrics::Metrics;
use crate::proposals::{Applied, Proposals, ProposeError, Wants};
use crate::runtime::WasmEngine;
use crate::snapshot::SnapshotDir;
use crate::status::StatusBoard;
use crate::tls::Credentials;
use admission::Admission;
use crossbeam_channel::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use wasmraft_sdk::contract::{Caller, Payload};

/// Why the node did not carry out a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// Not done, and worth retrying shortly: no leader, shutting down, unreachable.
    #[error("{0}")]
    Unavailable(String),
    /// The deadline passed first, or a proposal's outcome cannot be known here: it may or
    /// may not have applied (gRPC's DEADLINE_EXCEEDED allows that a change completed).
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The node has as much work of this kind as it takes.
    #[error("{0}")]
    Busy(String),
    /// Refused in the cluster's present state; nothing was applied.
    #[error("{0}")]
    Refused(String),
    /// The call itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// Overtaken by a new leader's log: not applied.
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    Internal(String),
}

impl From<ProposeError> for NodeError {
    fn from(e: ProposeError) -> NodeError {
        let text = e.to_string();
        match e {
            ProposeError::NoLeader | ProposeError::NotLeader(_) => NodeError::Unavailable(text),
            // In flight when this node lost sight of it: it may have applied.
            ProposeError::LeaderChanged | ProposeError::ShuttingDown | ProposeError::CoveredBySnapshot(_) => {
                NodeError::DeadlineExceeded(text)
            }
            ProposeError::Refused(_) => NodeError::Refused(text),
            ProposeError::Overtaken(_) => NodeError::Aborted(text),
            ProposeError::Busy(_) => NodeError::Busy(text),
            ProposeError::Halted(_) => NodeError::Internal(text),
        }
    }
}

impl NodeError {
    fn shutting_down() -> NodeError {
        NodeError::Unavailable("the node is shutting down".into())
    }
}

/// Where a query reads.
#[derive(Debug, Clone, Copy)]
pub enum ReadPoint {
    /// Everything committed before the query arrived (a ReadIndex round with the leader).
    Linearizable,
    /// Everything committed before some instant at most `bound` ago: the read point of
    /// this node's latest ReadIndex round, if it was asked within `bound`, else a new round.
    Stale { bound: Duration },
}

/// A query's answer and the read point it was served at.
pub struct Answered {
    pub answer: QueryAnswer,
    /// How long before the answer its read point was (stale reads): every write
    /// acknowledged before then is in the state it read.
    pub staleness: Duration,
    /// The read index the stale read rests on (0 for linearizable reads).
    pub known_commit: u64,
}

/// Commands larger than this are refused before they reach the log, from either door (a
/// module's `handle` can make a large command of a small request).
pub const MAX_COMMAND_BYTES: usize = 8 << 20;

/// The latest ReadIndex round this node completed: when it was asked, and the index it gave.
/// Every write acknowledged anywhere before that instant is at or below the index.
#[derive(Default)]
pub struct LastRound(std::sync::Mutex<Option<(Instant, u64)>>);

impl LastRound {
    fn get(&self) -> Option<(Instant, u64)> {
        *self.0.lock().expect("last round lock")
    }

    /// Keeps the round asked latest.
    fn record(&self, asked: Instant, index: u64) {
        let mut last = self.0.lock().expect("last round lock");
        if last.is_none_or(|(at, _)| at < asked) {
            *last = Some((asked, index));
        }
    }
}

/// How one ReadIndex round may take before the read asks again.
const READ_INDEX_RETRY: Duration = Duration::from_millis(500);

pub struct NodeHandle {
    pub id: u64,
    pub cluster_id: u64,
    pub events: Sender<Event>,
    pub apply: Sender<ApplyTask>,
    pub proposals: Arc<Proposals>,
    pub status: Arc<StatusBoard>,
    /// The deadline of a call that sets none.
    pub deadline: Duration,
    /// Compiles modules offered for upgrade (and keeps them compiled for the switch).
    pub engine: Arc<WasmEngine>,
    /// The peer door's credentials, for calls to other members (none: in the clear).
    pub tls: Option<Arc<Credentials>>,
    /// Bounds what callers hold of the node at once.
    pub admission: Admission,
    /// Where backups are written on their way to a client.
    pub snapshots: Arc<SnapshotDir>,
    /// How long the cluster remembers the outcome of a command proposed here with a
    /// request id (carried in the entry: see [`crate::runtime::requests`]).
    pub request_window: Duration,
    pub metrics: Arc<Metrics>,
    /// What bounded-staleness reads rest on.
    pub last_round: LastRound,
}

/// A proposal waiting for its outcome, counted while it waits (a caller that goes away
/// drops it too).
struct Pending<'a>(&'a Metrics);

impl<'a> Pending<'a> {
    fn new(metrics: &'a Metrics) -> Self {
        metrics.proposals_pending.inc();
        Pending(metrics)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.proposals_pending.dec();
    }
}

fn entropy() -> Result<[u8; 32], NodeError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| NodeError::Internal(format!("no entropy from the OS: {e}")))?;
    Ok(bytes)
}

async fn within<T>(deadline: Duration, rx: oneshot::Receiver<T>, what: &str) -> Result<T, NodeError> {
    match tokio::time::timeout(deadline, rx).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(NodeError::shutting_down()),
        Err(_) => Err(NodeError::DeadlineExceeded(format!("no answer within {deadline:?}: {what}"))),
    }
}

impl NodeHandle {
    /// Proposes `data` and waits for its outcome on this node until `deadline`.
    async fn propose_entry(&self, data: Vec<u8>, wants: Wants, deadline: Duration) -> Result<Applied, NodeError> {
        Ok(self.propose_with(wants, |id| Event::Propose { id, data }, deadline).await??)
    }

    /// Sends the proposal `event` makes and waits for its outcome on this node until
    /// `deadline` (the outer error: the deadline passed, or the node is stopping).
    async fn propose_with(
        &self,
        wants: Wants,
        event: impl FnOnce(ProposalId) -> Event,
        deadline: Duration,
    ) -> Result<Result<Applied, ProposeError>, NodeError> {
        let (id, rx) = self.proposals.register(wants);
        let _pending = Pending::new(&self.metrics);
        if self.events.send(event(id)).is_err() {
            self.proposals.forget(id);
            return Err(NodeError::shutting_down());
        }
        let outcome = match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            // Sent, and the node stopped before it answered: it may have applied.
            Ok(Err(_)) => Ok(Err(ProposeError::ShuttingDown)),
            Err(_) => {
                self.proposals.forget(id);
                Err(NodeError::DeadlineExceeded(format!(
                    "no answer within {deadline:?}: the entry may or may not have been applied"
                )))
            }
        };
        if !matches!(outcome, Ok(Ok(_))) {
            self.metrics.proposals_failed.inc();
        }
        outcome
    }

    /// `applier` as an entry or query addresses it: none for the primary (the shorter
    /// entry), else its name; refused if no such applier is hosted.
    fn target(&self, applier: Option<&str>) -> Result<Option<String>, NodeError> {
        let Some(name) = applier else { return Ok(None) };
        let fronts = self.status.fronts();
        match fronts.iter().position(|f| f.name == name) {
            Some(0) => Ok(None),
            Some(_) => Ok(Some(name.to_string())),
            None if fronts.is_empty() => Err(NodeError::Unavailable("the node is starting".into())),
            None => {
                let names: Vec<&str> = fronts.iter().map(|f| f.name.as_str()).collect();
                Err(NodeError::Invalid(format!(
                    "this cluster hosts no applier `{name}` (it hosts {})",
                    names.join(", ")
                )))
            }
        }
    }

    /// Proposes a client's command to `applier` (none: the primary), stamped with this
    /// node's clock, fresh entropy and `caller`, and waits for its outcome here. With a
    /// `request` id, a retry of the same command gets the first outcome (`replayed`)
    /// rather than applying again, within this node's request window. `wants`: whether the
    /// outcome also brings the state the command applied to (to render an answer from).
    pub async fn propose_command(
        &self,
        applier: Option<&str>,
        payload: Payload,
        caller: Option<Caller>,
        request: Option<&str>,
        wants: Wants,
        deadline: Duration,
    ) -> Result<Applied, NodeError> {
        let target = self.target(applier)?;
        if let Some(id) = request {
            RequestId::check(id).map_err(NodeError::Invalid)?;
        }
        if payload.bytes.len() > MAX_COMMAND_BYTES {
            let size = payload.bytes.len();
            return Err(NodeError::Invalid(format!("the command is {size} bytes; the limit is {MAX_COMMAND_BYTES}")));
        }
        let _admitted = self.admission.admit(payload.bytes.len())?;
        let command = ProposedCommand { timestamp_ns: now_ns(), caller, entropy: entropy()?, payload };
        let data = match (request, target) {
            (Some(id), applier) => {
                let window_ns = u64::try_from(self.request_window.as_nanos()).unwrap_or(u64::MAX);
                EntryData::Once { applier, request: RequestId { id: id.to_string(), window_ns }, command }
            }
            (None, None) => EntryData::Command(command),
            (None, Some(applier)) => EntryData::CommandTo { applier, command },
        };
        self.propose_entry(data.encode(), wants, deadline).await
    }

    /// Runs `payload` as a linearizable query of `applier` on behalf of `caller`.
    pub async fn linearizable_query(
        &self,
        applier: Option<&str>,
        payload: Payload,
        caller: Option<Caller>,
        deadline: Duration,
    ) -> Result<QueryAnswer, NodeError> {
        Ok(self.query(applier, payload, caller, ReadPoint::Linearizable, deadline).await?.answer)
    }

    /// Runs `payload` as a query of `applier` (none: the primary) on behalf of `caller` at
    /// `point`, within `deadline`.
    pub async fn query(
        &self,
        applier: Option<&str>,
        payload: Payload,
        caller: Option<Caller>,
        point: ReadPoint,
        deadline: Duration,
    ) -> Result<Answered, NodeError> {
        let started = Instant::now();
        let applier = self.target(applier)?;
        let _admitted = self.admission.admit(payload.bytes.len())?;
        let until = started + deadline;
        let (min_applied, stale, known_commit) = match point {
            ReadPoint::Linearizable => (self.read_index(until).await?.1, None, 0),
            ReadPoint::Stale { bound } => {
                let (asked, index) = self.stale_read_point(bound, until).await?;
                (index, Some((asked, bound)), index)
            }
        };
        let (reply, rx) = oneshot::channel();
        self.apply
            .send(ApplyTask::Query { applier, payload, caller, min_applied, reply })
            .map_err(|_| NodeError::shutting_down())?;
        // A stale read is answered within its bound of its read point, or not at all.
        let answer_by = stale.map_or(until, |(asked, bound)| until.min(asked + bound));
        let answer = match tokio::time::timeout_at(answer_by.into(), rx).await {
            Ok(answer) => answer.map_err(|_| NodeError::shutting_down())??,
            Err(_) => match stale {
                Some((_, bound)) if answer_by < until => {
                    return Err(NodeError::Refused(format!(
                        "this node did not apply up to its read point ({min_applied}) within the bound of {} ms",
                        bound.as_millis()
                    )));
                }
                _ => {
                    return Err(NodeError::DeadlineExceeded(format!(
                        "no answer within {deadline:?}: the node did not apply up to the read index in time"
                    )));
                }
            },
        };
        let staleness = stale.map_or(Duration::ZERO, |(asked, _)| asked.elapsed());
        Ok(Answered { answer, staleness, known_commit })
    }

    /// A read index from Raft and when it was asked, asking again while rounds go
    /// unanswered (raft-rs drops a ReadIndex silently when there is no leader, or a new one
    /// has not committed yet).
    async fn read_index(&self, until: Instant) -> Result<(Instant, u64), NodeError> {
        loop {
            let remaining = until.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(NodeError::DeadlineExceeded(
                    "no read index before the deadline: this node cannot reach a leader with a quorum".into(),
                ));
            }
            let (reply, rx) = oneshot::channel();
            let asked = Instant::now();
            self.events.send(Event::ReadIndex { reply }).map_err(|_| NodeError::shutting_down())?;
            if let Ok(Ok(index)) = tokio::time::timeout(remaining.min(READ_INDEX_RETRY), rx).await {
                self.last_round.record(asked, index);
                return Ok((asked, index));
            }
        }
    }

    /// The read point of a stale read bounded by `bound`: when its ReadIndex round was
    /// asked, and the index it gave. The latest round, if it was asked within `bound` (one
    /// round serves every stale read for that long), else a new one, which must complete
    /// within `bound`: its state would be older than that. Refused if none does.
    async fn stale_read_point(&self, bound: Duration, until: Instant) -> Result<(Instant, u64), NodeError> {
        if let Some((asked, index)) = self.last_round.get()
            && asked.elapsed() <= bound
        {
            return Ok((asked, index));
        }
        let limit = Instant::now() + bound;
        match self.read_index(until.min(limit)).await {
            Err(NodeError::DeadlineExceeded(_)) if limit <= until => Err(NodeError::Refused(format!(
                "no read index within the bound of {} ms (a bound must exceed a ReadIndex round trip): this node \
                 cannot reach a leader with a quorum in time, so its state may be older than the bound",
                bound.as_millis()
            ))),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A proposal that may have applied must not be answered "not done, retry"
    /// (UNAVAILABLE, HTTP 503): a client that retries a create then meets its own write.
    #[test]
    fn a_proposal_that_may_have_applied_is_never_answered_not_done() {
        let unknown = [ProposeError::LeaderChanged, ProposeError::ShuttingDown, ProposeError::CoveredBySnapshot(5)];
        for e in unknown {
            assert!(matches!(NodeError::from(e.clone()), NodeError::DeadlineExceeded(_)), "{e:?}");
        }
        for e in [ProposeError::NoLeader, ProposeError::NotLeader(2)] {
            assert!(matches!(NodeError::from(e.clone()), NodeError::Unavailable(_)), "{e:?}");
        }
        assert!(matches!(NodeError::from(ProposeError::Overtaken(3)), NodeError::Aborted(_)));
    }
}
