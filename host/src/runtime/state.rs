//! The applier's state: an ordered, persistent key-value map, and the transaction one call
//! stages its writes in.
//!
//! The map is persistent (`imbl::OrdMap`, a B-tree with shared nodes), so a copy of the
//! whole state is one reference-count increment: checkpoints and queries take one while
//! applies go on, and only the nodes a later write touches get copied.
//!
//! The state digest is a multiset hash, the wrapping sum of a 256-bit hash of each
//! (key, value) over all entries, kept current by every commit, so it costs O(writes)
//! rather than O(state) and two nodes with the same entries have the same digest whatever
//! order they wrote them in. It detects divergence between replicas (as TiKV's consistency
//! check does with a CRC), so the entry hash is xxh3, twice with different seeds: 60-80 ns
//! for a 256-byte value where blake3 took 500 ns here. Integrity against tampering is the
//! job of the checksums on what is stored or sent (checkpoints, modules), which use blake3.

use bytes::Bytes;
use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

/// Consensus-critical bounds on what one call may write. Exceeding one traps the call on
/// every node alike, so they may only change together with the protocol version.
pub mod limits {
    pub const MAX_KEY_BYTES: usize = 4 << 10;
    pub const MAX_VALUE_BYTES: usize = 8 << 20;
    /// Keys plus values staged by one call.
    pub const MAX_WRITE_SET_BYTES: usize = 64 << 20;
    /// Entries one `scan` call returns at most, whatever limit the guest asks for.
    pub const MAX_SCAN_PAGE: u32 = 1024;
}

/// An order-independent hash of a set of key-value entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Digest([u64; 4]);

fn entry_hash(key: &[u8], value: &[u8]) -> [u64; 4] {
    // Two seeds make 256 bits. Part of the replicated behaviour: changing the seeds or the
    // layout changes every node's digest.
    let [a, b] = [0x7761_736d_7261_6674u64, 0x6469_6765_7374_2d31].map(|seed| {
        let mut h = xxhash_rust::xxh3::Xxh3::with_seed(seed);
        // Length-prefix the key so that (k, v) pairs cannot be confused by shifting the split.
        h.update(&(key.len() as u64).to_le_bytes());
        h.update(key);
        h.update(value);
        h.digest128()
    });
    [a as u64, (a >> 64) as u64, b as u64, (b >> 64) as u64]
}

impl Digest {
    fn add(&mut self, key: &[u8], value: &[u8]) {
        let h = entry_hash(key, value);
        for (lane, x) in self.0.iter_mut().zip(h) {
            *lane = lane.wrapping_add(x);
        }
    }

    fn remove(&mut self, key: &[u8], value: &[u8]) {
        let h = entry_hash(key, value);
        for (lane, x) in self.0.iter_mut().zip(h) {
            *lane = lane.wrapping_sub(x);
        }
    }

    pub fn to_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, lane) in self.0.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&lane.to_le_bytes());
        }
        out
    }
}

/// A position in the Raft log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct LogPosition {
    pub index: u64,
    pub term: u64,
}

/// A hash of the replicated state: equal on nodes that applied the same entries.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateHash(pub [u8; 32]);

impl fmt::Display for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateHash({self})")
    }
}

/// The applier module that applies entries, as the replicated state records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRecord {
    pub name: String,
    pub version: String,
    /// blake3 of the component, hex (empty for a native applier).
    pub hash: String,
    /// The log index it took effect at (0: the bootstrap module).
    pub since_index: u64,
}

/// One upgrade entry and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeRecord {
    pub index: u64,
    pub name: String,
    pub version: String,
    pub hash: String,
    /// Why the cluster kept its module, if it did.
    pub refused: Option<String>,
}

/// What the host replicates for one applier besides its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemState {
    /// The timestamp of this applier's latest committed entry: its entries' time never
    /// goes below it.
    pub clock_ns: u64,
    pub module: ModuleRecord,
    pub upgrades: Vec<UpgradeRecord>,
}

/// The hash of the replicated state: the applier's entries, the entry clock, the active
/// module's name, version and activation index, and the upgrade history. The module's
/// bytes are not in it (a native build of the same applier has none); different bytes
/// show in the entries, and Status reports the content hash.
pub(super) fn state_hash(state: &StateMap, system: &SystemState) -> StateHash {
    let mut h = blake3::Hasher::new_derive_key("wasmraft state hash v2");
    h.update(&state.digest().to_bytes());
    h.update(&(state.len() as u64).to_le_bytes());
    h.update(&system.clock_ns.to_le_bytes());
    let m = &system.module;
    let identity = (&m.name, &m.version, m.since_index);
    let history: Vec<_> = system.upgrades.iter().map(|u| (u.index, &u.name, &u.version, &u.refused)).collect();
    h.update(&postcard::to_allocvec(&(identity, history)).expect("encodes"));
    StateHash(*h.finalize().as_bytes())
}

