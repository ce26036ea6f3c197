//! The request table: the outcome of each command a client gave a request id, kept in the
//! replicated state for the id's window, so that a retry of the same request (after a
//! deadline, a lost connection, a leader change) gets the first outcome instead of applying
//! again. Dragonboat's client sessions do this; etcd leaves it to the client.
//!
//! An id belongs to its caller: the table is keyed by a hash of the caller's subject and
//! the id, so one client can neither see another's outcome nor block its ids. A reused id
//! whose command differs is refused, and the first outcome is never handed to another
//! command.
//!
//! Layout (a [`StateMap`], in checkpoints beside the appliers' states):
//! - `o` + scope (32) → the [`Record`] (postcard);
//! - `x` + expiry (u64 big-endian) + scope → empty: the expiry order.
//!
//! Every entry that carries a command expires up to [`EXPIRE_PER_ENTRY`] records whose time
//! has passed, so an entry's cost stays bounded however many expire at once; a record past
//! its time that is still there counts as gone.
//!
//! The table is bounded, as every node holds it in memory and in every snapshot: an outcome
//! over [`MAX_KEPT_OUTCOME_BYTES`] is replaced by `outcome-not-kept` (which still says the
//! request applied), and a new id that could take the table over [`MAX_TABLE_BYTES`] is
//! refused (`request-table-full`) before its command applies. Both are decided from the
//! replicated state alone, so every node decides alike. Records past their window that no
//! entry has removed yet still count: after a burst, new ids may be refused until expiry
//! (64 records per entry) catches up.
//!
//! Callers without an identity (a cluster that does not authenticate its clients) share one
//! scope: the node cannot tell them apart, and they may read and write alike anyway. Their
//! ids must be unguessable (the CLI's are random): two of them giving the same id and
//! command get one outcome.
//!
//! The window is counted in the entries' time, which follows the leader's clock (see
//! [`crate::entry::entry_time`]): a leader whose clock steps ahead by a window expires
//! records early. Keep node clocks slewed by NTP, as the DSS's own expiries need anyway.

use super::state::{LogPosition, StateMap, WriteSet};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use wasmraft_sdk::contract::{ApplierError, Caller, Payload};

/// Records removed per entry at most. Consensus-critical, as is everything here.
const EXPIRE_PER_ENTRY: usize = 64;

/// The longest window an entry may ask for: a day.
pub const MAX_WINDOW_NS: u64 = 24 * 3600 * 1_000_000_000;

/// The shortest window a node may give its entries: a retry needs the outcome kept longer
/// than clients retry (the CLI's `--retry-for` is 30 s by default), with room for entry
/// times that differ between leaders. A node's setting only: entries carry their window.
pub const MIN_WINDOW_NS: u64 = 60 * 1_000_000_000;

/// The largest outcome kept for a retry (its record, encoded).
pub const MAX_KEPT_OUTCOME_BYTES: usize = 64 * 1024;

/// The most the table holds, keys and records counted: about 900,000 requests with small
/// outcomes (3,000 requests/s for a 5-minute window), or 2,000 of the largest.
pub const MAX_TABLE_BYTES: u64 = 128 << 20;

/// The most one request adds to the table: a record with the largest kept outcome, and its
/// two keys.
const MAX_REQUEST_BYTES: u64 = (MAX_KEPT_OUTCOME_BYTES + 256) as u64;

const OUTCOME: u8 = b'o';
const EXPIRY: u8 = b'x';

/// Which request a record answers: the caller's subject and the id, hashed.
pub type Scope = [u8; 32];

pub fn scope(caller: Option<&Caller>, id: &str) -> Scope {
    let mut h = blake3::Hasher::new_derive_key("wasmraft request scope v1");
    let subject = caller.map_or("", |c| c.subject.as_str());
    h.update(&(subject.len() as u64).to_le_bytes());
    h.update(subject.as_bytes());
    h.update(id.as_bytes());
    *h.finalize().as_bytes()
}

/// What a request asked for: the applier it addressed and its command. A retry must match.
pub fn fingerprint(applier: Option<&str>, command: &Payload) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("wasmraft request fingerprint v1");
    let applier = applier.unwrap_or("");
    h.update(&(applier.len() as u64).to_le_bytes());
    h.update(applier.as_bytes());
    h.update(&postcard::to_allocvec(&command.encoding).expect("an encoding encodes"));
    h.update(&command.bytes);
    *h.finalize().as_bytes()
}

