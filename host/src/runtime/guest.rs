//! What a call can reach: the store's data (the call's transaction, its entry, its limits)
//! and the host side of the `wasmraft:applier` imports, `store` and `log`.

use super::engine::{MAX_TABLE_ELEMENTS, fuel};
use super::state::{StoreFault, Txn};
use super::wasi::{EntrySource, WasiHost};
use std::sync::Arc;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{CallHook, ResourceLimiter, StoreContextMut};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "applier" });
}

use bindings::wasmraft::applier::log::Level as WitLevel;

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
    pub(super) txn: Txn,
    pub(super) source: EntrySource,
    pub(super) seed: (u64, u64),
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) memory_limit: usize,
    pub(super) budget: u64,
    pub(super) panic: Option<String>,
    pub(super) module: Arc<str>,
    /// Set when this machine failed the call (the OS refused memory, say): what happened
    /// is no outcome of the entry, since another node would not fail alike.
    pub(super) host_fault: Option<String>,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHost for GuestState {
    fn virtual_parts(&mut self) -> (&mut EntrySource, (u64, u64), &mut ResourceTable) {
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

    // A growth the limiter allowed can still fail: beyond the memory type's own maximum
    // (the guest's doing, the same everywhere: it sees -1, as wasm specifies), or because
    // this machine refused (not an outcome: the call fails here alone).
    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed(error)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed(error)
    }
}

impl GuestState {
    fn grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        if !machine_failed(&error) {
            return Ok(());
        }
        self.host_fault = Some(format!("{error:#}"));
        Err(error)
    }
}

/// Whether an error comes from this machine rather than from the guest's code: an
/// allocation or a system call that failed. Such errors differ from node to node.
pub(super) fn machine_failed(error: &wasmtime::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some()
            || cause.downcast_ref::<rustix::io::Errno>().is_some()
            || cause.downcast_ref::<wasmtime::OutOfMemory>().is_some()
    })
}

/// Takes `cost` out of the guest's fuel, trapping when it runs out.
fn burn(cx: &mut StoreContextMut<'_, GuestState>, cost: u64) -> wasmtime::Result<()> {
    let left = cx.get_fuel()?;
    if left < cost {
        cx.set_fuel(0)?;
        return Err(GuestFault::OutOfFuel { budget: cx.data().budget }.into());
    }
    cx.set_fuel(left - cost)
}

/// Charges what a call moves across the boundary; the call itself is charged by
/// [`call_hook`].
fn charge(cx: &mut StoreContextMut<'_, GuestState>, bytes: usize) -> wasmtime::Result<()> {
    burn(cx, fuel::for_bytes(bytes))
}

/// Every call from the guest into the host, ours, WASI's or wasmtime's own (a memory
/// growth, a resource drop), costs [`fuel::HOST_CALL`] on the way in; the bytes WASI's
/// random source handed out are charged on the way back. So no import is free, and a guest
/// cannot do unbounded work through one while its own instruction count stays low.
pub(super) fn call_hook(mut cx: StoreContextMut<'_, GuestState>, hook: CallHook) -> wasmtime::Result<()> {
    match hook {
        CallHook::CallingHost => burn(&mut cx, fuel::HOST_CALL),
        CallHook::ReturningFromHost => {
            let bytes = cx.data_mut().source.take_handed_out();
            match bytes {
                0 => Ok(()),
                n => burn(&mut cx, fuel::for_bytes(n)),
            }
        }
        CallHook::CallingWasm | CallHook::ReturningFromWasm => Ok(()),
    }
}

const MAX_PANIC_MESSAGE: usize = 4096;

/// One page of a guest's scan, shown to `visit`; its bounds and its entries charged. What
/// `scan` and `scan-packed` both hand back, in their own shapes.
fn scan_page(
    cx: &mut StoreContextMut<'_, GuestState>,
    (start, end, limit): (Vec<u8>, Option<Vec<u8>>, u32),
    mut visit: impl FnMut(&[u8], &[u8]),
) -> wasmtime::Result<()> {
    charge(cx, start.len() + end.as_ref().map_or(0, Vec::len))?;
    let mut bytes = 0;
    cx.data().txn.scan(&start, end.as_deref(), limit, |key, value| {
        bytes += key.len() + value.len();
        visit(key, value);
    });
    charge(cx, bytes)
}

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
    store.func_wrap("scan", |mut cx: Cx, args: (Vec<u8>, Option<Vec<u8>>, u32)| {
        let mut page = Vec::new();
        scan_page(&mut cx, args, |k, v| page.push((k.to_vec(), v.to_vec())))?;
        Ok((page,))
    })?;
    store.func_wrap("scan-packed", |mut cx: Cx, args: (Vec<u8>, Option<Vec<u8>>, u32)| {
        let mut packed = Vec::new();
        scan_page(&mut cx, args, |key, value| wasmraft_sdk::native::pack(&mut packed, key, value))?;
        Ok((packed,))
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
