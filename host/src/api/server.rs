//! The client API: `Propose`, `Query`, `Status`, `Upgrade` on any node (membership calls:
//! [`super::members`]).
//!
//! Every call has a deadline: the client's `grpc-timeout`, else [`ClientService::deadline`],
//! at most [`MAX_DEADLINE`]. A proposal whose outcome is known to be "not applied" (no
//! leader, overtaken by a new leader's log) fails at once with a code that says so; one
//! whose outcome is unknown when the deadline passes fails with DEADLINE_EXCEEDED and says
//! that it may or may not have applied.

use super::authz::{Authorizer, Role};
use super::members_of;
use crate::entry::now_ns;
use crate::entry::{EntryData, ProposalId, ProposedCommand, ProposedUpgrade};
use crate::inbox::{ApplyTask, Event, QueryAnswer};
use crate::proposals::{Applied, Proposals, ProposeError};
use crate::proto::MAX_MESSAGE;
use crate::proto::client::client_server::{Client, ClientServer};
use crate::proto::client::{
    ApplierError as ProtoError, Consistency, Encoding as ProtoEncoding, MemberChange, MemberChangeResponse, Module,
    ProposeRequest, ProposeResponse, QueryRequest, QueryResponse, StatusRequest, StatusResponse, TransferLeaderRequest,
    TransferLeaderResponse, UpgradeRecord as ProtoUpgrade, UpgradeRequest, UpgradeResponse, propose_response,
    query_response,
};
use crate::runtime::{ModuleRecord, WasmEngine, upgrade_check};
use crate::status::StatusBoard;
use crate::tls::Credentials;
use crate::transport;
use crossbeam_channel::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};
use wasmraft_sdk::contract::{ApplierError, Caller, Encoding, Payload};

pub const MAX_DEADLINE: Duration = Duration::from_secs(120);
/// Commands larger than this are refused before they reach the log.
pub const MAX_COMMAND_BYTES: usize = 8 << 20;
/// Modules larger than this cannot be rolled out (the entry must fit a gRPC message).
pub const MAX_UPGRADE_BYTES: usize = 32 << 20;

pub struct ClientService {
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
    /// Who may call what.
    pub authz: Authorizer,
    /// The peer door's credentials, for calls to other members (none: in the clear).
    pub tls: Option<Arc<Credentials>>,
}

impl ClientService {
    pub fn into_server(self: Arc<Self>) -> ClientServer<Self> {
        ClientServer::from_arc(self).max_decoding_message_size(MAX_MESSAGE)
    }

    /// The call's deadline: `grpc-timeout` (e.g. `500m`, `10S`), else the default.
    pub(crate) fn deadline(&self, metadata: &MetadataMap) -> Duration {
        let parsed = metadata.get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(|v| {
            let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
            let n: u64 = digits.parse().ok()?;
            Some(match unit {
                "H" => Duration::from_secs(n.saturating_mul(3600)),
                "M" => Duration::from_secs(n.saturating_mul(60)),
                "S" => Duration::from_secs(n),
                "m" => Duration::from_millis(n),
                "u" => Duration::from_micros(n),
                "n" => Duration::from_nanos(n),
                _ => return None,
            })
        });
        let deadline = parsed.unwrap_or(self.deadline).min(MAX_DEADLINE);
        // Answer a little before the caller gives up, so that it hears why.
        deadline.saturating_sub((deadline / 10).min(Duration::from_millis(200)))
    }
}

fn encoding(value: i32) -> Result<Encoding, Status> {
    match ProtoEncoding::try_from(value) {
        Ok(ProtoEncoding::Postcard) => Ok(Encoding::Postcard),
        Ok(ProtoEncoding::Json) => Ok(Encoding::Json),
        Err(_) => Err(Status::invalid_argument(format!("unknown encoding {value}"))),
    }
}

fn module_of(m: ModuleRecord) -> Module {
    Module { name: m.name, version: m.version, hash: m.hash, since_index: m.since_index }
}

