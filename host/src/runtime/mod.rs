//! The deterministic runtime: applies committed entries to the state through the applier,
//! all-or-nothing, and answers queries.
//!
//! ## Guest memory is not state
//! A call on a live instance costs well under a microsecond; creating an instance costs
//! microseconds. But a live instance remembers: allocator layout, caches, a `HashMap`'s
//! seed and iteration order. If that memory could change a result, a node restored from a
//! snapshot (fresh instance) would diverge from one that ran all along (warm instance).
//!
//! The rule: **the apply instance is replaced at the first entry of every block of
//! [`RESET_INTERVAL`] log indexes, and after every trap**. A [`Checkpoint`] (the state to
//! snapshot) is only ever captured at such a point, just before that entry: there every
//! node, however it got there, starts the next entry on a fresh instance, whose `HashMap`
//! seed derives from that entry's index. So a node restored from a snapshot continues
//! exactly as the others do. Queries differ from node to node and never run on the apply
//! instance.
//!
//! Capturing is O(1) (the map is persistent), but afterwards each B-tree node pays one copy
//! on its next write; so checkpoints are captured on request ([`Runtime::request_checkpoint`])
//! rather than at every reset.

pub mod backend;
mod checkpoint;
pub mod engine;
pub mod front;
mod guest;
mod instance;
pub mod module;
pub mod native;
pub mod state;
mod wasi;
pub mod wasm;

pub use backend::{Backend, CallError, HostError, ModuleDescriptor, Outcome};
pub use checkpoint::{Checkpoint, CheckpointError};
pub use engine::Limits;
pub use front::{Front, FrontResult, request_meta};
pub use module::{LoadError, LoadedModule, ModuleHash, WasmEngine};
pub use native::NativeBackend;
pub use state::{LogPosition, ModuleRecord, StateHash, StateMap, SystemState, Txn, UpgradeRecord};
pub use wasm::WasmBackend;

use state::state_hash;
use wasmraft_sdk::contract::{ApplierError, Caller, Info, Meta, Payload};

/// The apply instance is replaced at the first entry of each block of this many indexes.
/// Consensus-critical: it decides what guest memory an entry can observe.
pub const RESET_INTERVAL: u64 = 1024;

fn record(d: &ModuleDescriptor, since_index: u64) -> ModuleRecord {
    ModuleRecord {
        name: d.name.clone(),
        version: d.version.clone(),
        hash: d.hash.clone().unwrap_or_default(),
        since_index,
    }
}

/// The rules of replacement, checked the same way on every node: the same applier, and a
/// newer semver version unless a downgrade is asked for.
pub fn upgrade_check(
    active: &ModuleRecord,
    next: &ModuleDescriptor,
    allow_downgrade: bool,
) -> Result<(), ApplierError> {
    if next.name != active.name {
        return Err(ApplierError::new(
            "upgrade-refused",
            format!("the module is applier `{}`, but the cluster runs `{}`", next.name, active.name),
        ));
    }
    let parse = |v: &str| {
        semver::Version::parse(v).map_err(|e| ApplierError::new("upgrade-refused", format!("version `{v}`: {e}")))
    };
    let (from, to) = (parse(&active.version)?, parse(&next.version)?);
    if to <= from && !allow_downgrade {
        return Err(ApplierError::new(
            "upgrade-refused",
            format!("version {to} is not newer than the active {from} (a downgrade must be asked for explicitly)"),
        ));
    }
    Ok(())
}

pub struct Runtime {
    backend: Box<dyn Backend>,
    state: StateMap,
    system: SystemState,
    applied: LogPosition,
    /// The index block the apply instance was created for; `None`: the next apply gets a
    /// fresh instance.
    instance_block: Option<u64>,
    checkpoint_requested: bool,
    checkpoint: Option<Checkpoint>,
}

impl Runtime {
    /// A runtime with empty state at index 0.
    pub fn new(backend: Box<dyn Backend>) -> Self {
        Runtime::restore(backend, Checkpoint::default())
    }

    /// A runtime that continues from `checkpoint`. A checkpoint that names no module (a new
    /// cluster's) takes `backend`'s as its bootstrap module.
    pub fn restore(backend: Box<dyn Backend>, checkpoint: Checkpoint) -> Self {
        let mut system = checkpoint.system;
        if system.module.name.is_empty() {
            system.module = record(&backend.describe(), 0);
        }
        Runtime {
            backend,
            state: checkpoint.state,
            system,
            applied: checkpoint.applied,
            instance_block: None,
            checkpoint_requested: false,
            checkpoint: None,
        }
    }

    fn advance_to(&mut self, index: u64) -> Result<(), HostError> {
        if index <= self.applied.index {
            return Err(HostError::OutOfOrder { index, applied: self.applied.index });
        }
        Ok(())
    }

    /// Applies a committed entry. The outer error is this node's failure (nothing changed;
    /// retry or stop); the inner result is the entry's outcome, the same on every node: on
    /// error, no write of the call lands.
    pub fn apply(&mut self, mut meta: Meta, command: Payload) -> Result<Result<Vec<u8>, ApplierError>, HostError> {
        self.advance_to(meta.index)?;
        let block = meta.index / RESET_INTERVAL;
        if self.instance_block != Some(block) {
            self.backend.reset();
            self.instance_block = Some(block);
            if std::mem::take(&mut self.checkpoint_requested) {
                self.checkpoint = Some(self.capture());
            }
        }
        meta.timestamp_ns = meta.timestamp_ns.max(self.system.clock_ns);
        let (position, timestamp_ns) = (LogPosition { index: meta.index, term: meta.term }, meta.timestamp_ns);
        let mut txn = Txn::new(self.state.clone());
        let outcome = self.backend.apply(meta, command, &mut txn)?;
        let outcome = match outcome {
            Ok(output) => {
                self.state.commit(txn.into_writes());
                self.system.clock_ns = timestamp_ns;
                Ok(output)
            }
            Err(CallError::Refused(e)) => Err(e),
            Err(CallError::Trapped(e)) => {
                self.backend.reset();
                self.instance_block = None;
                Err(e)
            }
        };
        self.applied = position;
        Ok(outcome)
    }

