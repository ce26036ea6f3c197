//! The client API over gRPC: `Propose`, `Query`, `Status`, `Upgrade`, `ChangeMembers`,
//! `TransferLeader` on any node. Each call is authorized at the door ([`super::gate`]), translated, and
//! carried out by the node's [`NodeHandle`].
//!
//! Every call has a deadline: the client's `grpc-timeout`, else the node's default, at most
//! [`crate::proto::MAX_DEADLINE`].

use super::authz::Authorizer;
use super::gate::{Gate, MAX_RECEIVING, caller_of};
use crate::handle::members::members_of;
use crate::handle::{Answered, NodeHandle, ReadPoint};
use crate::proposals::Wants;
use crate::proto::client::client_server::{Client, ClientServer};
use crate::proto::client::{
    ApplierError as ProtoError, BackupChunk, BackupRequest, Consistency, Encoding as ProtoEncoding, HostedApplier,
    MemberChange, MemberChangeResponse, Module, ProposeRequest, ProposeResponse, QueryRequest, QueryResponse,
    SnapshotTransfer, StatusRequest, StatusResponse, TransferLeaderRequest, TransferLeaderResponse,
    UpgradeRecord as ProtoUpgrade, UpgradeRequest, UpgradeResponse, propose_response, query_response,
};
use crate::proto::{MAX_MESSAGE, deadline, status_of};
use crate::runtime::{ModuleRecord, UpgradeRecord};
use crate::status::Transfer;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use wasmraft_sdk::contract::{ApplierError, Encoding, Payload};

pub struct ClientService {
    pub node: Arc<NodeHandle>,
}

impl ClientService {
    /// The service behind its gate, which lets in only the callers `authz` allows.
    pub fn into_server(self, authz: Authorizer) -> Gate<ClientServer<Self>> {
        Gate::new(ClientServer::new(self).max_decoding_message_size(MAX_MESSAGE), authz, MAX_RECEIVING)
    }
}

fn encoding(value: i32) -> Result<Encoding, Status> {
    match ProtoEncoding::try_from(value) {
        Ok(ProtoEncoding::Postcard) => Ok(Encoding::Postcard),
        Ok(ProtoEncoding::Json) => Ok(Encoding::Json),
        Err(_) => Err(Status::invalid_argument(format!("unknown encoding {value}"))),
    }
}

/// An optional string field (an `applier` names the primary, a `request_id` none, when empty).
fn named(field: &str) -> Option<&str> {
    (!field.is_empty()).then_some(field)
}

fn module_of(m: ModuleRecord) -> Module {
    Module { name: m.name, version: m.version, hash: m.hash, since_index: m.since_index }
}

fn transfer_of(t: Transfer) -> SnapshotTransfer {
    let (state, elapsed) = match t.finished {
        None => ("running".to_string(), t.started.elapsed()),
        Some((Ok(()), took)) => ("done".to_string(), took),
        Some((Err(why), took)) => (format!("failed: {why}"), took),
    };
    SnapshotTransfer {
        peer: t.peer,
        direction: if t.sending { "send" } else { "receive" }.into(),
        index: t.index,
        term: t.term,
        bytes: t.bytes,
        total_bytes: t.total,
        elapsed_ms: elapsed.as_millis() as u64,
        state,
    }
}

fn to_proto(e: ApplierError) -> ProtoError {
    ProtoError { code: e.code, message: e.message, body: e.body }
}

#[tonic::async_trait]
impl Client for ClientService {
    async fn propose(&self, request: Request<ProposeRequest>) -> Result<Response<ProposeResponse>, Status> {
        // The module sees who proposed: its own checks hold on this path into the log too.
        let caller = caller_of(&request)?;
        let deadline = deadline(request.metadata(), self.node.deadline);
        let request = request.into_inner();
        let encoding = encoding(request.encoding)?;
        let payload = Payload { encoding, bytes: request.command };
        let applier = named(&request.applier);
        let request_id = named(&request.request_id);
        let applied = self
            .node
            .propose_command(applier, payload, caller, request_id, Wants::Output, deadline)
            .await
            .map_err(status_of)?;
        let outcome = match applied.result {
            Ok(output) => propose_response::Outcome::Output(output),
            Err(e) => propose_response::Outcome::Error(to_proto(e)),
        };
        Ok(Response::new(ProposeResponse {
            index: applied.index,
            term: applied.term,
            outcome: Some(outcome),
            replayed: applied.replayed,
        }))
    }

