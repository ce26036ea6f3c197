//! Typed tables and secondary indexes over the ordered store.
//!
//! Layout: a table row is `'t' ‖ name ‖ key → postcard(value)`; an index entry is
//! `'i' ‖ name ‖ index-key ‖ primary-key → postcard(cover)`, where the cover is what a
//! covering index copies from the row (nothing for a plain index), so a scan of the index
//! answers without loading the rows. Names and keys use the order-preserving encoding of
//! [`crate::keys`], so rows scan in key order and an index scans in index-key order. A
//! table keeps its indexes current on every put and delete.
//!
//! ```ignore
//! const BY_OWNER: Index<Id, Flight, String> = Index::new("flights/owner", |f| vec![f.owner.clone()]);
//! const FLIGHTS: Table<Id, Flight> = Table::new("flights").with_indexes(&[&BY_OWNER]);
//! ```

use crate::Error;
use crate::ctx::{Ctx, Scan};
use crate::keys::{Key, encode_bytes, prefix_end};
use serde::{Serialize, de::DeserializeOwned};
use std::marker::PhantomData;
use std::ops::{Bound, ControlFlow, RangeBounds};

/// Something that must hear about every change to a table's rows (an index).
pub trait IndexOf<K, V> {
    fn update(&self, ctx: &mut Ctx, key: &K, old: Option<&V>, new: Option<&V>) -> Result<(), Error>;
    /// Removes every entry of the index (see [`Table::reindex`]).
    fn clear(&self, ctx: &mut Ctx);
}

pub struct Table<K: 'static, V: 'static> {
    name: &'static str,
    indexes: &'static [&'static (dyn IndexOf<K, V> + Sync)],
    _types: PhantomData<fn() -> (K, V)>,
}

fn namespace(tag: u8, name: &str) -> Vec<u8> {
    let mut out = vec![tag];
    encode_bytes(name.as_bytes(), &mut out);
    out
}

/// Byte bounds `[start, end)` of the keys that start with `prefix ‖ encode(k)` for `k` in
/// `range`: a table's rows (`prefix ‖ enc(k)`) and an index's entries (`prefix ‖ enc(k) ‖
/// enc(primary key)`) alike.
fn byte_range<T: Key>(prefix: &[u8], range: &impl RangeBounds<T>) -> (Vec<u8>, Option<Vec<u8>>) {
    let with = |k: &T| {
        let mut out = prefix.to_vec();
        k.encode(&mut out);
        out
    };
    // Encodings are self-delimiting, so the first key past every key that starts with
    // `enc(k)` bounds them all. It exists: namespaces start with a tag byte below 0xFF.
    let past = |k: &T| prefix_end(&with(k));
    let start = match range.start_bound() {
        Bound::Included(k) => with(k),
        Bound::Excluded(k) => past(k).unwrap_or_default(),
        Bound::Unbounded => prefix.to_vec(),
    };
    let end = match range.end_bound() {
        Bound::Included(k) => past(k),
        Bound::Excluded(k) => Some(with(k)),
        Bound::Unbounded => prefix_end(prefix),
    };
    (start, end)
}

fn decode_value<V: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<V, Error> {
    postcard::from_bytes(bytes).map_err(|e| Error::internal(format!("a stored value of {what} does not decode: {e}")))
}

fn encode_value<V: Serialize>(what: &str, value: &V) -> Result<Vec<u8>, Error> {
    postcard::to_allocvec(value).map_err(|e| Error::internal(format!("a value for {what} does not encode: {e}")))
}

impl<K: Key, V: Serialize + DeserializeOwned> Table<K, V> {
    pub const fn new(name: &'static str) -> Self {
        Table { name, indexes: &[], _types: PhantomData }
    }

