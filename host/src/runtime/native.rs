//! Runs an applier compiled into the host: the same code as its wasm build, without the
//! boundary. Used to compare the two (determinism tests) and to measure the boundary's cost.
//!
//! There are no fuel or memory limits here, and no guest memory to reset: a native applier
//! that keeps state in statics is not deterministic across restarts. Production nodes run
//! wasm.

use super::backend::{Backend, CallError, HostError, ModuleDescriptor, Outcome};
use super::front::{Front, NativeFront};
use super::state::{StoreFault, Txn};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use wasmraft_sdk::Applier;
use wasmraft_sdk::contract::{ApplierError, Info, Level, Meta, Payload};
use wasmraft_sdk::native::{self, Host};

pub struct NativeBackend<A>(PhantomData<fn() -> A>);

impl<A: Applier> Default for NativeBackend<A> {
    fn default() -> Self {
        NativeBackend(PhantomData)
    }
}

/// The SDK's native store, backed by the call's transaction. A store fault cannot trap a
/// native call midway, so the first one is kept and fails the call when it returns.
struct TxnHost<'a> {
    txn: &'a mut Txn,
    fault: Option<StoreFault>,
}

impl Host for TxnHost<'_> {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        self.txn.get(key).map(|v| v.to_vec())
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        if let Err(f) = self.txn.put(key, value) {
            self.fault.get_or_insert(f);
        }
    }
    fn delete(&mut self, key: Vec<u8>) {
        if let Err(f) = self.txn.delete(key) {
            self.fault.get_or_insert(f);
        }
    }
    fn scan(&mut self, start: &[u8], end: Option<&[u8]>, limit: u32) -> Vec<u8> {
        let mut page = Vec::new();
        self.txn.scan(start, end, limit, |key, value| native::pack(&mut page, key, value));
        page
    }
    fn log(&mut self, level: Level, message: &str) {
        match level {
            Level::Trace => tracing::trace!(target: "applier", "{message}"),
            Level::Debug => tracing::debug!(target: "applier", "{message}"),
            Level::Info => tracing::info!(target: "applier", "{message}"),
            Level::Warn => tracing::warn!(target: "applier", "{message}"),
            Level::Error => tracing::error!(target: "applier", "{message}"),
        }
    }
}

fn panicked(panic: Box<dyn std::any::Any + Send>) -> CallError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".into());
    CallError::Trapped(ApplierError::new("panic", format!("the applier panicked: {message}")))
}

pub(super) fn run(txn: &mut Txn, call: impl FnOnce(&mut dyn Host) -> Result<Vec<u8>, ApplierError>) -> Outcome {
    run_on(txn, call)?.map_err(CallError::Refused)
}

/// Runs a call with `txn` as its store: a store fault (a write to a read-only one, a limit)
/// or a panic as a trap.
pub(super) fn run_on<T>(txn: &mut Txn, call: impl FnOnce(&mut dyn Host) -> T) -> Result<T, CallError> {
    let mut host = TxnHost { txn, fault: None };
    let result = catch_unwind(AssertUnwindSafe(|| call(&mut host)));
    match (result, host.fault) {
        (_, Some(fault)) => Err(CallError::Trapped(ApplierError::new("limit-exceeded", fault.to_string()))),
        (Ok(value), None) => Ok(value),
        (Err(panic), None) => Err(panicked(panic)),
    }
}

/// Runs a call that has no store (`handle`, `housekeeping`), a panic as a trap.
pub(super) fn run_detached<T>(call: impl FnOnce() -> T) -> Result<T, CallError> {
    catch_unwind(AssertUnwindSafe(call)).map_err(panicked)
}

impl<A: Applier> Backend for NativeBackend<A> {
    fn describe(&self) -> ModuleDescriptor {
        let info = native::info::<A>();
        // A native applier is compiled in: its routes are checked by its tests, not here.
        let routes = super::routes::declared(native::routes::<A>()).expect("a native applier declares valid routes");
        ModuleDescriptor { name: info.name, version: info.version, hash: None, size_bytes: None, routes }
    }

    fn apply(&mut self, meta: Meta, command: Payload, txn: &mut Txn) -> Result<Outcome, HostError> {
        Ok(run(txn, |host| native::apply::<A>(host, meta, &command)))
    }

    fn migrate(&mut self, meta: Meta, previous: &Info, txn: &mut Txn) -> Result<Result<(), CallError>, HostError> {
        Ok(run(txn, |host| native::migrate::<A>(host, meta, previous).map(|()| Vec::new())).map(drop))
    }

    fn reset(&mut self) {}

    fn front(&self) -> Arc<dyn Front> {
        Arc::new(NativeFront::<A>::default())
    }
}
