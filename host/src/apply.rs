//! The apply thread: applies committed entries through the runtime in log order, answers the
//! proposals waiting on this node, hands the queries whose read point is applied to the
//! read threads, installs snapshots received from the leader, and asks for a snapshot of
//! its own when its [`Schedule`] says.

use crate::entry::now_ns;
use crate::entry::{EntryContext, EntryData, entry_time};
use crate::inbox::{ApplyTask, Event, QueryAnswer};
use crate::membership::{MemberBook, MembershipOutput};
use crate::metrics::Metrics;
use crate::proposals::{Applied, Proposals, ProposeError};
use crate::runtime::{ApplierView, Checkpoint, HostError, Once, Reader, Runtime, WasmBackend, WasmEngine};
use crate::snapshot::writer::{Schedule, state_share};
use crate::snapshot::{self, SnapshotDir};
use crate::status::{self, StatusBoard};
use crossbeam_channel::{Receiver, Sender};
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeSingle, ConfChangeV2, ConfState, Entry, EntryType, SnapshotMetadata};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmraft_sdk::contract::{ApplierError, Caller, Meta, Payload};

type QueryReply = tokio::sync::oneshot::Sender<Result<QueryAnswer, ProposeError>>;

/// A checkpoint on its way to becoming a snapshot file.
pub struct SnapshotJob {
    pub checkpoint: Checkpoint,
    pub conf_state: ConfState,
    pub members: MemberBook,
    pub modules: Vec<Arc<Vec<u8>>>,
}

pub struct Applier {
    pub runtime: Runtime,
    pub engine: Arc<WasmEngine>,
    /// Each hosted applier's active module, in hosting order: every snapshot carries them.
    pub modules: Vec<Arc<Vec<u8>>>,
    /// Membership as of the applied index.
    pub conf_state: ConfState,
    pub members: MemberBook,
    /// Where `members.json` is kept.
    pub data_dir: PathBuf,
    pub proposals: Arc<Proposals>,
    pub events: Sender<Event>,
    pub snapshots: Arc<SnapshotDir>,
    pub writer: Sender<SnapshotJob>,
    pub status: Arc<StatusBoard>,
    pub schedule: Schedule,
    pub metrics: Arc<Metrics>,
    /// The module, the upgrade history or the members changed since the last publish (true
    /// to begin with, so that the first publish has them).
    pub setup_changed: bool,
}

/// How often a node-local failure to apply (an instance that cannot be created, a call on
/// a fresh one that this machine failed) is retried before the node gives up and exits: an
/// entry's outcome must never depend on it. One that no retry here can repeat exactly
/// ([`HostError::Unrepeatable`]) halts at once.
const HOST_RETRIES: u32 = 10;

/// Threads that answer queries, each on the state as of the moment it became readable (an
/// O(1) copy), so that queries neither wait for the entries applying after them nor hold
/// them up.
const READ_THREADS: usize = 2;

type ReadJob = (Arc<Reader>, Payload, Option<Caller>, QueryReply);
/// A query waiting for its read point: (min applied, applier, payload, caller, reply).
type Waiting = (u64, Option<String>, Payload, Option<Caller>, QueryReply);

fn start_readers() -> Sender<ReadJob> {
    let (jobs, queue) = crossbeam_channel::unbounded::<ReadJob>();
    for n in 0..READ_THREADS {
        let queue = queue.clone();
        let spawned = std::thread::Builder::new().name(format!("reads-{n}")).spawn(move || {
            for (reader, payload, caller, reply) in queue {
                if !reply.is_closed() {
                    let _ = reply.send(answer(&reader, payload, caller));
                }
            }
        });
        if let Err(e) = spawned {
            // The apply thread answers nothing then; without reads the node is no use.
            panic!("cannot start a read thread: {e}");
        }
    }
    jobs
}

fn answer(reader: &Reader, payload: Payload, caller: Option<Caller>) -> Result<QueryAnswer, ProposeError> {
    match reader.query(caller, now_ns(), payload) {
        Ok(result) => Ok(QueryAnswer { applied_index: reader.applied().index, result, state: reader.state() }),
        Err(busy @ HostError::Busy { .. }) => Err(ProposeError::Busy(busy.to_string())),
        Err(e) => Err(ProposeError::Halted(e.to_string())),
    }
}

/// Stops the node: applying cannot continue here, and guessing an outcome would diverge.
fn halt(proposals: &Proposals, why: &str) -> ! {
    tracing::error!("halting: {why}");
    proposals.fail_all(ProposeError::Halted(why.to_string()));
    std::process::exit(70);
}