    async fn query(&self, request: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        let caller = caller_of(&request)?;
        let deadline = deadline(request.metadata(), self.node.deadline);
        let request = request.into_inner();
        let payload = Payload { encoding: encoding(request.encoding)?, bytes: request.query };
        let point = match Consistency::try_from(request.consistency) {
            Ok(Consistency::Linearizable) => ReadPoint::Linearizable,
            Ok(Consistency::Stale) => ReadPoint::Stale { bound: Duration::from_millis(request.max_staleness_ms) },
            Err(_) => return Err(Status::invalid_argument(format!("unknown consistency {}", request.consistency))),
        };
        let Answered { answer, staleness, known_commit } =
            self.node.query(named(&request.applier), payload, caller, point, deadline).await.map_err(status_of)?;
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
        caller_of(&request)?;
        let status = &self.node.status;
        let c = status.consensus();
        let (a, setup) = (status.applied(), status.setup());
        let members = members_of(&c, &setup.members.addresses);
        let upgrade_of = |u: UpgradeRecord| ProtoUpgrade {
            index: u.index,
            name: u.name,
            version: u.version,
            hash: u.hash,
            refused: u.refused.unwrap_or_default(),
        };
        let mut upgrades: Vec<ProtoUpgrade> =
            setup.appliers.iter().flat_map(|a| a.upgrades.iter().cloned().map(upgrade_of)).collect();
        upgrades.sort_by_key(|u| u.index);
        let appliers: Vec<HostedApplier> = setup
            .appliers
            .into_iter()
            .zip(a.applier_hashes.iter().cloned().chain(std::iter::repeat(String::new())))
            .map(|(hosted, state_hash)| HostedApplier {
                module: Some(module_of(hosted.module)),
                routes: hosted.routes,
                state_hash,
                upgrades: hosted.upgrades.into_iter().map(upgrade_of).collect(),
            })
            .collect();
        Ok(Response::new(StatusResponse {
            id: self.node.id,
            role: c.role.to_string(),
            term: c.term,
            leader: c.leader,
            commit_index: c.commit_index,
            applied_index: a.index,
            members,
            module: appliers.first().and_then(|a| a.module.clone()),
            state_hash: a.state_hash,
            upgrades,
            appliers,
            snapshot_index: c.snapshot_index,
            first_log_index: c.first_index,
            last_log_index: c.last_index,
            cluster_id: format!("{:016x}", self.node.cluster_id),
            snapshot_transfers: status.transfers().into_iter().map(transfer_of).collect(),
        }))
    }

    async fn upgrade(&self, request: Request<UpgradeRequest>) -> Result<Response<UpgradeResponse>, Status> {
        let caller = caller_of(&request)?;
        let deadline = deadline(request.metadata(), self.node.deadline);
        let request = request.into_inner();
        let upgraded = self
            .node
            .upgrade(named(&request.applier), request.module, request.allow_downgrade, caller, deadline)
            .await
            .map_err(status_of)?;
        Ok(Response::new(UpgradeResponse {
            index: upgraded.applied.index,
            term: upgraded.applied.term,
            module: Some(module_of(upgraded.module)),
            previous: Some(module_of(upgraded.previous)),
            compiled_on: upgraded.compiled_on,
        }))
    }

    async fn change_members(&self, request: Request<MemberChange>) -> Result<Response<MemberChangeResponse>, Status> {
        caller_of(&request)?;
        let deadline = deadline(request.metadata(), self.node.deadline);
        self.node.change_members(request.into_inner(), deadline, false).await.map(Response::new).map_err(status_of)
    }

    async fn transfer_leader(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderResponse>, Status> {
        caller_of(&request)?;
        let deadline = deadline(request.metadata(), self.node.deadline);
        self.node.transfer_leader(request.into_inner(), deadline, false).await.map(Response::new).map_err(status_of)
    }

    type BackupStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<BackupChunk, Status>> + Send>>;

    async fn backup(&self, request: Request<BackupRequest>) -> Result<Response<Self::BackupStream>, Status> {
        caller_of(&request)?;
        let deadline = deadline(request.metadata(), self.node.deadline);
        let (file, meta) = self.node.backup(deadline).await.map_err(status_of)?;
        let total_bytes = file.metadata().map_err(|e| Status::internal(format!("the backup file: {e}")))?.len();
        tracing::info!(index = meta.index, term = meta.term, bytes = total_bytes, "sending a backup");
        let (chunks, stream) = tokio::sync::mpsc::channel(4);
        // How the stream ends when the sender gives up: after what the reader had not yet
        // taken, an error, so that no client mistakes a cut backup for a whole one.
        let (ending, end) = tokio::sync::mpsc::channel(1);
        // A task, not a thread: a slow reader holds a file and a buffer, no thread, and one
        // that stops reading is dropped after BACKUP_STALL (the file goes with the task).
        tokio::spawn(async move {
            let mut file = tokio::fs::File::from_std(file);
            let mut first = Some((total_bytes, meta.index, meta.term));
            loop {
                let mut data = vec![0u8; BACKUP_CHUNK];
                let chunk = match tokio::io::AsyncReadExt::read(&mut file, &mut data).await {
                    Ok(0) if first.is_none() => return,
                    Ok(n) => {
                        data.truncate(n);
                        let (total_bytes, index, term) = first.take().unwrap_or_default();
                        Ok(BackupChunk { data, total_bytes, index, term })
                    }
                    Err(e) => Err(Status::internal(format!("reading the backup: {e}"))),
                };
                let failed = chunk.is_err();
                match tokio::time::timeout(BACKUP_STALL, chunks.send(chunk)).await {
                    Ok(Ok(())) if !failed => {}
                    Err(_) => {
                        tracing::warn!("a backup's reader took nothing for {BACKUP_STALL:?}: stopped sending it");
                        let why = format!("the backup's reader took nothing for {BACKUP_STALL:?}: the backup was cut");
                        let _ = ending.try_send(Err(Status::deadline_exceeded(why)));
                        return;
                    }
                    _ => return,
                }
            }
        });
        let stream = tokio_stream::StreamExt::chain(ReceiverStream::new(stream), ReceiverStream::new(end));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// How much of a backup one message carries.
const BACKUP_CHUNK: usize = 1 << 20;

/// How long a backup waits for its reader to take a chunk before it gives up on it.
const BACKUP_STALL: Duration = Duration::from_secs(60);
