//! The call context: the entry's meta (index, time, caller), ids, logging and the raw store.
//!
//! `apply` and `migrate` get `&mut Ctx`, `query` gets `&Ctx`: writing needs `&mut`, so a
//! query cannot write by construction.

use crate::contract::{Caller, Level, Meta};
use crate::ids::Id;
use crate::sys;
use crate::time::Timestamp;
use std::collections::VecDeque;

pub struct Ctx {
    meta: Meta,
    ids_issued: u64,
}

impl Ctx {
    pub(crate) fn new(meta: Meta) -> Self {
        Ctx { meta, ids_issued: 0 }
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The entry's log index (for a query: the applied index it is served at).
    pub fn index(&self) -> u64 {
        self.meta.index
    }

    pub fn term(&self) -> u64 {
        self.meta.term
    }

    /// The entry's time: the proposer's clock, made monotonic by the host.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.meta.timestamp_ns)
    }

    pub fn caller(&self) -> Option<&Caller> {
        self.meta.caller.as_ref()
    }

    /// A fresh v4 UUID, derived from the entry's entropy: the same on every node, different
    /// for every call within the entry.
    pub fn new_id(&mut self) -> Id {
        let id = Id::derive(&self.meta.entropy, self.ids_issued);
        self.ids_issued += 1;
        id
    }

    pub fn log(&self, level: Level, message: &str) {
        sys::log(level, message)
    }

    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        sys::get(key)
    }

    /// Stages a write (an owned `Vec` moves to the host without a copy in native builds).
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        sys::put(key.into(), value.into())
    }

    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        sys::delete(key.into())
    }

    /// Entries with `start <= key < end` (`None`: to the last key), in key order, fetched
    /// from the host a page at a time.
    pub fn scan(&self, start: &[u8], end: Option<&[u8]>) -> Scan {
        Scan::new(start.to_vec(), end.map(<[u8]>::to_vec))
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Scan {
        Scan::new(prefix.to_vec(), crate::keys::prefix_end(prefix))
    }
}

/// A paged, ordered scan over raw keys. Pages start small (most scans stop early) and grow.
pub struct Scan {
    next_start: Vec<u8>,
    end: Option<Vec<u8>>,
    page: VecDeque<(Vec<u8>, Vec<u8>)>,
    page_size: u32,
    exhausted: bool,
}

const FIRST_PAGE: u32 = 8;
const MAX_PAGE: u32 = 256;

impl Scan {
    fn new(start: Vec<u8>, end: Option<Vec<u8>>) -> Self {
        Scan { next_start: start, end, page: VecDeque::new(), page_size: FIRST_PAGE, exhausted: false }
    }
}

impl Iterator for Scan {
    type Item = (Vec<u8>, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() && !self.exhausted {
            let page = sys::scan(&self.next_start, self.end.as_deref(), self.page_size);
            match page.last() {
                None => self.exhausted = true,
                Some((last, _)) => {
                    // The smallest key after `last`.
                    self.next_start.clear();
                    self.next_start.extend_from_slice(last);
                    self.next_start.push(0);
                }
            }
            self.page.extend(page);
            self.page_size = (self.page_size * 2).min(MAX_PAGE);
        }
        self.page.pop_front()
    }
}
