//! Running calls on a wasm component: the store's data, the host side of the `store` and
//! `log` imports, instance lifetime, and turning traps into deterministic error results.

use super::backend::{Backend, CallError, HostError, ModuleDescriptor, Outcome};
use super::engine::{MAX_TABLE_ELEMENTS, fuel};
use super::module::{LoadedModule, WasmEngine};
use super::state::{StoreFault, Txn};
use super::wasi::{self, EntrySource};
use std::sync::Arc;
use wasmraft_sdk::contract::{ApplierError, Encoding, Info, Meta, Payload};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store, StoreContextMut, Trap};
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "applier" });
}

use bindings::wasmraft::applier::{log::Level as WitLevel, types as wit};

/// Why the host stopped a call. Each is a function of the entry and the instance's history,
/// so every node stops the same call at the same point.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum GuestFault {
    #[error("the call used up its budget of {budget} fuel")]
    OutOfFuel { budget: u64 },
    #[error("the instance tried to grow its memory to {desired} bytes, beyond the limit of {limit}")]
    OutOfMemory { desired: usize, limit: usize },
    #[error("the instance tried to grow a table to {desired} elements, beyond the limit of {MAX_TABLE_ELEMENTS}")]
    TableLimit { desired: usize },
    #[error(transparent)]
    Store(#[from] StoreFault),
}

/// Everything a call's host functions can reach.
pub struct GuestState {
    txn: Txn,
    source: EntrySource,
    seed: (u64, u64),
    wasi: WasiCtx,
    table: ResourceTable,
    memory_limit: usize,
    budget: u64,
    panic: Option<String>,
    module: Arc<str>,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl GuestState {
    pub(super) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    pub(super) fn virtual_parts(&mut self) -> (&mut EntrySource, (u64, u64), &mut ResourceTable) {
        (&mut self.source, self.seed, &mut self.table)
    }
}

impl ResourceLimiter for GuestState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            return Err(GuestFault::OutOfMemory { desired, limit: self.memory_limit }.into());
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(GuestFault::TableLimit { desired }.into());
        }
        Ok(true)
    }
}

/// Takes a host call's cost out of the guest's fuel, trapping when it runs out.
fn charge(cx: &mut StoreContextMut<'_, GuestState>, bytes: usize) -> wasmtime::Result<()> {
    let cost = fuel::for_call(bytes);
    let left = cx.get_fuel()?;
    if left < cost {
        cx.set_fuel(0)?;
        return Err(GuestFault::OutOfFuel { budget: cx.data().budget }.into());
    }
    cx.set_fuel(left - cost)
}

const MAX_PANIC_MESSAGE: usize = 4096;