    pub const fn with_indexes(self, indexes: &'static [&'static (dyn IndexOf<K, V> + Sync)]) -> Self {
        Table { indexes, ..self }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    fn prefix(&self) -> Vec<u8> {
        namespace(b't', self.name)
    }

    fn row_key(&self, key: &K) -> Vec<u8> {
        let mut out = self.prefix();
        key.encode(&mut out);
        out
    }

    pub fn get(&self, ctx: &Ctx, key: &K) -> Result<Option<V>, Error> {
        ctx.get(&self.row_key(key)).map(|bytes| decode_value(self.name, &bytes)).transpose()
    }

    pub fn contains(&self, ctx: &Ctx, key: &K) -> bool {
        ctx.get(&self.row_key(key)).is_some()
    }

    /// Inserts or replaces the row at `key`, updating the table's indexes.
    pub fn put(&self, ctx: &mut Ctx, key: &K, value: &V) -> Result<(), Error> {
        let row_key = self.row_key(key);
        if !self.indexes.is_empty() {
            let old = ctx.get(&row_key).map(|b| decode_value::<V>(self.name, &b)).transpose()?;
            for index in self.indexes {
                index.update(ctx, key, old.as_ref(), Some(value))?;
            }
        }
        ctx.put(row_key, encode_value(self.name, value)?);
        Ok(())
    }

    /// Removes the row at `key` and its index entries; returns what was there.
    pub fn delete(&self, ctx: &mut Ctx, key: &K) -> Result<Option<V>, Error> {
        let row_key = self.row_key(key);
        let Some(bytes) = ctx.get(&row_key) else { return Ok(None) };
        let old = decode_value::<V>(self.name, &bytes)?;
        for index in self.indexes {
            index.update(ctx, key, Some(&old), None)?;
        }
        ctx.delete(row_key);
        Ok(Some(old))
    }

    /// Rebuilds the table's indexes from its rows: every entry removed, then each row's
    /// written. For a migration that changes how an index keys or covers its rows (entries
    /// of the old layout need not decode). Returns the number of rows.
    pub fn reindex(&self, ctx: &mut Ctx) -> Result<usize, Error> {
        for index in self.indexes {
            index.clear(ctx);
        }
        let rows: Vec<(K, V)> = self.iter(ctx).collect::<Result<_, _>>()?;
        for (key, row) in &rows {
            for index in self.indexes {
                index.update(ctx, key, None, Some(row))?;
            }
        }
        Ok(rows.len())
    }

    /// Every row, in key order.
    pub fn iter(&self, ctx: &Ctx) -> Rows<K, V> {
        self.range(ctx, ..)
    }

    /// The rows whose keys fall in `range`, in key order.
    pub fn range(&self, ctx: &Ctx, range: impl RangeBounds<K>) -> Rows<K, V> {
        let prefix = self.prefix();
        let (start, end) = byte_range(&prefix, &range);
        Rows { scan: ctx.scan(&start, end.as_deref()), prefix_len: prefix.len(), table: self.name, _t: PhantomData }
    }

    /// The rows whose keys start with `first` (the leading elements of a tuple key).
    pub fn with_prefix<P: Key>(&self, ctx: &Ctx, first: &P) -> Rows<K, V> {
        let prefix = self.prefix();
        let mut scan_prefix = prefix.clone();
        first.encode(&mut scan_prefix);
        Rows { scan: ctx.scan_prefix(&scan_prefix), prefix_len: prefix.len(), table: self.name, _t: PhantomData }
    }
}

/// Rows of a table in key order; an error for a row that does not decode.
pub struct Rows<K, V> {
    scan: Scan,
    prefix_len: usize,
    table: &'static str,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K: Key, V: DeserializeOwned> Iterator for Rows<K, V> {
    type Item = Result<(K, V), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let (prefix_len, table) = (self.prefix_len, self.table);
        self.scan.next_with(|key, value| {
            K::from_key_bytes(&key[prefix_len..])
                .ok_or_else(|| Error::internal(format!("a stored key of {table} does not decode")))
                .and_then(|k| Ok((k, decode_value(table, value)?)))
        })
    }
}

/// A secondary index of a `Table<K, V>` by `IK`: `keys_of` lists a row's index keys (none,
/// one or many, such as the cells a volume covers). A covering index also keeps `C`, what
/// `covers` takes from the row, in each of the row's entries (SQL's `INCLUDE` columns): a
/// scan then needs no row load for what it covers, and a row written with another cover
/// has all its entries rewritten.
pub struct Index<K, V, IK, C = ()> {
    name: &'static str,
    keys_of: fn(&V) -> Vec<IK>,
    covers: fn(&V) -> C,
    _types: PhantomData<fn() -> K>,
}

impl<K: Key, V, IK: Key> Index<K, V, IK> {
    pub const fn new(name: &'static str, keys_of: fn(&V) -> Vec<IK>) -> Self {
        Index::covering(name, keys_of, |_| ())
    }
}

impl<K: Key, V, IK: Key, C: Serialize + DeserializeOwned> Index<K, V, IK, C> {
    pub const fn covering(name: &'static str, keys_of: fn(&V) -> Vec<IK>, covers: fn(&V) -> C) -> Self {
        Index { name, keys_of, covers, _types: PhantomData }
    }

    /// The bytes every entry of the index starts with.
    pub fn prefix(&self) -> Vec<u8> {
        namespace(b'i', self.name)
    }

