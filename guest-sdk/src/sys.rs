//! The raw host calls, one definition per target: the WIT imports when compiled to wasm,
//! the thread's current [`crate::native::Host`] when compiled natively.

use crate::contract::Level;

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::bindings::wasmraft::applier::{log, store};

    pub fn get(key: &[u8]) -> Option<Vec<u8>> {
        store::get(key)
    }
    pub fn put(key: Vec<u8>, value: Vec<u8>) {
        store::put(&key, &value)
    }
    pub fn delete(key: Vec<u8>) {
        store::delete(&key)
    }
    pub fn scan(start: &[u8], end: Option<&[u8]>, limit: u32) -> Vec<u8> {
        store::scan_packed(start, end, limit)
    }
    pub fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => log::Level::Trace,
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        };
        log::log(level, message)
    }
    pub fn panicked(message: &str) {
        log::panicked(message)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Level;
    use crate::native::with_host;

    pub fn get(key: &[u8]) -> Option<Vec<u8>> {
        with_host(|h| h.get(key))
    }
    pub fn put(key: Vec<u8>, value: Vec<u8>) {
        with_host(|h| h.put(key, value))
    }
    pub fn delete(key: Vec<u8>) {
        with_host(|h| h.delete(key))
    }
    pub fn scan(start: &[u8], end: Option<&[u8]>, limit: u32) -> Vec<u8> {
        with_host(|h| h.scan(start, end, limit))
    }
    pub fn log(level: Level, message: &str) {
        with_host(|h| h.log(level, message))
    }
}

pub(crate) use imp::*;