/// A request's first outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub fingerprint: [u8; 32],
    /// Where the request applied.
    pub at: LogPosition,
    pub expires_ns: u64,
    pub result: Result<Vec<u8>, ApplierError>,
}

/// What the table says of a request about to apply.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not seen within its window: apply it.
    New,
    /// Applied before: answer with this.
    Again(Record),
    /// The id was used for another command within its window.
    Reused { at: LogPosition },
    /// A new id, but the table has no room to remember it: refuse the command.
    Full,
}

#[derive(Clone, Default)]
pub struct RequestTable {
    map: StateMap,
    /// The keys' and values' bytes in `map`.
    bytes: u64,
}

fn outcome_key(scope: &Scope) -> Vec<u8> {
    let mut key = Vec::with_capacity(33);
    key.push(OUTCOME);
    key.extend_from_slice(scope);
    key
}

fn expiry_key(expires_ns: u64, scope: &Scope) -> Vec<u8> {
    let mut key = Vec::with_capacity(41);
    key.push(EXPIRY);
    key.extend_from_slice(&expires_ns.to_be_bytes());
    key.extend_from_slice(scope);
    key
}

impl RequestTable {
    /// The table `map` holds, if it is one: every key of a known shape, every record
    /// readable with nothing after it and paired with its expiry key (and no expiry key
    /// without its record), within [`MAX_TABLE_BYTES`]. A checkpoint's table may come from
    /// a crafted backup: one of records that never expire would refuse new ids forever.
    pub fn from_map(map: StateMap) -> Result<Self, String> {
        let (mut bytes, mut expiries) = (0u64, 0usize);
        for (key, value) in map.iter() {
            match (key.first(), key.len()) {
                (Some(&OUTCOME), 33) => {
                    let (record, rest) = postcard::take_from_bytes::<Record>(value)
                        .map_err(|e| format!("a request record does not read: {e}"))?;
                    if !rest.is_empty() {
                        return Err("a request record has bytes after its end".into());
                    }
                    let scope: Scope = key[1..].try_into().expect("33 bytes checked");
                    if map.get(&expiry_key(record.expires_ns, &scope)).is_none() {
                        return Err("a request record has no expiry".into());
                    }
                }
                (Some(&EXPIRY), 41) if value.is_empty() => expiries += 1,
                _ => return Err(format!("the request table holds a key it cannot ({} bytes)", key.len())),
            }
            bytes += (key.len() + value.len()) as u64;
        }
        // Every record found its own expiry key; as many of those as records: none left over.
        if expiries * 2 != map.len() {
            return Err("the request table has expiry keys without records".into());
        }
        if bytes > MAX_TABLE_BYTES {
            return Err(format!("the request table holds {bytes} bytes, over its bound of {MAX_TABLE_BYTES}"));
        }
        Ok(RequestTable { map, bytes })
    }

    /// `map` as a table unchecked: for tests that write what no node would.
    #[cfg(test)]
    pub(super) fn unchecked(map: StateMap) -> Self {
        RequestTable { map, bytes: 0 }
    }

    pub fn map(&self) -> &StateMap {
        &self.map
    }