fn to_proto(e: ApplierError) -> ProtoError {
    ProtoError { code: e.code, message: e.message, body: e.body }
}

pub(super) fn status_of(e: ProposeError) -> Status {
    let code = match e {
        ProposeError::NoLeader
        | ProposeError::ShuttingDown
        | ProposeError::NotLeader(_)
        | ProposeError::LeaderChanged => Code::Unavailable,
        ProposeError::Refused(_) => Code::FailedPrecondition,
        ProposeError::Overtaken(_) => Code::Aborted,
        ProposeError::Busy(_) => Code::ResourceExhausted,
        ProposeError::Halted(_) => Code::Internal,
    };
    Status::new(code, e.to_string())
}

fn entropy() -> Result<[u8; 32], Status> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Status::internal(format!("no entropy from the OS: {e}")))?;
    Ok(bytes)
}

impl ClientService {
    /// Proposes `data` and waits for its outcome on this node until `deadline`.
    async fn propose_entry(&self, data: Vec<u8>, deadline: Duration) -> Result<Applied, Status> {
        self.propose_with(|id| Event::Propose { id, data }, deadline).await?.map_err(status_of)
    }

    /// Sends the proposal `event` makes and waits for its outcome on this node until
    /// `deadline` (the outer error: the deadline passed, or the node is stopping).
    pub(super) async fn propose_with(
        &self,
        event: impl FnOnce(ProposalId) -> Event,
        deadline: Duration,
    ) -> Result<Result<Applied, ProposeError>, Status> {
        let (id, rx) = self.proposals.register();
        if self.events.send(event(id)).is_err() {
            self.proposals.forget(id);
            return Err(Status::unavailable("the node is shutting down"));
        }
        within(deadline, rx, "the entry may or may not have been applied").await.inspect_err(|_| {
            self.proposals.forget(id);
        })
    }

    /// Has every other member compile `module` before it is proposed, so that no node's
    /// applies wait for a compile at the switch. Best effort: a member that is away or slow
    /// compiles when it reaches the entry.
    async fn prepare_peers(&self, module: &[u8], within: Duration) {
        let mut calls = tokio::task::JoinSet::new();
        let addresses = self.status.setup().members.addresses;
        for (&peer, address) in addresses.iter().filter(|(id, _)| **id != self.id) {
            let (me, address, module, tls) =
                ((self.id, self.cluster_id), address.clone(), module.to_vec(), self.tls.clone());
            calls.spawn(async move {
                let prepare = transport::prepare_module(tls.as_deref(), me, (peer, &address), module);
                match tokio::time::timeout(within, prepare).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(peer, "a member did not prepare the module: {e}"),
                    Err(_) => tracing::warn!(peer, "a member did not prepare the module within {within:?}"),
                }
            });
        }
        calls.join_all().await;
    }

    /// Proposes a client's command, stamped with this node's clock, fresh entropy and
    /// `caller`, and waits for its outcome here.
    pub(crate) async fn propose_command(
        &self,
        payload: Payload,
        caller: Option<Caller>,
        deadline: Duration,
    ) -> Result<Applied, Status> {
        let command = ProposedCommand { timestamp_ns: now_ns(), caller, entropy: entropy()?, payload };
        self.propose_entry(EntryData::Command(command).encode(), deadline).await
    }

    /// Runs `payload` as a linearizable query on behalf of `caller`.
    pub(crate) async fn linearizable_query(
        &self,
        payload: Payload,
        caller: Option<Caller>,
        deadline: Duration,
    ) -> Result<QueryAnswer, Status> {
        let started = Instant::now();
        let min_applied = self.read_index(started + deadline).await?;
        self.query_at(payload, caller, min_applied, deadline.saturating_sub(started.elapsed())).await
    }

    /// Runs `payload` once this node has applied `min_applied`, within `remaining`.
    async fn query_at(
        &self,
        payload: Payload,
        caller: Option<Caller>,
        min_applied: u64,
        remaining: Duration,
    ) -> Result<QueryAnswer, Status> {
        let (reply, rx) = oneshot::channel();
        self.apply
            .send(ApplyTask::Query { payload, caller, min_applied, reply })
            .map_err(|_| Status::unavailable("shutting down"))?;
        within(remaining, rx, "the node did not apply up to the read index in time").await?.map_err(status_of)
    }

    /// A read index from Raft, asking again while rounds go unanswered (raft-rs drops a
    /// ReadIndex silently when there is no leader, or a new one has not committed yet).
    async fn read_index(&self, until: Instant) -> Result<u64, Status> {
        loop {
            let remaining = until.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Status::deadline_exceeded(
                    "no read index before the deadline: this node cannot reach a leader with a quorum",
                ));
            }
            let (reply, rx) = oneshot::channel();
            self.events.send(Event::ReadIndex { reply }).map_err(|_| Status::unavailable("shutting down"))?;
            if let Ok(Ok(index)) = tokio::time::timeout(remaining.min(READ_INDEX_RETRY), rx).await {
                return Ok(index);
            }
        }
    }
}

