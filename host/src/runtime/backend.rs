//! What the runtime needs from whatever runs the applier's code: a wasm component
//! ([`super::wasm::WasmBackend`]) or the same applier compiled natively
//! ([`super::native::NativeBackend`]).

use super::front::Front;
use super::state::Txn;
use serde::Serialize;
use std::sync::Arc;
use wasmraft_sdk::contract::{ApplierError, Info, Meta, Payload};

/// How a call ended, when it did not return output. Either way it is an entry's outcome,
/// the same on every node, and its writes are discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The applier returned an error: the instance is healthy.
    Refused(ApplierError),
    /// The call trapped (panic, fuel, memory, a host limit): the instance is unusable.
    Trapped(ApplierError),
}

impl CallError {
    pub fn into_error(self) -> ApplierError {
        match self {
            CallError::Refused(e) | CallError::Trapped(e) => e,
        }
    }
}

/// A call's outcome: the applier's output, or how it failed.
pub type Outcome = Result<Vec<u8>, CallError>;

/// A failure of this node, not of the entry: it must not become an entry's outcome (other
/// nodes may not fail alike), so the caller stops and retries or halts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("cannot create a wasm instance: {0}")]
    Instantiate(String),
    /// This machine failed the call (the OS refused memory, say).
    #[error("this node failed to run the call: {0}")]
    Call(String),
    /// This machine failed a call on an instance that had applied earlier entries of its
    /// block: a fresh one could answer differently from the other nodes' instances.
    #[error(
        "{0}, on an apply instance that had run earlier entries: retrying on a fresh instance could diverge from \
         the other nodes; restart the node (it replays its log from its last snapshot)"
    )]
    Unrepeatable(String),
    #[error("entry {index} does not follow the applied index {applied}")]
    OutOfOrder { index: u64, applied: u64 },
    /// Only for calls outside the log: the apply path has instances of its own.
    #[error("this node is running as many calls as it can ({limit}); retry shortly")]
    Busy { limit: u32 },
}

/// What is running: shown by `status` and `inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleDescriptor {
    pub name: String,
    pub version: String,
    /// blake3 of the component's bytes, hex; none for a native applier.
    pub hash: Option<String>,
    pub size_bytes: Option<usize>,
    /// The HTTP path prefixes it serves, canonical.
    pub routes: Vec<String>,
}

pub trait Backend: Send {
    fn describe(&self) -> ModuleDescriptor;
    /// Applies one entry on the long-lived apply instance.
    fn apply(&mut self, meta: Meta, command: Payload, txn: &mut Txn) -> Result<Outcome, HostError>;
    /// Runs this module's `migrate` from `previous`, on an instance of its own.
    fn migrate(&mut self, meta: Meta, previous: &Info, txn: &mut Txn) -> Result<Result<(), CallError>, HostError>;
    /// Fuel the last apply used; 0 where nothing is metered (a native applier).
    fn fuel_used(&self) -> u64 {
        0
    }
    /// Drops the apply instance: the next apply gets a fresh one.
    fn reset(&mut self);
    /// This module's calls outside the log (see [`super::front`]).
    fn front(&self) -> Arc<dyn Front>;
}