    fn entry_keys(&self, key: &K, value: &V) -> Vec<Vec<u8>> {
        let prefix = self.prefix();
        let mut out: Vec<Vec<u8>> = (self.keys_of)(value)
            .iter()
            .map(|ik| {
                let mut entry = prefix.clone();
                ik.encode(&mut entry);
                key.encode(&mut entry);
                entry
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Primary keys of the rows whose index keys include `ik`, in primary-key order.
    pub fn lookup(&self, ctx: &Ctx, ik: &IK) -> impl Iterator<Item = Result<K, Error>> + use<K, V, IK, C> {
        let mut prefix = self.prefix();
        ik.encode(&mut prefix);
        let skip = prefix.len();
        let name = self.name;
        ctx.scan_prefix(&prefix).decoded(move |entry, _| decode_entry(name, &entry[skip..]))
    }

    /// `(index key, primary key)` pairs with index keys in `range`, in index-key order.
    pub fn range<R: RangeBounds<IK>>(
        &self,
        ctx: &Ctx,
        range: R,
    ) -> impl Iterator<Item = Result<(IK, K), Error>> + use<K, V, IK, C, R> {
        self.covered(ctx, range).map(|entry| entry.map(|(ik, k, _)| (ik, k)))
    }

    /// `(index key, primary key, cover)` with index keys in `range`, in index-key order.
    pub fn covered<R: RangeBounds<IK>>(
        &self,
        ctx: &Ctx,
        range: R,
    ) -> impl Iterator<Item = Result<(IK, K, C), Error>> + use<K, V, IK, C, R> {
        let (scan, skip, name) = self.scan_range(ctx, &range);
        scan.decoded(move |entry, cover| {
            let (ik, k) = decode_entry::<(IK, K)>(name, &entry[skip..])?;
            Ok((ik, k, decode_value(name, cover)?))
        })
    }

    /// Shows `visit` each `(index key, primary key, encoded cover)` with index keys in
    /// `range`, in index-key order, until it breaks: for a caller that meets the same few
    /// covers thousands of times and decodes each once ([`Index::decode_cover`]).
    pub fn visit_covered<R: RangeBounds<IK>>(
        &self,
        ctx: &Ctx,
        range: R,
        mut visit: impl FnMut(IK, K, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), Error> {
        let (mut scan, skip, name) = self.scan_range(ctx, &range);
        loop {
            let step = scan.next_with(|entry, cover| {
                decode_entry::<(IK, K)>(name, &entry[skip..]).map(|(ik, k)| visit(ik, k, cover))
            });
            match step {
                None | Some(Ok(ControlFlow::Break(()))) => return Ok(()),
                Some(Ok(ControlFlow::Continue(()))) => {}
                Some(Err(e)) => return Err(e),
            }
        }
    }

    /// A cover as [`Index::visit_covered`] showed it.
    pub fn decode_cover(&self, bytes: &[u8]) -> Result<C, Error> {
        decode_value(self.name, bytes)
    }

    /// The scan of the entries with index keys in `range`, and the length of the prefix
    /// their keys start with.
    fn scan_range<R: RangeBounds<IK>>(&self, ctx: &Ctx, range: &R) -> (Scan, usize, &'static str) {
        let prefix = self.prefix();
        let (start, end) = byte_range(&prefix, range);
        (ctx.scan(&start, end.as_deref()), prefix.len(), self.name)
    }
}

/// What follows a prefix in an index entry's key: the index key, then the primary key, or
/// only the primary key after a prefix that holds the index key.
fn decode_entry<T: Key>(index: &str, bytes: &[u8]) -> Result<T, Error> {
    T::from_key_bytes(bytes).ok_or_else(|| Error::internal(format!("an entry of index {index} does not decode")))
}

impl<K: Key, V, IK: Key, C: Serialize + DeserializeOwned> IndexOf<K, V> for Index<K, V, IK, C> {
    fn update(&self, ctx: &mut Ctx, key: &K, old: Option<&V>, new: Option<&V>) -> Result<(), Error> {
        let cover = |v: &V| encode_value(self.name, &(self.covers)(v));
        let (old_cover, new_cover) = (old.map(cover).transpose()?, new.map(cover).transpose()?);
        let old = old.map(|v| self.entry_keys(key, v)).unwrap_or_default();
        let new = new.map(|v| self.entry_keys(key, v)).unwrap_or_default();
        // Both lists are sorted: touch only the entries that change, or all of the new ones
        // when the cover does.
        let recover = old_cover != new_cover;
        for entry in old.iter().filter(|e| new.binary_search(e).is_err()) {
            ctx.delete(entry.as_slice());
        }
        let new_cover = new_cover.unwrap_or_default();
        for entry in new.iter().filter(|e| recover || old.binary_search(e).is_err()) {
            ctx.put(entry.as_slice(), new_cover.clone());
        }
        Ok(())
    }

    fn clear(&self, ctx: &mut Ctx) {
        let entries: Vec<Vec<u8>> = ctx.scan_prefix(&self.prefix()).decoded(|entry, _| entry.to_vec()).collect();
        for entry in entries {
            ctx.delete(entry);
        }
    }
}