/// How long one ReadIndex round may take before the read asks again.
const READ_INDEX_RETRY: Duration = Duration::from_millis(500);

async fn within<T>(deadline: Duration, rx: oneshot::Receiver<T>, what: &str) -> Result<T, Status> {
    match tokio::time::timeout(deadline, rx).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(Status::unavailable("the node is shutting down")),
        Err(_) => Err(Status::deadline_exceeded(format!("no answer within {deadline:?}: {what}"))),
    }
}

#[tonic::async_trait]
impl Client for ClientService {
    async fn propose(&self, request: Request<ProposeRequest>) -> Result<Response<ProposeResponse>, Status> {
        // The module sees who proposed: its own checks hold on this path into the log too.
        let caller = self.authz.authorize(&request, Role::Write)?;
        let deadline = self.deadline(request.metadata());
        let request = request.into_inner();
        let encoding = encoding(request.encoding)?;
        if request.command.len() > MAX_COMMAND_BYTES {
            return Err(Status::invalid_argument(format!(
                "the command is {} bytes; the limit is {MAX_COMMAND_BYTES}",
                request.command.len()
            )));
        }
        let applied = self.propose_command(Payload { encoding, bytes: request.command }, caller, deadline).await?;
        let outcome = match applied.result {
            Ok(output) => propose_response::Outcome::Output(output),
            Err(e) => propose_response::Outcome::Error(to_proto(e)),
        };
        Ok(Response::new(ProposeResponse { index: applied.index, term: applied.term, outcome: Some(outcome) }))
    }

    async fn query(&self, request: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        let caller = self.authz.authorize(&request, Role::Read)?;
        let started = Instant::now();
        let deadline = self.deadline(request.metadata());
        let request = request.into_inner();
        let payload = Payload { encoding: encoding(request.encoding)?, bytes: request.query };
        let (min_applied, staleness, known_commit) = match Consistency::try_from(request.consistency) {
            Ok(Consistency::Linearizable) => (self.read_index(started + deadline).await?, Duration::ZERO, 0),
            Ok(Consistency::Stale) => {
                let bound = Duration::from_millis(request.max_staleness_ms);
                let c = self.status.consensus();
                let contact = c.leader_contact.ok_or_else(|| {
                    Status::failed_precondition("no leader is known: this node cannot bound the staleness of its state")
                })?;
                if contact > bound {
                    return Err(Status::failed_precondition(format!(
                        "this node last heard from the leader {} ms ago, beyond the bound of {} ms",
                        contact.as_millis(),
                        bound.as_millis()
                    )));
                }
                // Serve what the node has applied, but not less than it had when it last
                // knew the leader's commit index; else the bound would not hold.
                (c.commit_index, contact, c.commit_index)
            }
            Err(_) => return Err(Status::invalid_argument(format!("unknown consistency {}", request.consistency))),
        };
        let answer = self.query_at(payload, caller, min_applied, deadline.saturating_sub(started.elapsed())).await?;
        let outcome = match answer.result {
            Ok(output) => query_response::Outcome::Output(output),
            Err(e) => query_response::Outcome::Error(to_proto(e)),
        };
        Ok(Response::new(QueryResponse {
            applied_index: answer.applied_index,
            outcome: Some(outcome),
            staleness_ms: staleness.as_millis() as u64,
            known_commit_index: known_commit,
        }))
    }