    /// Requests remembered (an expired one may linger until an entry removes it).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len() / 2
    }

    fn record(&self, scope: &Scope) -> Option<Record> {
        // Every record this module writes decodes, and a loaded table is checked in
        // `from_map`.
        self.map.get(&outcome_key(scope)).map(|bytes| postcard::from_bytes(bytes).expect("a record decodes"))
    }

    /// Looks `scope` up at time `now_ns` for a command of `fingerprint`.
    pub fn seen(&self, scope: &Scope, fingerprint: &[u8; 32], now_ns: u64) -> Seen {
        match self.record(scope) {
            Some(record) if record.expires_ns > now_ns => {
                if record.fingerprint == *fingerprint {
                    Seen::Again(record)
                } else {
                    Seen::Reused { at: record.at }
                }
            }
            _ if self.bytes + MAX_REQUEST_BYTES > MAX_TABLE_BYTES => Seen::Full,
            _ => Seen::New,
        }
    }

    /// Applies `writes`, keeping count of the table's bytes.
    fn commit(&mut self, writes: WriteSet) {
        for (key, value) in &writes {
            let old = self.map.get(key).map_or(0, |v| key.len() + v.len()) as u64;
            let new = value.as_ref().map_or(0, |v| key.len() + v.len()) as u64;
            self.bytes = self.bytes + new - old;
        }
        self.map.commit(writes);
    }

    /// Removes what expired by `now_ns`, at most [`EXPIRE_PER_ENTRY`] records.
    pub fn expire(&mut self, now_ns: u64) {
        let end = expiry_key(now_ns, &[0xff; 32]);
        let due: Vec<Bytes> =
            self.map.range(&[EXPIRY][..], Some(&end[..])).take(EXPIRE_PER_ENTRY).map(|(key, _)| key.clone()).collect();
        let mut writes = WriteSet::new();
        for key in due {
            let scope: Scope = key[9..].try_into().expect("an expiry key ends with a scope");
            let expires_ns = u64::from_be_bytes(key[1..9].try_into().expect("8 bytes"));
            // A record renewed since (the id reused after it expired) has another expiry.
            if self.record(&scope).is_some_and(|r| r.expires_ns == expires_ns) {
                writes.insert(outcome_key(&scope).into(), None);
            }
            writes.insert(key, None);
        }
        self.commit(writes);
    }

    /// Remembers `result` of the request `scope` that applied at `at` with `fingerprint`,
    /// until `now_ns + window_ns` (the window capped at [`MAX_WINDOW_NS`]). An outcome over
    /// [`MAX_KEPT_OUTCOME_BYTES`] is replaced by a refusal that says the request applied once.
    pub fn remember(
        &mut self,
        scope: &Scope,
        fingerprint: [u8; 32],
        at: LogPosition,
        now_ns: u64,
        window_ns: u64,
        result: Result<Vec<u8>, ApplierError>,
    ) {
        let expires_ns = now_ns.saturating_add(window_ns.min(MAX_WINDOW_NS));
        let mut writes = WriteSet::new();
        if let Some(old) = self.record(scope) {
            writes.insert(expiry_key(old.expires_ns, scope).into(), None);
        }
        let mut record = Record { fingerprint, at, expires_ns, result };
        let mut bytes = postcard::to_allocvec(&record).expect("a record encodes");
        if bytes.len() > MAX_KEPT_OUTCOME_BYTES {
            let kept = format!(
                "the request applied once, at index {}; its outcome ({} bytes) was too large to keep for retries",
                at.index,
                bytes.len()
            );
            record.result = Err(ApplierError::new("outcome-not-kept", kept));
            bytes = postcard::to_allocvec(&record).expect("a record encodes");
        }
        assert!(bytes.len() as u64 + 74 <= MAX_REQUEST_BYTES, "a record fits the room `seen` made sure of");
        writes.insert(outcome_key(scope).into(), Some(bytes.into()));
        writes.insert(expiry_key(expires_ns, scope).into(), Some(Bytes::new()));
        self.commit(writes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn at(index: u64) -> LogPosition {
        LogPosition { index, term: 1 }
    }

    fn caller(subject: &str) -> Caller {
        Caller { subject: subject.into(), scopes: vec![] }
    }

    #[test]
    fn a_retry_within_the_window_gets_the_first_outcome() {
        let mut t = RequestTable::default();
        let (s, f) = (scope(Some(&caller("uss1")), "r1"), fingerprint(None, &Payload::json(b"{}".to_vec())));
        assert_eq!(t.seen(&s, &f, 10 * S), Seen::New);
        t.remember(&s, f, at(5), 10 * S, 60 * S, Ok(b"out".to_vec()));
        match t.seen(&s, &f, 69 * S) {
            Seen::Again(r) => assert_eq!((r.at, r.result), (at(5), Ok(b"out".to_vec()))),
            other => panic!("{other:?}"),
        }
        let other = fingerprint(Some("rid"), &Payload::json(b"{}".to_vec()));
        assert_eq!(t.seen(&s, &other, 69 * S), Seen::Reused { at: at(5) });
        // Past the window the id is free again.
        assert_eq!(t.seen(&s, &f, 70 * S), Seen::New);
    }

    #[test]
    fn ids_belong_to_their_caller() {
        assert_ne!(scope(Some(&caller("uss1")), "r1"), scope(Some(&caller("uss2")), "r1"));
        assert_ne!(scope(Some(&caller("a")), "bc"), scope(Some(&caller("ab")), "c"));
        assert_ne!(scope(None, "r1"), scope(None, "r2"));
    }

    #[test]
    fn expiry_is_bounded_per_entry_and_spares_renewed_records() {
        let mut t = RequestTable::default();
        let f = [7; 32];
        for i in 0..100u64 {
            t.remember(&scope(None, &i.to_string()), f, at(i + 1), i * S, 10 * S, Ok(vec![]));
        }
        // Request 0 expired at 10 s and is given again at 20 s: its new record lives on.
        let renewed = scope(None, "0");
        t.remember(&renewed, f, at(200), 20 * S, 10 * S, Ok(vec![]));
        assert_eq!(t.len(), 100);
        t.expire(1000 * S);
        assert_eq!(t.len(), 100 - EXPIRE_PER_ENTRY, "at most {EXPIRE_PER_ENTRY} per entry");
        t.expire(1000 * S);
        assert_eq!(t.len(), 0);
        let mut t = RequestTable::default();
        t.remember(&renewed, f, at(1), 0, 10 * S, Ok(vec![]));
        t.remember(&renewed, f, at(2), 20 * S, 10 * S, Ok(vec![]));
        t.expire(25 * S);
        assert!(matches!(t.seen(&renewed, &f, 25 * S), Seen::Again(r) if r.at == at(2)));
        t.expire(31 * S);
        assert!(t.map().is_empty(), "both keys of the record are gone");
    }

    #[test]
    fn an_outcome_too_large_to_keep_still_says_it_applied() {
        let mut t = RequestTable::default();
        let s = scope(None, "big");
        t.remember(&s, [1; 32], at(9), 0, MAX_WINDOW_NS * 2, Ok(vec![0; MAX_KEPT_OUTCOME_BYTES]));
        let Seen::Again(r) = t.seen(&s, &[1; 32], MAX_WINDOW_NS - 1) else { panic!("kept") };
        assert_eq!(r.result.unwrap_err().code, "outcome-not-kept");
        assert_eq!(r.expires_ns, MAX_WINDOW_NS, "the window is capped");
    }

    #[test]
    fn a_full_table_refuses_new_ids_until_records_expire() {
        let mut t = RequestTable::default();
        let big = || Ok(vec![1; MAX_KEPT_OUTCOME_BYTES - 100]);
        let mut i = 0u64;
        while t.seen(&scope(None, &i.to_string()), &[1; 32], 0) == Seen::New {
            t.remember(&scope(None, &i.to_string()), [1; 32], at(i + 1), 0, 10 * S, big());
            i += 1;
        }
        assert!(t.bytes <= MAX_TABLE_BYTES && t.bytes + MAX_REQUEST_BYTES > MAX_TABLE_BYTES, "{} bytes", t.bytes);
        assert!(i * MAX_KEPT_OUTCOME_BYTES as u64 > MAX_TABLE_BYTES / 100 * 98, "the table held what its bound says");
        // What it holds is still answered; only new ids are refused.
        assert!(matches!(t.seen(&scope(None, "0"), &[1; 32], 0), Seen::Again(_)));
        assert_eq!(t.seen(&scope(None, "new"), &[1; 32], 0), Seen::Full);
        assert_eq!(t.bytes, RequestTable::from_map(t.map.clone()).unwrap().bytes, "the count is the table's");
        t.expire(10 * S);
        assert_eq!(t.seen(&scope(None, "new"), &[1; 32], 10 * S), Seen::New);
        assert_eq!(t.bytes, RequestTable::from_map(t.map.clone()).unwrap().bytes);
    }

    #[test]
    fn a_table_that_does_not_read_is_refused() {
        let mut t = RequestTable::default();
        t.remember(&scope(None, "r"), [1; 32], at(1), 0, 10 * S, Ok(b"out".to_vec()));
        assert!(RequestTable::from_map(t.map.clone()).is_ok());
        let with = |key: &[u8], value: &[u8]| {
            let mut map = t.map.clone();
            map.commit([(Bytes::copy_from_slice(key), Some(Bytes::copy_from_slice(value)))].into());
            RequestTable::from_map(map)
        };
        let mut scope_key = outcome_key(&scope(None, "r"));
        assert!(with(&scope_key, b"\xff\xff").err().unwrap().contains("does not read"));
        scope_key.pop();
        assert!(with(&scope_key, b"").is_err(), "a short outcome key");
        assert!(with(&[EXPIRY; 9], b"").is_err(), "a short expiry key");
        assert!(with(&expiry_key(1, &[0; 32]), b"x").is_err(), "an expiry key with a value");
        assert!(with(b"z", b"").is_err(), "a key of no kind");
        let record = t.map.get(&outcome_key(&scope(None, "r"))).unwrap().to_vec();
        let trailing = [&record[..], b"junk"].concat();
        assert!(with(&outcome_key(&scope(None, "r")), &trailing).err().unwrap().contains("after its end"));
        assert!(with(&outcome_key(&scope(None, "other")), &record).err().unwrap().contains("no expiry"));
        assert!(with(&expiry_key(5, &scope(None, "other")), b"").err().unwrap().contains("without records"));
    }
}
