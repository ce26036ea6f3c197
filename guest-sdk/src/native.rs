//! Running an applier natively, without wasm: the host (or a unit test) lends the applier a
//! [`Host`] for the duration of one call, and the SDK's store functions reach it through a
//! thread-local. The applier's code is the same as in its wasm build.

use crate::contract::{
    Action, ApplierError, Encoding, HttpOutcome, HttpRequest, HttpResponse, Info, Level, Meta, Payload,
};
use crate::{Applier, dispatch};
use std::cell::Cell;
use std::ptr::NonNull;

/// What a native embedding provides: the `store` and `log` interfaces of the WIT world.
pub trait Host {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>>;
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
    fn delete(&mut self, key: Vec<u8>);
    /// Up to `limit` entries of `[start, end)` in key order, each [`pack`]ed.
    fn scan(&mut self, start: &[u8], end: Option<&[u8]>, limit: u32) -> Vec<u8>;
    fn log(&mut self, level: Level, message: &str);
}

/// Appends an entry to a page of a scan as the WIT `scan-packed` lays it out: the key's
/// length as 4 little-endian bytes, the key, the value's length, the value.
pub fn pack(page: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    for part in [key, value] {
        // Keys and values are far below 4 GiB (the host caps them).
        page.extend_from_slice(&(part.len() as u32).to_le_bytes());
        page.extend_from_slice(part);
    }
}

thread_local! {
    static CURRENT: Cell<Option<NonNull<dyn Host>>> = const { Cell::new(None) };
}

/// Runs `f` with `host` installed as this thread's store.
fn with_current<R>(host: &mut dyn Host, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<NonNull<dyn Host>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let ptr: NonNull<dyn Host + '_> = NonNull::from(host);
    // Safety: the pointer is only reachable through `with_host` while `f` runs; `Restore`
    // removes it before `host`'s borrow ends, even if `f` unwinds.
    let ptr: NonNull<dyn Host + 'static> = unsafe { std::mem::transmute(ptr) };
    let _restore = Restore(CURRENT.with(|c| c.replace(Some(ptr))));
    f()
}

pub(crate) fn with_host<R>(f: impl FnOnce(&mut dyn Host) -> R) -> R {
    let ptr = CURRENT
        .with(|c| c.get())
        .expect("wasmraft-sdk: the store is only reachable during an apply, query, migrate or render call");
    // Safety: installed by `with_current` for the current call; the host never calls back
    // into the applier, so no second `&mut` to it exists while this one lives.
    f(unsafe { &mut *ptr.as_ptr() })
}

pub fn info<A: Applier>() -> Info {
    dispatch::info::<A>()
}

pub fn routes<A: Applier>() -> Vec<String> {
    dispatch::routes::<A>()
}

pub fn apply<A: Applier>(host: &mut dyn Host, meta: Meta, command: &Payload) -> Result<Vec<u8>, ApplierError> {
    with_current(host, || dispatch::apply::<A>(meta, command.encoding, &command.bytes))
}

pub fn query<A: Applier>(host: &mut dyn Host, meta: Meta, query: &Payload) -> Result<Vec<u8>, ApplierError> {
    with_current(host, || dispatch::query::<A>(meta, query.encoding, &query.bytes))
}

pub fn migrate<A: Applier>(host: &mut dyn Host, meta: Meta, previous: &Info) -> Result<(), ApplierError> {
    with_current(host, || dispatch::migrate::<A>(meta, previous))
}

/// `handle` and `housekeeping` have no store access: no host is installed, so a store call
/// from them fails as it would outside any call.
pub fn handle<A: Applier>(meta: Meta, request: HttpRequest) -> Action {
    dispatch::handle::<A>(meta, request)
}

/// `host` holds the state the outcome came from, read-only.
pub fn render<A: Applier>(host: &mut dyn Host, encoding: Encoding, outcome: HttpOutcome) -> HttpResponse {
    with_current(host, || dispatch::render::<A>(encoding, outcome))
}

pub fn housekeeping<A: Applier>(meta: Meta) -> Option<Payload> {
    dispatch::housekeeping::<A>(meta)
}