    async fn status(&self, request: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        self.authz.authorize(&request, Role::Read)?;
        let c = self.status.consensus();
        let (a, setup) = (self.status.applied(), self.status.setup());
        let members = members_of(&c, &setup.members.addresses);
        let upgrades = setup
            .upgrades
            .into_iter()
            .map(|u| ProtoUpgrade {
                index: u.index,
                name: u.name,
                version: u.version,
                hash: u.hash,
                refused: u.refused.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(StatusResponse {
            id: self.id,
            role: c.role.to_string(),
            term: c.term,
            leader: c.leader,
            commit_index: c.commit_index,
            applied_index: a.index,
            members,
            module: Some(module_of(setup.module)),
            state_hash: a.state_hash,
            upgrades,
            snapshot_index: c.snapshot_index,
            first_log_index: c.first_index,
            last_log_index: c.last_index,
            cluster_id: format!("{:016x}", self.cluster_id),
        }))
    }

    async fn upgrade(&self, request: Request<UpgradeRequest>) -> Result<Response<UpgradeResponse>, Status> {
        let caller = self.authz.authorize(&request, Role::Admin)?;
        let deadline = self.deadline(request.metadata());
        let request = request.into_inner();
        if request.module.len() > MAX_UPGRADE_BYTES {
            return Err(Status::invalid_argument(format!(
                "the module is {} bytes; the limit is {MAX_UPGRADE_BYTES}",
                request.module.len()
            )));
        }
        // Every check that can fail is made here, before anything reaches the log.
        let engine = self.engine.clone();
        let bytes = request.module;
        let (next, bytes) = tokio::task::spawn_blocking(move || (engine.load(&bytes), bytes))
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let next = next.map_err(|e| Status::invalid_argument(format!("the module is refused: {e}")))?;
        let active = self.status.setup().module;
        upgrade_check(&active, &next.descriptor(), request.allow_downgrade)
            .map_err(|e| Status::failed_precondition(format!("the module is refused: {}", e.message)))?;
        self.prepare_peers(&bytes, deadline / 2).await;
        let upgrade = ProposedUpgrade {
            timestamp_ns: now_ns(),
            caller,
            entropy: entropy()?,
            module: bytes,
            allow_downgrade: request.allow_downgrade,
        };
        let applied = self.propose_entry(EntryData::Upgrade(upgrade).encode(), deadline).await?;
        if let Err(e) = applied.result {
            return Err(Status::failed_precondition(format!(
                "the cluster applied the upgrade entry at {} and kept its module: {}",
                applied.index, e.message
            )));
        }
        let module = ModuleRecord {
            name: next.info.name.clone(),
            version: next.info.version.clone(),
            hash: next.hash.to_string(),
            since_index: applied.index,
        };
        Ok(Response::new(UpgradeResponse { index: applied.index, term: applied.term, module: Some(module_of(module)) }))
    }

    async fn change_members(&self, request: Request<MemberChange>) -> Result<Response<MemberChangeResponse>, Status> {
        self.authz.authorize(&request, Role::Admin)?;
        let deadline = self.deadline(request.metadata());
        self.change_members_call(request.into_inner(), deadline, false).await.map(Response::new)
    }

    async fn transfer_leader(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderResponse>, Status> {
        self.authz.authorize(&request, Role::Admin)?;
        let deadline = self.deadline(request.metadata());
        self.transfer_leader_call(request.into_inner(), deadline, false).await.map(Response::new)
    }
}