impl Applier {
    pub fn run(mut self, tasks: Receiver<ApplyTask>) {
        self.status.set_fronts(self.runtime.fronts());
        self.publish();
        let readers = start_readers();
        // Queries waiting for the applied index to reach their read index.
        let mut waiting: Vec<Waiting> = Vec::new();
        while let Ok(task) = tasks.recv() {
            match task {
                ApplyTask::Entries(entries) => {
                    for entry in entries {
                        let started = Instant::now();
                        self.schedule.applied(entry.data.len());
                        self.apply_with_retries(entry);
                        self.metrics.proposals_applied.inc();
                        if let Some((applier, outcome, fuel)) = self.runtime.take_last_call() {
                            self.metrics.applied_command(applier, outcome, started.elapsed(), fuel);
                        }
                        // Entry by entry: a checkpoint captured before this entry must leave
                        // with the module and membership of its own index, which a later
                        // entry of the batch (an upgrade, a conf change) may change.
                        self.send_checkpoint();
                    }
                    let applied = self.runtime.applied().index;
                    let _ = self.events.send(Event::Applied(applied));
                    if self.schedule.due(applied) {
                        self.runtime.request_checkpoint();
                        self.send_checkpoint();
                    }
                }
                ApplyTask::InstallSnapshot(meta) => {
                    self.install(&meta);
                    let _ = self.events.send(Event::Applied(meta.index));
                }
                ApplyTask::Backup { reply } => {
                    let _ = reply.send(self.snapshot_job(self.runtime.backup()));
                }
                ApplyTask::Query { applier, payload, caller, min_applied, reply } => {
                    waiting.push((min_applied, applier, payload, caller, reply))
                }
            }
            let applied = self.runtime.applied().index;
            // One view of each applier's state for all the queries it can answer now.
            let mut views: Vec<(Option<String>, Arc<Reader>)> = Vec::new();
            for (_, applier, payload, caller, reply) in waiting.extract_if(.., |(min, ..)| *min <= applied) {
                if reply.is_closed() {
                    continue;
                }
                let reader = match views.iter().find(|(name, _)| *name == applier) {
                    Some((_, reader)) => reader.clone(),
                    None => match self.runtime.reader_of(applier.as_deref()) {
                        Ok(reader) => {
                            let reader = Arc::new(reader);
                            views.push((applier, reader.clone()));
                            reader
                        }
                        Err(e) => {
                            let answer =
                                QueryAnswer { applied_index: applied, result: Err(e), state: Default::default() };
                            let _ = reply.send(Ok(answer));
                            continue;
                        }
                    },
                };
                let _ = readers.send((reader, payload, caller, reply));
            }
            waiting.retain(|(.., reply)| !reply.is_closed());
            self.publish();
        }
    }

    /// Hands a captured checkpoint to the snapshot writer, with what else a snapshot
    /// carries as of now. Only a normal entry captures one (just before it runs), so "now"
    /// is the checkpoint's index as far as the module and the membership go.
    fn send_checkpoint(&mut self) {
        if let Some(checkpoint) = self.runtime.take_checkpoint() {
            let _ = self.writer.send(self.snapshot_job(checkpoint));
        }
    }

    /// `checkpoint` with the membership and modules as of now.
    fn snapshot_job(&self, checkpoint: Checkpoint) -> SnapshotJob {
        SnapshotJob {
            checkpoint,
            conf_state: self.conf_state.clone(),
            members: self.members.clone(),
            modules: self.modules.clone(),
        }
    }