/// The host side of `wasmraft:applier/store` and `/log`, registered by hand rather than
/// through the generated traits so that each call can charge fuel from the store.
pub(super) fn add_imports_to_linker(linker: &mut Linker<GuestState>, abi_version: &str) -> wasmtime::Result<()> {
    type Cx<'a> = StoreContextMut<'a, GuestState>;
    let mut store = linker.instance(&format!("wasmraft:applier/store@{abi_version}"))?;
    store.func_wrap("get", |mut cx: Cx, (key,): (Vec<u8>,)| {
        charge(&mut cx, key.len())?;
        let value = cx.data().txn.get(&key);
        charge(&mut cx, value.as_ref().map_or(0, |v| v.len()))?;
        Ok((value.map(|v| v.to_vec()),))
    })?;
    store.func_wrap("put", |mut cx: Cx, (key, value): (Vec<u8>, Vec<u8>)| {
        charge(&mut cx, key.len() + value.len())?;
        cx.data_mut().txn.put(key, value).map_err(GuestFault::from)?;
        Ok(())
    })?;
    store.func_wrap("delete", |mut cx: Cx, (key,): (Vec<u8>,)| {
        charge(&mut cx, key.len())?;
        cx.data_mut().txn.delete(key).map_err(GuestFault::from)?;
        Ok(())
    })?;
    store.func_wrap("scan", |mut cx: Cx, (start, end, limit): (Vec<u8>, Option<Vec<u8>>, u32)| {
        charge(&mut cx, start.len() + end.as_ref().map_or(0, Vec::len))?;
        let page = cx.data().txn.scan(&start, end.as_deref(), limit);
        charge(&mut cx, page.iter().map(|(k, v)| k.len() + v.len()).sum())?;
        Ok((page.into_iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect::<Vec<_>>(),))
    })?;

    let mut log = linker.instance(&format!("wasmraft:applier/log@{abi_version}"))?;
    log.func_wrap("log", |mut cx: Cx, (level, message): (WitLevel, String)| {
        charge(&mut cx, message.len())?;
        let module = &cx.data().module;
        match level {
            WitLevel::Trace => tracing::trace!(target: "applier", %module, "{message}"),
            WitLevel::Debug => tracing::debug!(target: "applier", %module, "{message}"),
            WitLevel::Info => tracing::info!(target: "applier", %module, "{message}"),
            WitLevel::Warn => tracing::warn!(target: "applier", %module, "{message}"),
            WitLevel::Error => tracing::error!(target: "applier", %module, "{message}"),
        }
        Ok(())
    })?;
    log.func_wrap("panicked", |mut cx: Cx, (mut message,): (String,)| {
        if message.len() > MAX_PANIC_MESSAGE {
            let mut cut = MAX_PANIC_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        cx.data_mut().panic = Some(message);
        Ok(())
    })?;
    Ok(())
}

/// A live instance and its store.
pub(crate) struct Instance {
    store: Store<GuestState>,
    bindings: bindings::Applier,
}

/// What the host passes across for one call.
struct CallInput {
    meta: wit::EntryMeta,
    source: EntrySource,
}

fn to_wit_meta(meta: Meta) -> wit::EntryMeta {
    let word = |i: usize| u64::from_le_bytes(meta.entropy[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    wit::EntryMeta {
        index: meta.index,
        term: meta.term,
        timestamp_ns: meta.timestamp_ns,
        entropy: (word(0), word(1), word(2), word(3)),
        caller: meta.caller.map(|c| wit::Caller { subject: c.subject, scopes: c.scopes }),
    }
}

fn to_wit_payload(p: Payload) -> wit::Payload {
    let encoding = match p.encoding {
        Encoding::Postcard => wit::Encoding::Postcard,
        Encoding::Json => wit::Encoding::Json,
    };
    wit::Payload { encoding, bytes: p.bytes }
}

fn from_wit_error(e: wit::ApplierError) -> ApplierError {
    ApplierError { code: e.code, message: e.message, body: e.body }
}

impl CallInput {
    fn new(meta: Meta) -> Self {
        let source = EntrySource::new(meta.index, meta.timestamp_ns, meta.entropy);
        CallInput { meta: to_wit_meta(meta), source }
    }
}

impl Instance {
    /// Creates an instance to run the entry at `index` (its hash seed derives from it).
    pub(crate) fn new(engine: &WasmEngine, module: &LoadedModule, index: u64) -> wasmtime::Result<Self> {
        let state = GuestState {
            txn: Txn::new(Default::default()),
            source: EntrySource::default(),
            seed: wasi::insecure_seed(index),
            wasi: wasi::sealed_ctx(),
            table: ResourceTable::new(),
            memory_limit: engine.limits().memory_bytes,
            budget: engine.limits().fuel_per_call,
            panic: None,
            module: module.info.name.as_str().into(),
        };
        let mut store = Store::new(engine.engine(), state);
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        // Start functions and data initialisers run on this budget too.
        store.set_fuel(engine.limits().fuel_per_call)?;
        let bindings = module.pre.instantiate(&mut store)?;
        Ok(Instance { store, bindings })
    }

    /// Runs `call` with `txn` as the store and the entry's time and entropy as WASI's.
    fn run<R>(
        &mut self,
        input: CallInput,
        txn: &mut Txn,
        call: impl FnOnce(&bindings::Applier, &mut Store<GuestState>, &wit::EntryMeta) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let data = self.store.data_mut();
        data.txn = std::mem::replace(txn, Txn::new(Default::default()));
        data.source = input.source;
        data.panic = None;
        let budget = data.budget;
        let result = self.store.set_fuel(budget).and_then(|()| call(&self.bindings, &mut self.store, &input.meta));
        let data = self.store.data_mut();
        *txn = std::mem::replace(&mut data.txn, Txn::new(Default::default()));
        result.map_err(|e| CallError::Trapped(classify(&e, data.panic.take(), budget)))
    }

    pub(crate) fn info(&mut self) -> Result<Info, CallError> {
        let meta = CallInput::new(Meta { index: 0, term: 0, timestamp_ns: 0, caller: None, entropy: [0; 32] });
        let info = self.run(meta, &mut Txn::read_only(Default::default()), |b, s, _| {
            b.wasmraft_applier_state_machine().call_info(s)
        })?;
        Ok(Info { name: info.name, version: info.version })
    }

    fn apply(&mut self, meta: Meta, command: Payload, txn: &mut Txn) -> Result<Vec<u8>, CallError> {
        let payload = to_wit_payload(command);
        self.run(CallInput::new(meta), txn, |b, s, m| b.wasmraft_applier_state_machine().call_apply(s, m, &payload))?
            .map_err(|e| CallError::Refused(from_wit_error(e)))
    }

    fn query(&mut self, meta: Meta, query: Payload, txn: &mut Txn) -> Result<Vec<u8>, CallError> {
        let payload = to_wit_payload(query);
        self.run(CallInput::new(meta), txn, |b, s, m| b.wasmraft_applier_state_machine().call_query(s, m, &payload))?
            .map_err(|e| CallError::Refused(from_wit_error(e)))
    }
}

/// A trap as an error result. The message is deterministic: it names the fault, never a
/// backtrace or an address.
fn classify(err: &wasmtime::Error, panic: Option<String>, budget: u64) -> ApplierError {
    if let Some(fault) = err.downcast_ref::<GuestFault>() {
        let code = match fault {
            GuestFault::OutOfFuel { .. } => "out-of-fuel",
            GuestFault::OutOfMemory { .. } => "out-of-memory",
            GuestFault::TableLimit { .. } | GuestFault::Store(_) => "limit-exceeded",
        };
        return ApplierError::new(code, fault.to_string());
    }
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return ApplierError::new("exit", format!("the applier called exit({})", exit.0));
    }
    match (err.downcast_ref::<Trap>(), panic) {
        (Some(Trap::OutOfFuel), _) => ApplierError::new("out-of-fuel", GuestFault::OutOfFuel { budget }.to_string()),
        (Some(Trap::StackOverflow), _) => ApplierError::new("stack-overflow", "the call overflowed the wasm stack"),
        (_, Some(message)) => ApplierError::new("panic", format!("the applier {message}")),
        (Some(trap), None) => ApplierError::new("trap", format!("the applier trapped: {trap}")),
        // A host function failed in a way we did not classify (a WASI resource error, say):
        // the root cause is a property of the call, not of the node.
        (None, None) => ApplierError::new("trap", format!("the applier trapped: {}", err.root_cause())),
    }
}

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
        Instance::new(&self.engine, &self.module, index).map_err(|e| HostError::Instantiate(format!("{e:#}")))
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
        Ok(live.apply(meta, command, txn))
    }

    fn query(&self, meta: Meta, query: Payload, txn: &mut Txn) -> Result<Outcome, HostError> {
        Ok(self.instance(meta.index)?.query(meta, query, txn))
    }

    fn reset(&mut self) {
        self.live = None;
    }
}
