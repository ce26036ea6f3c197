//! A checkpoint: the replicated state at a point where every node starts the next entry on a
//! fresh instance, and its byte form for snapshots.
//!
//! Format (version 4): the magic `WRCKPT` and a u16 version; a length-prefixed postcard
//! header (applied position, then for each hosted applier its system state, entry count
//! and state hash, then the request table's entry count and digest); each applier's
//! entries in turn, then the request table's, each as a u32 key length, key, u32 value
//! length, value, in key order; and a blake3 of everything before it. Decoding checks the
//! trailer and that each applier's entries hash to its recorded hash (and the table's to
//! its digest). Versions 3 (no request table) and 2 (one applier: applied position, system
//! state, entry count, hash) are still read.

use super::requests::RequestTable;
use super::state::{LogPosition, StateHash, StateMap, SystemState, state_hash};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

const MAGIC: &[u8; 6] = b"WRCKPT";
const VERSION: u16 = 4;
/// Several appliers, no request table.
const VERSION_3: u16 = 3;
/// The single-applier layout of earlier nodes.
const VERSION_2: u16 = 2;

/// The replicated state at an applied position: each hosted applier's, in hosting order
/// (none: a new cluster's, which takes its appliers from the node's bootstrap modules),
/// and the request table (see [`super::requests`]).
#[derive(Clone, Default)]
pub struct Checkpoint {
    pub applied: LogPosition,
    pub appliers: Vec<AppliedState>,
    pub requests: RequestTable,
}

/// One applier's part of the replicated state.
#[derive(Clone, Default)]
pub struct AppliedState {
    pub system: SystemState,
    pub state: StateMap,
}

impl AppliedState {
    pub fn state_hash(&self) -> StateHash {
        state_hash(&self.state, &self.system)
    }
}

#[derive(Serialize, Deserialize)]
struct Part {
    system: SystemState,
    entries: u64,
    state_hash: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct Header {
    applied: LogPosition,
    parts: Vec<Part>,
    requests: u64,
    requests_digest: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct HeaderV3 {
    applied: LogPosition,
    parts: Vec<Part>,
}

#[derive(Serialize, Deserialize)]
struct HeaderV2 {
    applied: LogPosition,
    system: SystemState,
    entries: u64,
    state_hash: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("reading the checkpoint failed: {0}")]
    Io(#[from] io::Error),
    #[error("not a wasmraft checkpoint (bad magic)")]
    BadMagic,
    #[error("checkpoint format version {0} is not supported (this node reads version {VERSION})")]
    UnsupportedVersion(u16),
    #[error("the checkpoint is corrupt: {0}")]
    Corrupt(String),
}

/// Hashes everything that passes through it. A checkpoint passes as millions of small
/// fields, and blake3 is fast only on large inputs (its SIMD lanes hash many 1 KiB chunks
/// at once): small pieces are gathered first. A million-key checkpoint (298 MB) decoded in
/// 3.7 s with them hashed one by one, 2.7 s gathered; it encoded in 0.62 s, then 0.32 s.
struct Hashing<T> {
    inner: T,
    hasher: blake3::Hasher,
    pending: Vec<u8>,
}

/// How much [`Hashing`] gathers before it hashes.
const HASH_BATCH: usize = 64 << 10;

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Hashing { inner, hasher: blake3::Hasher::new(), pending: Vec::with_capacity(HASH_BATCH) }
    }