/// The hash of the whole replicated state from each hosted applier's hash, in hosting
/// order. With one applier it is that applier's, so a single-applier cluster's hash is
/// what it was before a node could host several.
pub fn combined_hash(parts: impl IntoIterator<Item = StateHash>) -> StateHash {
    let parts: Vec<StateHash> = parts.into_iter().collect();
    if let [one] = parts[..] {
        return one;
    }
    let mut h = blake3::Hasher::new_derive_key("wasmraft state hash v3: several appliers");
    for part in &parts {
        h.update(&part.0);
    }
    StateHash(*h.finalize().as_bytes())
}

/// The hash of everything replicated: the appliers' [`combined_hash`] and, once it holds
/// anything, the request table (so a cluster that never used request ids keeps its hash).
pub fn whole_hash(appliers: impl IntoIterator<Item = StateHash>, requests: &StateMap) -> StateHash {
    let appliers = combined_hash(appliers);
    if requests.is_empty() {
        return appliers;
    }
    let mut h = blake3::Hasher::new_derive_key("wasmraft state hash v4: request table");
    h.update(&appliers.0);
    h.update(&requests.digest().to_bytes());
    h.update(&(requests.len() as u64).to_le_bytes());
    StateHash(*h.finalize().as_bytes())
}

/// The committed state. Cloning is O(1).
#[derive(Clone, Default)]
pub struct StateMap {
    map: OrdMap<Bytes, Bytes>,
    digest: Digest,
}

/// Writes staged by one call: `None` deletes.
pub type WriteSet = BTreeMap<Bytes, Option<Bytes>>;

fn range_bounds<'a>(start: &'a [u8], end: Option<&'a [u8]>) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    (Bound::Included(start), end.map_or(Bound::Unbounded, Bound::Excluded))
}

impl StateMap {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.map.get(key)
    }

    /// Every entry in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.map.iter()
    }

    /// The entries of `[start, end)` in key order.
    pub fn range<'a>(&'a self, start: &'a [u8], end: Option<&'a [u8]>) -> impl Iterator<Item = (&'a Bytes, &'a Bytes)> {
        self.map.range::<_, [u8]>(range_bounds(start, end))
    }

    /// Applies a call's writes; the digest follows.
    pub fn commit(&mut self, writes: WriteSet) {
        for (key, value) in writes {
            let old = match value {
                Some(value) => {
                    self.digest.add(&key, &value);
                    self.map.insert(key.clone(), value)
                }
                None => self.map.remove(&key[..]),
            };
            if let Some(old) = old {
                self.digest.remove(&key, &old);
            }
        }
    }

    /// Builds a map from entries (a snapshot being loaded); later duplicates win.
    pub fn from_entries(entries: impl IntoIterator<Item = (Bytes, Bytes)>) -> Self {
        let mut state = StateMap::default();
        state.load(entries);
        state
    }

    /// Adds loaded entries straight into the map, not through a write set: a snapshot of a
    /// million keys loads without sorting them twice. Later duplicates win.
    pub fn load(&mut self, entries: impl IntoIterator<Item = (Bytes, Bytes)>) {
        for (key, value) in entries {
            self.digest.add(&key, &value);
            if let Some(old) = self.map.insert(key.clone(), value) {
                self.digest.remove(&key, &old);
            }
        }
    }
}

/// Why the host refused a store call; the call traps with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreFault {
    #[error("a key of {0} bytes exceeds the limit of {max}", max = limits::MAX_KEY_BYTES)]
    KeyTooLarge(usize),
    #[error("a value of {0} bytes exceeds the limit of {max}", max = limits::MAX_VALUE_BYTES)]
    ValueTooLarge(usize),
    #[error("the call's writes exceed {max} bytes", max = limits::MAX_WRITE_SET_BYTES)]
    WriteSetTooLarge,
    #[error("a query tried to write: queries are read-only")]
    WriteInQuery,
}

/// One call's view of the state: the committed map plus the call's own staged writes.
/// Nothing reaches the map until the runtime commits [`Txn::into_writes`].
pub struct Txn {
    base: StateMap,
    writes: WriteSet,
    staged_bytes: usize,
    writable: bool,
}

impl Txn {
    pub fn new(base: StateMap) -> Self {
        Txn { base, writes: WriteSet::new(), staged_bytes: 0, writable: true }
    }

