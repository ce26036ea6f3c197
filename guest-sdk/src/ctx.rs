//! The call context: the entry's meta (index, time, caller), ids, logging and the raw store.
//!
//! `apply` and `migrate` get `&mut Ctx`, `query` gets `&Ctx`: writing needs `&mut`, so a
//! query cannot write by construction.

use crate::contract::{Caller, Level, Meta};
use crate::ids::Id;
use crate::sys;
use crate::time::Timestamp;

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
/// A page arrives packed in one buffer ([`crate::native::pack`]'s layout) and its entries are
/// read where they lie: [`Scan::decoded`] shows each to a decoder, so a scan over thousands
/// of index entries allocates nothing per entry.
pub struct Scan {
    next_start: Vec<u8>,
    end: Option<Vec<u8>>,
    page: Vec<u8>,
    read: usize,
    page_size: u32,
    exhausted: bool,
}

const FIRST_PAGE: u32 = 8;
const MAX_PAGE: u32 = 256;

/// The key and value packed at `at` in `page`, and where the next entry starts.
fn entry_at(page: &[u8], at: usize) -> Option<(&[u8], &[u8], usize)> {
    let part = |at: usize| {
        let len = u32::from_le_bytes(page.get(at..at.checked_add(4)?)?.try_into().ok()?) as usize;
        let end = (at + 4).checked_add(len)?;
        Some((page.get(at + 4..end)?, end))
    };
    let (key, at) = part(at)?;
    let (value, at) = part(at)?;
    Some((key, value, at))
}

impl Scan {
    fn new(start: Vec<u8>, end: Option<Vec<u8>>) -> Self {
        Scan { next_start: start, end, page: Vec::new(), read: 0, page_size: FIRST_PAGE, exhausted: false }
    }

    fn fetch(&mut self) {
        self.page = sys::scan(&self.next_start, self.end.as_deref(), self.page_size);
        self.page_size = (self.page_size * 2).min(MAX_PAGE);
        self.exhausted = self.page.is_empty();
        self.read = 0;
    }

    /// The next entry, shown to `f` where it lies. Each entry is parsed once: the last of a
    /// page also sets where the next page starts. A malformed entry would be the host's
    /// bug: the scan ends there.
    pub fn next_with<T>(&mut self, f: impl FnOnce(&[u8], &[u8]) -> T) -> Option<T> {
        if self.read == self.page.len() && !self.exhausted {
            self.fetch();
        }
        let (key, value, next) = entry_at(&self.page, self.read)?;
        if next == self.page.len() {
            // The smallest key after the page's last.
            self.next_start.clear();
            self.next_start.extend_from_slice(key);
            self.next_start.push(0);
        }
        self.read = next;
        Some(f(key, value))
    }

    /// What `decode` makes of each entry, in key order.
    pub fn decoded<T, F: FnMut(&[u8], &[u8]) -> T>(self, decode: F) -> Decoded<F> {
        Decoded { scan: self, decode }
    }
}

/// A [`Scan`] through a decoder (see [`Scan::decoded`]).
pub struct Decoded<F> {
    scan: Scan,
    decode: F,
}

impl<T, F: FnMut(&[u8], &[u8]) -> T> Iterator for Decoded<F> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.scan.next_with(&mut self.decode)
    }
}

/// Owned copies of the entries.
impl Iterator for Scan {
    type Item = (Vec<u8>, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with(|key, value| (key.to_vec(), value.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::pack;

    #[test]
    fn packed_entries_are_read_in_place_and_a_malformed_tail_ends_the_page() {
        let mut page = Vec::new();
        pack(&mut page, b"k1", b"");
        pack(&mut page, b"key2", b"v");
        let (key, value, next) = entry_at(&page, 0).expect("the first entry");
        assert_eq!((key, value), (&b"k1"[..], &b""[..]));
        let (key, value, end) = entry_at(&page, next).expect("the second entry");
        assert_eq!((key, value, end), (&b"key2"[..], &b"v"[..], page.len()));
        assert!(entry_at(&page, end).is_none());
        // Cut anywhere inside the second entry, or followed by a length past the end: no
        // entry there, and no panic.
        for cut in next..page.len() {
            assert!(entry_at(&page[..cut], next).is_none(), "{cut}");
        }
        page.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(entry_at(&page, end).is_none());
    }
}
