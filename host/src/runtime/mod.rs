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
pub use module::{LoadError, LoadedModule, ModuleHash, WasmEngine};
pub use native::NativeBackend;
pub use state::{LogPosition, StateHash, StateMap, Txn};
pub use wasm::WasmBackend;

use state::state_hash;
use wasmraft_sdk::contract::{ApplierError, Caller, Meta, Payload};

/// The apply instance is replaced at the first entry of each block of this many indexes.
/// Consensus-critical: it decides what guest memory an entry can observe.
pub const RESET_INTERVAL: u64 = 1024;

pub struct Runtime {
    backend: Box<dyn Backend>,
    state: StateMap,
    /// The latest committed entry's timestamp: entry time never goes below it.
    clock_ns: u64,
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

    /// A runtime that continues from `checkpoint`.
    pub fn restore(backend: Box<dyn Backend>, checkpoint: Checkpoint) -> Self {
        Runtime {
            backend,
            state: checkpoint.state,
            clock_ns: checkpoint.clock_ns,
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
        meta.timestamp_ns = meta.timestamp_ns.max(self.clock_ns);
        let (position, timestamp_ns) = (LogPosition { index: meta.index, term: meta.term }, meta.timestamp_ns);
        let mut txn = Txn::new(self.state.clone());
        let outcome = self.backend.apply(meta, command, &mut txn)?;
        let outcome = match outcome {
            Ok(output) => {
                self.state.commit(txn.into_writes());
                self.clock_ns = timestamp_ns;
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
    pub fn query(
        &self,
        caller: Option<Caller>,
        now_ns: u64,
        query: Payload,
    ) -> Result<Result<Vec<u8>, ApplierError>, HostError> {
        let meta = Meta { index: self.applied.index, term: self.applied.term, timestamp_ns: now_ns, caller, entropy: [0; 32] };
        let mut txn = Txn::read_only(self.state.clone());
        Ok(self.backend.query(meta, query, &mut txn)?.map_err(CallError::into_error))
    }

    fn capture(&self) -> Checkpoint {
        Checkpoint { applied: self.applied, clock_ns: self.clock_ns, state: self.state.clone() }
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
        state_hash(&self.state, self.clock_ns)
    }

    pub fn module(&self) -> ModuleDescriptor {
        self.backend.describe()
    }
}