    /// Records an entry that carries no command (an empty entry from a new leader, a
    /// configuration change), keeping the applied position exact.
    pub fn skip(&mut self, index: u64, term: u64) -> Result<(), HostError> {
        self.advance_to(index)?;
        self.applied = LogPosition { index, term };
        Ok(())
    }

    /// Answers a query against the applied state, on an instance of its own. It sees the
    /// applied index and `now_ns` as its meta.
    pub fn query(&self, caller: Option<Caller>, now_ns: u64, query: Payload) -> QueryResult {
        self.reader().query(caller, now_ns, query)
    }

    /// The applied state as of now (an O(1) copy) with the module that reads it: queries
    /// on it may run on any thread while later entries apply.
    pub fn reader(&self) -> Reader {
        Reader { front: self.backend.front(), state: self.state.clone(), applied: self.applied }
    }

    fn capture(&self) -> Checkpoint {
        Checkpoint { applied: self.applied, system: self.system.clone(), state: self.state.clone() }
    }

    /// Asks for a checkpoint at the next point where the apply instance is fresh (see the
    /// module docs): at once if no entry has run since the last reset, else just before the
    /// next reset. Collect it with [`Runtime::take_checkpoint`].
    pub fn request_checkpoint(&mut self) {
        if self.instance_block.is_none() {
            self.checkpoint = Some(self.capture());
        } else {
            self.checkpoint_requested = true;
        }
    }

    /// The checkpoint captured since the last call, if any.
    pub fn take_checkpoint(&mut self) -> Option<Checkpoint> {
        self.checkpoint.take()
    }

    pub fn applied(&self) -> LogPosition {
        self.applied
    }

    pub fn state(&self) -> &StateMap {
        &self.state
    }

    pub fn state_hash(&self) -> StateHash {
        state_hash(&self.state, &self.system)
    }

    /// The active module's calls outside the log.
    pub fn front(&self) -> std::sync::Arc<dyn Front> {
        self.backend.front()
    }

    /// The active module as the replicated state records it.
    pub fn module(&self) -> &ModuleRecord {
        &self.system.module
    }

    /// Every upgrade entry applied so far, and its fate.
    pub fn upgrades(&self) -> &[UpgradeRecord] {
        &self.system.upgrades
    }

    /// Applies an upgrade entry: `next` replaces the active module if it is the same applier
    /// at a newer version (or any version with `allow_downgrade`) and its `migrate` succeeds.
    /// Like `apply`, all or nothing: a refusal keeps the module and the state as they were,
    /// on every node. The outer error is this node's failure, as for `apply`.
    pub fn upgrade(
        &mut self,
        mut meta: Meta,
        mut next: Box<dyn Backend>,
        allow_downgrade: bool,
    ) -> Result<Result<(), ApplierError>, HostError> {
        self.advance_to(meta.index)?;
        meta.timestamp_ns = meta.timestamp_ns.max(self.system.clock_ns);
        let (position, timestamp_ns) = (LogPosition { index: meta.index, term: meta.term }, meta.timestamp_ns);
        let to = next.describe();
        let outcome = match upgrade_check(&self.system.module, &to, allow_downgrade) {
            Err(e) => Err(e),
            Ok(()) => {
                let previous =
                    Info { name: self.system.module.name.clone(), version: self.system.module.version.clone() };
                let mut txn = Txn::new(self.state.clone());
                match next.migrate(meta, &previous, &mut txn)? {
                    Ok(()) => {
                        self.state.commit(txn.into_writes());
                        self.system.clock_ns = timestamp_ns;
                        self.backend = next;
                        self.system.module = record(&to, position.index);
                        // The next entry starts on a fresh instance of the new module.
                        self.instance_block = None;
                        Ok(())
                    }
                    Err(e) => {
                        let e = e.into_error();
                        Err(ApplierError::new(
                            "migrate-failed",
                            format!("{} {}'s migrate failed: {}", to.name, to.version, e),
                        ))
                    }
                }
            }
        };
        self.system.upgrades.push(UpgradeRecord {
            index: position.index,
            name: to.name,
            version: to.version,
            hash: to.hash.unwrap_or_default(),
            refused: outcome.as_ref().err().map(|e| e.message.clone()),
        });
        self.applied = position;
        Ok(outcome)
    }
}

/// A query's answer, the module's refusal, or this node's failure to run it.
pub type QueryResult = Result<Result<Vec<u8>, ApplierError>, HostError>;

/// A read-only view of the state at one applied position, and the module that was active
/// there (see [`Runtime::reader`]).
pub struct Reader {
    front: std::sync::Arc<dyn Front>,
    state: StateMap,
    applied: LogPosition,
}

impl Reader {
    pub fn applied(&self) -> LogPosition {
        self.applied
    }

    /// As [`Runtime::query`], at this reader's position.
    pub fn query(&self, caller: Option<Caller>, now_ns: u64, query: Payload) -> QueryResult {
        let meta =
            Meta { index: self.applied.index, term: self.applied.term, timestamp_ns: now_ns, caller, entropy: [0; 32] };
        let mut txn = Txn::read_only(self.state.clone());
        Ok(self.front.query(meta, query, &mut txn)?.map_err(CallError::into_error))
    }
}
