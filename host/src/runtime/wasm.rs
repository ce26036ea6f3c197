//! The wasm backend: applies entries on one long-lived instance (until the runtime resets
//! it) and answers every query on a fresh instance of its own.

use super::backend::CallError;
use super::backend::{Backend, HostError, ModuleDescriptor, Outcome};
use super::front::{Front, WasmFront};
use super::instance::Instance;
use super::module::{LoadedModule, WasmEngine};
use super::state::Txn;
use std::sync::Arc;
use wasmraft_sdk::contract::{Info, Meta, Payload};

/// Applies entries with a wasm component. The apply instance lives until the runtime resets
/// it; every query gets a fresh instance of its own.
pub struct WasmBackend {
    engine: Arc<WasmEngine>,
    module: Arc<LoadedModule>,
    live: Option<Instance>,
}

impl WasmBackend {
    pub fn new(engine: Arc<WasmEngine>, module: Arc<LoadedModule>) -> Self {
        WasmBackend { engine, module, live: None }
    }

    fn instance(&self, index: u64) -> Result<Instance, HostError> {
        self.engine.instantiate(&self.module, index).map_err(|e| HostError::Instantiate(format!("{e:#}")))
    }
}

impl Backend for WasmBackend {
    fn describe(&self) -> ModuleDescriptor {
        self.module.descriptor()
    }

    fn apply(&mut self, meta: Meta, command: Payload, txn: &mut Txn) -> Result<Outcome, HostError> {
        let live = match &mut self.live {
            Some(live) => live,
            None => self.live.insert(self.instance(meta.index)?),
        };
        live.apply(meta, command, txn)
    }

    fn migrate(&mut self, meta: Meta, previous: &Info, txn: &mut Txn) -> Result<Result<(), CallError>, HostError> {
        self.instance(meta.index)?.migrate(meta, previous, txn)
    }

    fn fuel_used(&self) -> u64 {
        self.live.as_ref().map_or(0, Instance::fuel_used)
    }

    fn reset(&mut self) {
        self.live = None;
    }

    fn front(&self) -> Arc<dyn Front> {
        Arc::new(WasmFront::new(self.engine.clone(), self.module.clone()))
    }
}