    fn absorb(&mut self, bytes: &[u8]) {
        if self.pending.len() + bytes.len() > HASH_BATCH {
            self.hasher.update(&self.pending);
            self.pending.clear();
        }
        if bytes.len() >= HASH_BATCH {
            self.hasher.update(bytes);
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// The hash of everything that passed.
    fn finalize(&mut self) -> [u8; 32] {
        self.hasher.update(&self.pending);
        self.pending.clear();
        *self.hasher.finalize().as_bytes()
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.absorb(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.absorb(&buf[..n]);
        Ok(n)
    }
}

/// Entries and headers larger than this are corruption, not data (see `state::limits`).
const MAX_FIELD: usize = 16 << 20;

fn read_field<R: Read>(r: &mut R) -> Result<Vec<u8>, CheckpointError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FIELD {
        return Err(CheckpointError::Corrupt(format!("a field claims {len} bytes")));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

fn write_field<W: Write>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| io::Error::other("field over 4 GiB"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(bytes)
}

impl Checkpoint {
    /// The hash of the whole replicated state (see [`super::state::combined_hash`]).
    pub fn state_hash(&self) -> StateHash {
        super::state::whole_hash(self.appliers.iter().map(AppliedState::state_hash), self.requests.map())
    }

    /// Keys stored, all appliers and the request table together.
    pub fn keys(&self) -> usize {
        self.appliers.iter().map(|a| a.state.len()).sum::<usize>() + self.requests.map().len()
    }

    pub fn encode<W: Write>(&self, w: W) -> io::Result<()> {
        let mut w = Hashing::new(w);
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        let parts = self
            .appliers
            .iter()
            .map(|a| Part { system: a.system.clone(), entries: a.state.len() as u64, state_hash: a.state_hash().0 })
            .collect();
        let header = Header {
            applied: self.applied,
            parts,
            requests: self.requests.map().len() as u64,
            requests_digest: self.requests.map().digest().to_bytes(),
        };
        write_field(&mut w, &postcard::to_allocvec(&header).map_err(io::Error::other)?)?;
        for (key, value) in self.appliers.iter().flat_map(|a| a.state.iter()).chain(self.requests.map().iter()) {
            write_field(&mut w, key)?;
            write_field(&mut w, value)?;
        }
        let trailer = w.finalize();
        w.inner.write_all(&trailer)?;
        w.inner.flush()
    }

    pub fn decode<R: Read>(r: R) -> Result<Checkpoint, CheckpointError> {
        let mut r = Hashing::new(r);
        let mut magic = [0u8; 6];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(CheckpointError::BadMagic);
        }
        let mut version = [0u8; 2];
        r.read_exact(&mut version)?;
        let version = u16::from_le_bytes(version);
        let header = read_field(&mut r)?;
        let corrupt = |e: postcard::Error| CheckpointError::Corrupt(format!("header: {e}"));
        let header = match version {
            VERSION => postcard::from_bytes::<Header>(&header).map_err(corrupt)?,
            VERSION_3 => {
                let v3: HeaderV3 = postcard::from_bytes(&header).map_err(corrupt)?;
                Header { applied: v3.applied, parts: v3.parts, ..Header::empty() }
            }
            VERSION_2 => {
                let v2: HeaderV2 = postcard::from_bytes(&header).map_err(corrupt)?;
                let part = Part { system: v2.system, entries: v2.entries, state_hash: v2.state_hash };
                Header { applied: v2.applied, parts: vec![part], ..Header::empty() }
            }
            _ => return Err(CheckpointError::UnsupportedVersion(version)),
        };
        let mut appliers = Vec::with_capacity(header.parts.len().min(64));
        for part in &header.parts {
            let state = read_entries(&mut r, part.entries)?;
            appliers.push(AppliedState { system: part.system.clone(), state });
        }
        let requests = read_entries(&mut r, header.requests)?;
        let expected = r.finalize();
        let mut trailer = [0u8; 32];
        r.inner.read_exact(&mut trailer)?;
        if trailer != expected {
            return Err(CheckpointError::Corrupt("checksum mismatch".into()));
        }
        for (applier, part) in appliers.iter().zip(&header.parts) {
            if applier.state_hash().0 != part.state_hash {
                return Err(CheckpointError::Corrupt(format!(
                    "applier `{}`'s entries do not match its recorded state hash",
                    applier.system.module.name
                )));
            }
        }
        if requests.digest().to_bytes() != header.requests_digest {
            return Err(CheckpointError::Corrupt("the request table does not match its recorded digest".into()));
        }
        // A crafted backup passes the checks above: the table must also be one.
        let requests = RequestTable::from_map(requests).map_err(CheckpointError::Corrupt)?;
        Ok(Checkpoint { applied: header.applied, appliers, requests })
    }
}

impl Header {
    /// An older format's header: no request table.
    fn empty() -> Header {
        let requests_digest = StateMap::default().digest().to_bytes();
        Header { applied: LogPosition::default(), parts: Vec::new(), requests: 0, requests_digest }
    }
}

/// Entries handed from the reading thread to the building one at a time.
const LOAD_BATCH: usize = 4096;

fn read_batch<R: Read>(r: &mut R, n: usize) -> Result<Vec<(Bytes, Bytes)>, CheckpointError> {
    let mut batch = Vec::with_capacity(n);
    for _ in 0..n {
        batch.push((Bytes::from(read_field(r)?), Bytes::from(read_field(r)?)));
    }
    Ok(batch)
}

fn read_entries<R: Read>(r: &mut R, count: u64) -> Result<StateMap, CheckpointError> {
    if count <= LOAD_BATCH as u64 {
        return Ok(StateMap::from_entries(read_batch(r, count as usize)?));
    }
    // Reading (the checksum, an allocation per field) and building the map take about as
    // long each: on two threads a million-key load takes about half as long.
    std::thread::scope(|scope| {
        let (batches, received) = crossbeam_channel::bounded::<Vec<(Bytes, Bytes)>>(16);
        let builder = scope.spawn(move || {
            let mut state = StateMap::default();
            for batch in received {
                state.load(batch);
            }
            state
        });
        let mut left = count;
        while left > 0 {
            let n = left.min(LOAD_BATCH as u64);
            // The builder only stops when this side hangs up.
            let _ = batches.send(read_batch(r, n as usize)?);
            left -= n;
        }
        drop(batches);
        Ok(builder.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, clock_ns: u64, keys: u32) -> AppliedState {
        let entries = (0..keys).map(|i| (Bytes::from(i.to_be_bytes().to_vec()), Bytes::from(vec![i as u8; 10])));
        let mut system = SystemState { clock_ns, ..Default::default() };
        system.module.name = name.into();
        AppliedState { system, state: StateMap::from_entries(entries) }
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            applied: LogPosition { index: 1023, term: 3 },
            appliers: vec![part("kv", 42, 100)],
            requests: RequestTable::default(),
        }
    }

    #[test]
    fn round_trips() {
        let mut table = RequestTable::default();
        let at = LogPosition { index: 9, term: 2 };
        table.remember(&super::super::requests::scope(None, "r1"), [1; 32], at, 0, 1 << 40, Ok(b"out".to_vec()));
        let cp = Checkpoint { appliers: vec![part("scd", 42, 100), part("rid", 7, 3)], requests: table, ..sample() };
        let mut bytes = Vec::new();
        cp.encode(&mut bytes).unwrap();
        let back = Checkpoint::decode(&bytes[..]).unwrap();
        assert_eq!(back.applied, cp.applied);
        assert_eq!(back.appliers.len(), 2);
        assert_eq!((back.appliers[0].system.clock_ns, back.appliers[1].state.len()), (42, 3));
        assert_eq!(back.requests.map().digest(), cp.requests.map().digest());
        assert_eq!(back.state_hash(), cp.state_hash());
        // The request table is part of the state hash once it holds anything.
        assert_ne!(cp.state_hash(), Checkpoint { requests: RequestTable::default(), ..cp.clone() }.state_hash());
    }

    #[test]
    fn a_crafted_request_table_is_refused() {
        // Every checksum and digest matches (the file was written, not damaged), but the
        // table holds a record no node wrote: loading it would fail at the first retry.
        let requests = StateMap::from_entries([(Bytes::from(vec![b'o'; 33]), Bytes::from_static(b"\xff"))]);
        let mut bytes = Vec::new();
        Checkpoint { requests: RequestTable::unchecked(requests), ..sample() }.encode(&mut bytes).unwrap();
        let Err(CheckpointError::Corrupt(why)) = Checkpoint::decode(&bytes[..]) else { panic!("loaded") };
        assert!(why.contains("request record"), "{why}");
    }

    /// A checkpoint as an older node wrote it: `version`, its `header`, the entries of
    /// `appliers`, the trailer.
    fn older_format(version: u16, header: &impl Serialize, appliers: &[AppliedState]) -> Vec<u8> {
        let mut w = Hashing::new(Vec::new());
        w.write_all(MAGIC).unwrap();
        w.write_all(&version.to_le_bytes()).unwrap();
        write_field(&mut w, &postcard::to_allocvec(header).unwrap()).unwrap();
        for (key, value) in appliers.iter().flat_map(|a| a.state.iter()) {
            write_field(&mut w, key).unwrap();
            write_field(&mut w, value).unwrap();
        }
        let trailer = w.finalize();
        let mut bytes = w.inner;
        bytes.extend_from_slice(&trailer);
        bytes
    }

    #[test]
    fn a_checkpoint_of_format_3_is_read_with_no_request_table() {
        let cp = Checkpoint { appliers: vec![part("scd", 42, 10), part("rid", 7, 3)], ..sample() };
        let parts = cp
            .appliers
            .iter()
            .map(|a| Part { system: a.system.clone(), entries: a.state.len() as u64, state_hash: a.state_hash().0 })
            .collect();
        let bytes = older_format(VERSION_3, &HeaderV3 { applied: cp.applied, parts }, &cp.appliers);
        let back = Checkpoint::decode(&bytes[..]).unwrap();
        assert_eq!((back.appliers.len(), back.requests.map().len()), (2, 0));
        assert_eq!(back.state_hash(), cp.state_hash());
    }

    #[test]
    fn a_single_applier_checkpoint_of_format_2_is_read() {
        let cp = sample();
        let a = &cp.appliers[0];
        let header = HeaderV2 {
            applied: cp.applied,
            system: a.system.clone(),
            entries: a.state.len() as u64,
            state_hash: a.state_hash().0,
        };
        let bytes = older_format(VERSION_2, &header, &cp.appliers[..1]);
        let back = Checkpoint::decode(&bytes[..]).unwrap();
        assert_eq!((back.applied, back.appliers.len()), (cp.applied, 1));
        // One applier: the hash is what format 2's nodes computed.
        assert_eq!(back.state_hash(), a.state_hash());
    }

    #[test]
    fn corruption_is_detected() {
        let mut bytes = Vec::new();
        sample().encode(&mut bytes).unwrap();
        let mut flipped = bytes.clone();
        flipped[200] ^= 1;
        assert!(matches!(Checkpoint::decode(&flipped[..]), Err(CheckpointError::Corrupt(_))));
        assert!(matches!(Checkpoint::decode(&bytes[..bytes.len() - 5]), Err(CheckpointError::Io(_))));
        assert!(matches!(Checkpoint::decode(&b"NOTACKPT"[..]), Err(CheckpointError::BadMagic)));
    }

    #[test]
    fn a_large_state_loads_on_two_threads_alike() {
        // Past one batch the map is built on a thread of its own: the same state, and a
        // file cut short anywhere is refused rather than left waiting.
        let keys = 3 * LOAD_BATCH as u32 + 17;
        let cp = Checkpoint { appliers: vec![part("scd", 1, keys), part("rid", 2, 5)], ..sample() };
        let mut bytes = Vec::new();
        cp.encode(&mut bytes).unwrap();
        let back = Checkpoint::decode(&bytes[..]).unwrap();
        assert_eq!(back.appliers[0].state.len(), keys as usize);
        assert_eq!(back.state_hash(), cp.state_hash());
        for cut in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 40] {
            assert!(matches!(Checkpoint::decode(&bytes[..cut]), Err(CheckpointError::Io(_))), "cut at {cut}");
        }
    }
}