    pub fn read_only(base: StateMap) -> Self {
        Txn { writable: false, ..Txn::new(base) }
    }

    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        match self.writes.get(key) {
            Some(staged) => staged.clone(),
            None => self.base.get(key).cloned(),
        }
    }

    fn stage(&mut self, key: Bytes, value: Option<Bytes>) -> Result<(), StoreFault> {
        if !self.writable {
            return Err(StoreFault::WriteInQuery);
        }
        if key.len() > limits::MAX_KEY_BYTES {
            return Err(StoreFault::KeyTooLarge(key.len()));
        }
        let value_len = value.as_ref().map_or(0, Bytes::len);
        if value_len > limits::MAX_VALUE_BYTES {
            return Err(StoreFault::ValueTooLarge(value_len));
        }
        // Counts every staged write, overwritten or not: a bound on the call's work.
        self.staged_bytes += key.len() + value_len;
        if self.staged_bytes > limits::MAX_WRITE_SET_BYTES {
            return Err(StoreFault::WriteSetTooLarge);
        }
        self.writes.insert(key, value);
        Ok(())
    }

    pub fn put(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<(), StoreFault> {
        self.stage(key.into(), Some(value.into()))
    }

    pub fn delete(&mut self, key: impl Into<Bytes>) -> Result<(), StoreFault> {
        self.stage(key.into(), None)
    }

    /// Shows `visit` up to `limit` (capped at [`limits::MAX_SCAN_PAGE`]) entries of
    /// `[start, end)`, in key order, staged writes included and staged deletes left out.
    /// Borrowed, not cloned: a busy cell's scans go over thousands of entries per entry
    /// applied, and each clone was two reference counts taken and dropped.
    pub fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: u32, mut visit: impl FnMut(&[u8], &[u8])) {
        let limit = limit.min(limits::MAX_SCAN_PAGE) as usize;
        let bounds = range_bounds(start, end);
        let mut base = self.base.range(start, end).peekable();
        let mut staged = self.writes.range::<[u8], _>(bounds).peekable();
        let mut shown = 0;
        while shown < limit {
            // Merge the two ordered streams; on equal keys the staged write wins.
            let next = match (base.peek(), staged.peek()) {
                (None, None) => break,
                (Some(_), None) => base.next().map(|(k, v)| (k, Some(v))),
                (None, Some(_)) => staged.next().map(|(k, v)| (k, v.as_ref())),
                (Some((bk, _)), Some((sk, _))) => match bk.cmp(sk) {
                    std::cmp::Ordering::Less => base.next().map(|(k, v)| (k, Some(v))),
                    std::cmp::Ordering::Equal => {
                        base.next();
                        staged.next().map(|(k, v)| (k, v.as_ref()))
                    }
                    std::cmp::Ordering::Greater => staged.next().map(|(k, v)| (k, v.as_ref())),
                },
            };
            if let Some((key, Some(value))) = next {
                visit(key, value);
                shown += 1;
            }
        }
    }

    /// The staged writes, for the runtime to commit.
    pub fn into_writes(self) -> WriteSet {
        self.writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn state(pairs: &[(&str, &str)]) -> StateMap {
        StateMap::from_entries(pairs.iter().map(|(k, v)| (b(k), b(v))))
    }

    #[test]
    fn digest_depends_on_content_not_history() {
        let a = state(&[("x", "1"), ("y", "2")]);
        let mut b2 = state(&[("y", "2"), ("z", "9")]);
        let mut w = WriteSet::new();
        w.insert(b("z"), None);
        w.insert(b("x"), Some(b("0")));
        b2.commit(w);
        let mut w = WriteSet::new();
        w.insert(b("x"), Some(b("1")));
        b2.commit(w);
        assert_eq!(a.digest(), b2.digest());
        assert_ne!(a.digest(), state(&[("x", "1"), ("y", "3")]).digest());
        assert_ne!(state(&[("ab", "c")]).digest(), state(&[("a", "bc")]).digest());
        let mut emptied = state(&[("k", "v")]);
        emptied.commit(WriteSet::from([(b("k"), None)]));
        assert_eq!(emptied.digest(), StateMap::default().digest());
    }

    fn scan(t: &Txn, start: &[u8], end: Option<&[u8]>, limit: u32) -> Vec<(Bytes, Bytes)> {
        let mut out = Vec::new();
        t.scan(start, end, limit, |k, v| out.push((Bytes::copy_from_slice(k), Bytes::copy_from_slice(v))));
        out
    }

    #[test]
    fn txn_reads_its_own_writes_and_scans_merged() {
        let base = state(&[("a", "1"), ("b", "2"), ("c", "3"), ("e", "5")]);
        let mut t = Txn::new(base.clone());
        t.put(b("b"), b("20")).unwrap();
        t.delete(b("c")).unwrap();
        t.put(b("d"), b("4")).unwrap();
        assert_eq!(t.get(b"b"), Some(b("20")));
        assert_eq!(t.get(b"c"), None);
        assert_eq!(
            scan(&t, b"", None, 100),
            vec![(b("a"), b("1")), (b("b"), b("20")), (b("d"), b("4")), (b("e"), b("5"))]
        );
        assert_eq!(scan(&t, b"b", Some(b"e"), 100).len(), 2);
        assert_eq!(scan(&t, b"", None, 2).len(), 2);
        // The base is untouched until commit.
        assert_eq!(base.get(b"c"), Some(&b("3")));
    }

    #[test]
    fn txn_enforces_limits_and_read_only() {
        let mut t = Txn::read_only(StateMap::default());
        assert_eq!(t.put(b("k"), b("v")), Err(StoreFault::WriteInQuery));
        let mut t = Txn::new(StateMap::default());
        let big_key = vec![0u8; limits::MAX_KEY_BYTES + 1];
        assert_eq!(t.put(big_key.clone(), b("v")), Err(StoreFault::KeyTooLarge(big_key.len())));
        assert!(t.into_writes().is_empty());
    }
}
