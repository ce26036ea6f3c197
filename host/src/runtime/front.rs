//! The active module's calls outside the log, on the node that received a request:
//! `handle` (what to do with an HTTP request), `render` (the response for an outcome, on a
//! read-only copy of the state it came from),
//! `housekeeping` (a command the leader proposes now and then) and `query` (on a read-only
//! copy of the state). Each runs on an instance of its own, on whichever thread asks, so
//! that this work never waits for the apply thread, nor holds it up.

use super::backend::{CallError, HostError, Outcome};
use super::engine::OutsideCall;
use super::module::{LoadedModule, OutsideInstance, WasmEngine};
use super::native::{run, run_detached, run_on};
use super::state::{StateMap, Txn};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use wasmraft_sdk::Applier;
use wasmraft_sdk::contract::{Action, Caller, Encoding, HttpOutcome, HttpRequest, HttpResponse, Meta, Payload};
use wasmraft_sdk::native;

/// The meta of a call made for a request arriving now, at applied index `index`: this
/// node's clock and fresh random bits (nothing here is replicated). None without entropy
/// from the OS.
pub fn request_meta(index: u64, caller: Option<Caller>) -> Option<Meta> {
    let mut entropy = [0u8; 32];
    getrandom::fill(&mut entropy).ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Some(Meta { index, term: 0, timestamp_ns: now.as_nanos() as u64, caller, entropy })
}

/// A call's result: what the module returned, a trap, or this node's failure to run it.
pub type FrontResult<T> = Result<Result<T, CallError>, HostError>;

pub trait Front: Send + Sync {
    /// blake3 of the module, hex (none for a native applier): which module answers.
    fn hash(&self) -> Option<String>;
    fn handle(&self, meta: Meta, request: HttpRequest) -> FrontResult<Action>;
    /// Renders `outcome` reading `state`, the state it came from (empty for a failure);
    /// `call`: whether the outcome is the cluster's ([`OutsideCall::Finish`]) or a refusal
    /// at the door.
    fn render(
        &self,
        call: OutsideCall,
        encoding: Encoding,
        outcome: HttpOutcome,
        state: StateMap,
    ) -> FrontResult<HttpResponse>;
    fn housekeeping(&self, meta: Meta) -> FrontResult<Option<Payload>>;
    /// Answers a query from `txn` (read-only: a query cannot write).
    fn query(&self, meta: Meta, query: Payload, txn: &mut Txn) -> Result<Outcome, HostError>;
}

pub struct WasmFront {
    engine: Arc<WasmEngine>,
    module: Arc<LoadedModule>,
}

impl WasmFront {
    pub fn new(engine: Arc<WasmEngine>, module: Arc<LoadedModule>) -> Self {
        WasmFront { engine, module }
    }

    /// Refused as busy while `call`'s limit of calls run ([`OutsideCall::limit`]).
    fn instance(&self, index: u64, call: OutsideCall) -> Result<OutsideInstance<'_>, HostError> {
        self.engine.instantiate_outside(&self.module, index, call)
    }
}

impl Front for WasmFront {
    fn hash(&self) -> Option<String> {
        Some(self.module.hash.to_string())
    }

    fn handle(&self, meta: Meta, request: HttpRequest) -> FrontResult<Action> {
        self.instance(meta.index, OutsideCall::Start)?.instance.handle(meta, request)
    }

    fn render(
        &self,
        call: OutsideCall,
        encoding: Encoding,
        outcome: HttpOutcome,
        state: StateMap,
    ) -> FrontResult<HttpResponse> {
        self.instance(0, call)?.instance.render(encoding, outcome, &mut Txn::read_only(state))
    }

    fn housekeeping(&self, meta: Meta) -> FrontResult<Option<Payload>> {
        self.instance(meta.index, OutsideCall::Finish)?.instance.housekeeping(meta)
    }

    fn query(&self, meta: Meta, query: Payload, txn: &mut Txn) -> Result<Outcome, HostError> {
        self.instance(meta.index, OutsideCall::Start)?.instance.query(meta, query, txn)
    }
}

/// The same calls on an applier compiled into the host (tests, benchmarks).
pub struct NativeFront<A>(PhantomData<fn() -> A>);

impl<A: Applier> Default for NativeFront<A> {
    fn default() -> Self {
        NativeFront(PhantomData)
    }
}

impl<A: Applier> Front for NativeFront<A> {
    fn hash(&self) -> Option<String> {
        None
    }

    fn handle(&self, meta: Meta, request: HttpRequest) -> FrontResult<Action> {
        Ok(run_detached(|| native::handle::<A>(meta, request)))
    }

    fn render(
        &self,
        _call: OutsideCall,
        encoding: Encoding,
        outcome: HttpOutcome,
        state: StateMap,
    ) -> FrontResult<HttpResponse> {
        let mut txn = Txn::read_only(state);
        Ok(run_on(&mut txn, |host| native::render::<A>(host, encoding, outcome)))
    }

    fn housekeeping(&self, meta: Meta) -> FrontResult<Option<Payload>> {
        Ok(run_detached(|| native::housekeeping::<A>(meta)))
    }

    fn query(&self, meta: Meta, query: Payload, txn: &mut Txn) -> Result<Outcome, HostError> {
        Ok(run(txn, |host| native::query::<A>(host, meta, &query)))
    }
}
