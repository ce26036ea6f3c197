//! A checkpoint: the replicated state at a point where every node starts the next entry on a
//! fresh instance, and its byte form for snapshots.
//!
//! Format (version 2): the magic `WRCKPT` and a u16 version; a length-prefixed postcard
//! header (applied position, system state, entry count, state hash); each entry as a u32 key
//! length, key, u32 value length, value, in key order; and a blake3 of everything before
//! it. Decoding checks the trailer and that the entries hash to the header's state hash.

use super::state::{LogPosition, StateHash, StateMap, SystemState, state_hash};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

const MAGIC: &[u8; 6] = b"WRCKPT";
const VERSION: u16 = 2;

#[derive(Clone, Default)]
pub struct Checkpoint {
    pub applied: LogPosition,
    pub system: SystemState,
    pub state: StateMap,
}

#[derive(Serialize, Deserialize)]
struct Header {
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

/// Hashes everything that passes through it.
struct Hashing<T> {
    inner: T,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
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
    pub fn state_hash(&self) -> StateHash {
        state_hash(&self.state, &self.system)
    }

    pub fn encode<W: Write>(&self, w: W) -> io::Result<()> {
        let mut w = Hashing { inner: w, hasher: blake3::Hasher::new() };
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        let header = Header {
            applied: self.applied,
            system: self.system.clone(),
            entries: self.state.len() as u64,
            state_hash: self.state_hash().0,
        };
        write_field(&mut w, &postcard::to_allocvec(&header).map_err(io::Error::other)?)?;
        for (key, value) in self.state.iter() {
            write_field(&mut w, key)?;
            write_field(&mut w, value)?;
        }
        let trailer = *w.hasher.finalize().as_bytes();
        w.inner.write_all(&trailer)?;
        w.inner.flush()
    }

    pub fn decode<R: Read>(r: R) -> Result<Checkpoint, CheckpointError> {
        let mut r = Hashing { inner: r, hasher: blake3::Hasher::new() };
        let mut magic = [0u8; 6];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(CheckpointError::BadMagic);
        }
        let mut version = [0u8; 2];
        r.read_exact(&mut version)?;
        let version = u16::from_le_bytes(version);
        if version != VERSION {
            return Err(CheckpointError::UnsupportedVersion(version));
        }
        let header: Header =
            postcard::from_bytes(&read_field(&mut r)?).map_err(|e| CheckpointError::Corrupt(format!("header: {e}")))?;
        let mut entries = Vec::with_capacity(header.entries.min(1 << 20) as usize);
        for _ in 0..header.entries {
            let key = read_field(&mut r)?;
            let value = read_field(&mut r)?;
            entries.push((Bytes::from(key), Bytes::from(value)));
        }
        let expected = *r.hasher.finalize().as_bytes();
        let mut trailer = [0u8; 32];
        r.inner.read_exact(&mut trailer)?;
        if trailer != expected {
            return Err(CheckpointError::Corrupt("checksum mismatch".into()));
        }
        let checkpoint =
            Checkpoint { applied: header.applied, system: header.system, state: StateMap::from_entries(entries) };
        if checkpoint.state_hash().0 != header.state_hash {
            return Err(CheckpointError::Corrupt("the entries do not match the recorded state hash".into()));
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        let entries = (0..100u32).map(|i| (Bytes::from(i.to_be_bytes().to_vec()), Bytes::from(vec![i as u8; 10])));
        let system = SystemState { clock_ns: 42, ..Default::default() };
        Checkpoint { applied: LogPosition { index: 1023, term: 3 }, system, state: StateMap::from_entries(entries) }
    }

    #[test]
    fn round_trips() {
        let cp = sample();
        let mut bytes = Vec::new();
        cp.encode(&mut bytes).unwrap();
        let back = Checkpoint::decode(&bytes[..]).unwrap();
        assert_eq!(back.applied, cp.applied);
        assert_eq!(back.system.clock_ns, 42);
        assert_eq!(back.state_hash(), cp.state_hash());
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
}