    fn apply_with_retries(&mut self, entry: Entry) {
        for attempt in 1..=HOST_RETRIES {
            match self.apply(&entry) {
                Ok(()) => return,
                Err(e @ HostError::Unrepeatable(_)) => {
                    halt(&self.proposals, &format!("entry {} cannot be applied on this node: {e}", entry.index))
                }
                Err(e) => {
                    tracing::warn!(index = entry.index, attempt, "cannot apply here: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(100 * attempt as u64));
                }
            }
        }
        halt(&self.proposals, &format!("entry {} cannot be applied on this node", entry.index));
    }

    fn apply(&mut self, entry: &Entry) -> Result<(), HostError> {
        let (index, term) = (entry.index, entry.term);
        if index <= self.runtime.applied().index {
            // Already in the state (replayed after a restart from a snapshot).
            return Ok(());
        }
        let context = EntryContext::parse(&entry.context);
        let (id, leader_time) = (context.map(|c| c.id), context.and_then(|c| c.leader_time_ns));
        // The applier whose command this entry is: its state after the entry goes to a
        // proposer that renders its answer from it.
        let mut commanded: Option<Option<String>> = None;
        let result = match (entry.get_entry_type(), entry.data.is_empty()) {
            (EntryType::EntryNormal, false) => match EntryData::decode(&entry.data) {
                Ok(EntryData::Command(cmd)) => {
                    commanded = Some(None);
                    self.apply_command(None, cmd, index, term, leader_time)?
                }
                Ok(EntryData::CommandTo { applier, command }) => {
                    let result = self.apply_command(Some(&applier), command, index, term, leader_time)?;
                    commanded = Some(Some(applier));
                    result
                }
                Ok(EntryData::Once { applier, request, command }) => {
                    let timestamp_ns = entry_time(command.timestamp_ns, leader_time);
                    let meta = Meta { index, term, timestamp_ns, caller: command.caller, entropy: command.entropy };
                    let once = self.runtime.apply_once(applier.as_deref(), meta, command.payload, &request)?;
                    commanded = Some(applier);
                    match once {
                        Once::First(result) => result,
                        Once::Again { at, result } => {
                            self.proposals.applied(
                                index,
                                id,
                                Applied { index: at.index, term: at.term, result, replayed: true, state: None },
                                || self.runtime.state_of(commanded?.as_deref()),
                            );
                            return Ok(());
                        }
                    }
                }
                Ok(EntryData::Upgrade(up)) => {
                    let started = Instant::now();
                    let timestamp_ns = entry_time(up.timestamp_ns, leader_time);
                    let meta = Meta { index, term, timestamp_ns, caller: up.caller, entropy: up.entropy };
                    // The proposing node compiled and checked it; failing here is this node's
                    // problem (memory, a different wasmtime), never an outcome to replicate.
                    let next = self.engine.load(&up.module).unwrap_or_else(|e| {
                        halt(
                            &self.proposals,
                            &format!("cannot load the module the cluster upgraded to at {index}: {e}"),
                        )
                    });
                    let backend = Box::new(WasmBackend::new(self.engine.clone(), next));
                    let outcome = self.runtime.upgrade(meta, backend, up.allow_downgrade)?;
                    match &outcome {
                        Ok(()) => {
                            let appliers = self.runtime.appliers();
                            let i = appliers.iter().position(|a| a.module.since_index == index);
                            let i = i.expect("the upgraded applier took effect at this index");
                            self.modules[i] = Arc::new(up.module);
                            // Before any later entry's outcome reaches its proposer: that
                            // outcome is the new module's, for the new module to render.
                            self.status.set_fronts(self.runtime.fronts());
                            let m = &appliers[i].module;
                            // How long applies paused for the switch (load, migrate, swap).
                            let pause_us = started.elapsed().as_micros() as u64;
                            tracing::info!(index, name = %m.name, version = %m.version, hash = %m.hash, pause_us, "upgraded the applier");
                        }
                        Err(e) => tracing::warn!(index, "upgrade refused: {e}"),
                    }
                    // Either way the history has a new record.
                    self.setup_changed = true;
                    outcome.map(|()| Vec::new())
                }
                Err(e) => {
                    // Every node holds the same bytes, so every node refuses them alike.
                    self.runtime.skip(index, term)?;
                    Err(ApplierError::new("malformed-entry", format!("entry {index} does not decode: {e}")))
                }
            },
            (EntryType::EntryConfChange | EntryType::EntryConfChangeV2, _) => {
                let outcome = self.change_members(entry);
                self.runtime.skip(index, term)?;
                outcome
            }
            // A new leader's empty entry.
            _ => {
                self.runtime.skip(index, term)?;
                Ok(Vec::new())
            }
        };
        self.proposals.applied(index, id, Applied { index, term, result, replayed: false, state: None }, || {
            self.runtime.state_of(commanded?.as_deref())
        });
        Ok(())
    }

    fn apply_command(
        &mut self,
        applier: Option<&str>,
        command: crate::entry::ProposedCommand,
        index: u64,
        term: u64,
        leader_time: Option<u64>,
    ) -> Result<Result<Vec<u8>, ApplierError>, HostError> {
        let timestamp_ns = entry_time(command.timestamp_ns, leader_time);
        let meta = Meta { index, term, timestamp_ns, caller: command.caller, entropy: command.entropy };
        self.runtime.apply_to(applier, meta, command.payload)
    }

    /// Applies a committed conf change: Raft's configuration (on the raft thread, which
    /// answers with the new one or why the change is void on every node), then the member
    /// book. The output is the new membership, for the proposer to show.
    fn change_members(&mut self, entry: &Entry) -> Result<Vec<u8>, ApplierError> {
        let decoded = match entry.get_entry_type() {
            EntryType::EntryConfChange => ConfChange::parse_from_bytes(&entry.data).map(v2),
            _ => ConfChangeV2::parse_from_bytes(&entry.data),
        };
        let change =
            decoded.map_err(|e| ApplierError::new("malformed-entry", format!("conf change {}: {e}", entry.index)))?;
        let mut members = self.members.clone();
        members.apply(&change);
        let (reply, answer) = crossbeam_channel::bounded(1);
        if self.events.send(Event::ApplyConfChange { change, members: members.clone(), reply }).is_err() {
            halt(&self.proposals, "the raft thread stopped");
        }
        let conf_state = answer
            .recv()
            .unwrap_or_else(|_| halt(&self.proposals, "the raft thread stopped"))
            .map_err(|e| ApplierError::new("membership-refused", e))?;
        tracing::info!(index = entry.index, voters = ?conf_state.voters, learners = ?conf_state.learners, "membership changed");
        let output = MembershipOutput {
            voters: conf_state.voters.clone(),
            learners: conf_state.learners.clone(),
            addresses: members.addresses.clone(),
        };
        self.conf_state = conf_state;
        self.members = members;
        self.save_members();
        self.setup_changed = true;
        Ok(postcard::to_allocvec(&output).expect("membership encodes"))
    }

    fn save_members(&self) {
        if let Err(e) = self.members.save(&self.data_dir) {
            // The book is rebuilt from the log or a snapshot at the next start.
            tracing::warn!("cannot save the member book: {e}");
        }
    }

    fn install(&mut self, meta: &SnapshotMetadata) {
        let path = self.snapshots.path(meta.index, meta.term);
        let file = snapshot::load(&path)
            .unwrap_or_else(|e| halt(&self.proposals, &format!("the snapshot at {} does not load: {e}", meta.index)));
        let file_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        self.schedule.installed(meta.index, state_share(file_bytes, &file.modules));
        let loaded = file.modules.iter().map(|m| self.engine.load(m)).collect::<Result<Vec<_>, _>>();
        let loaded =
            loaded.unwrap_or_else(|e| halt(&self.proposals, &format!("a module of the snapshot does not load: {e}")));
        let backends = loaded.into_iter().map(|m| Box::new(WasmBackend::new(self.engine.clone(), m)) as _).collect();
        self.runtime = Runtime::restore_all(backends, file.checkpoint)
            .unwrap_or_else(|e| halt(&self.proposals, &format!("the snapshot's appliers cannot be hosted: {e}")));
        self.status.set_fronts(self.runtime.fronts());
        self.modules = file.modules.into_iter().map(Arc::new).collect();
        self.conf_state = file.meta.get_conf_state().clone();
        self.members = file.members;
        self.save_members();
        // The Raft thread knew members only from the conf changes it applied: the snapshot
        // may be past some.
        if self.events.send(Event::SnapshotMembers(self.members.clone())).is_err() {
            halt(&self.proposals, "the raft thread stopped");
        }
        self.setup_changed = true;
        self.proposals.snapshot_installed(meta.index);
        tracing::info!(index = meta.index, term = meta.term, "installed a snapshot from the leader");
    }

    fn publish(&mut self) {
        // The setup only when an entry or a snapshot changed it: the history and the book
        // only grow, and this runs after every batch.
        if std::mem::take(&mut self.setup_changed) {
            let hosted =
                |a: ApplierView| status::HostedApplier { module: a.module, routes: a.routes, upgrades: a.upgrades };
            self.status.set_setup(status::Setup {
                appliers: self.runtime.appliers().into_iter().map(hosted).collect(),
                members: self.members.clone(),
            });
        }
        self.metrics.applied_index.set(self.runtime.applied().index as i64);
        self.status.set_applied(status::Applied {
            index: self.runtime.applied().index,
            state_hash: self.runtime.state_hash().to_string(),
            applier_hashes: self.runtime.applier_hashes().iter().map(ToString::to_string).collect(),
        });
    }
}

/// A legacy (single) conf change as a `ConfChangeV2`.
fn v2(mut cc: ConfChange) -> ConfChangeV2 {
    let mut single = ConfChangeSingle::default();
    single.set_change_type(cc.get_change_type());
    single.node_id = cc.node_id;
    let mut out = ConfChangeV2::default();
    out.set_changes(vec![single].into());
    out.set_context(cc.take_context());
    out
}
