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

use super::state::{LogPosition, StateMap, WriteSet, limits};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use wasmraft_sdk::contract::{ApplierError, Caller, Payload};

/// Records removed per entry at most. Consensus-critical, as is everything here.
const EXPIRE_PER_ENTRY: usize = 64;

/// The longest window an entry may ask for: a day.
pub const MAX_WINDOW_NS: u64 = 24 * 3600 * 1_000_000_000;

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
}

#[derive(Clone, Default)]
pub struct RequestTable {
    map: StateMap,
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
    pub fn from_map(map: StateMap) -> Self {
        RequestTable { map }
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
        // Only this module writes the table and every record it writes decodes; a checkpoint
        // is checked against its hash before it is loaded.
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
            _ => Seen::New,
        }
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
        self.map.commit(writes);
    }

    /// Remembers `result` of the request `scope` that applied at `at` with `fingerprint`,
    /// until `now_ns + window_ns` (the window capped at [`MAX_WINDOW_NS`]). An outcome too
    /// large to keep is replaced by a refusal that says the request applied once.
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
        if bytes.len() > limits::MAX_VALUE_BYTES {
            let kept = format!(
                "the request applied once, at index {}; its outcome ({} bytes) was too large to keep for retries",
                at.index,
                bytes.len()
            );
            record.result = Err(ApplierError::new("outcome-not-kept", kept));
            bytes = postcard::to_allocvec(&record).expect("a record encodes");
        }
        writes.insert(outcome_key(scope).into(), Some(bytes.into()));
        writes.insert(expiry_key(expires_ns, scope).into(), Some(Bytes::new()));
        self.map.commit(writes);
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
        t.remember(&s, [1; 32], at(9), 0, MAX_WINDOW_NS * 2, Ok(vec![0; limits::MAX_VALUE_BYTES]));
        let Seen::Again(r) = t.seen(&s, &[1; 32], MAX_WINDOW_NS - 1) else { panic!("kept") };
        assert_eq!(r.result.unwrap_err().code, "outcome-not-kept");
        assert_eq!(r.expires_ns, MAX_WINDOW_NS, "the window is capped");
    }
}
