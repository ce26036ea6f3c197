//! Snapshot files: everything a node needs to continue from an applied index without the
//! log before it: the appliers' state (a runtime checkpoint), the active module of each
//! hosted applier, and the Raft membership at that index.
//!
//! Format (version 3):
//! ```text
//! "WRSNAP" u16 version | u32 len, header (postcard), blake3(header) | each module's bytes | checkpoint
//! ```
//! The header names the index, term, conf state and each module's length and blake3, in
//! the checkpoint's hosting order; the checkpoint carries its own checksum. Version 2 (one
//! module) is still read. Files are written with [`durable`], so a snapshot
//! file that exists is whole.
//!
//! Raft messages never carry the state: a `MsgSnapshot` carries a small descriptor (index,
//! term) and the file travels in chunks over its own stream (see `transport`).

pub mod writer;

use crate::durable;
use crate::membership::MemberBook;
use crate::runtime::Checkpoint;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, SnapshotMetadata};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"WRSNAP";
const VERSION: u16 = 3;
/// One module, as single-applier nodes wrote it.
const VERSION_2: u16 = 2;
const EXTENSION: &str = "wrsnap";

#[derive(Serialize, Deserialize)]
struct Header {
    index: u64,
    term: u64,
    /// raft-rs's ConfState, protobuf-encoded.
    conf_state: Vec<u8>,
    members: MemberBook,
    /// Each module's length and blake3.
    modules: Vec<(u64, [u8; 32])>,
}

#[derive(Serialize, Deserialize)]
struct HeaderV2 {
    index: u64,
    term: u64,
    conf_state: Vec<u8>,
    members: MemberBook,
    module_len: u64,
    module_hash: [u8; 32],
}

/// Most appliers a snapshot may name: far more than a cluster hosts, few enough to bound
/// what a damaged header can ask for.
const MAX_MODULES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot i/o: {0}")]
    Io(#[from] io::Error),
    #[error("not a wasmraft snapshot")]
    BadMagic,
    #[error("snapshot format version {0} is not supported (this node reads version {VERSION})")]
    UnsupportedVersion(u16),
    #[error("the snapshot is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Checkpoint(#[from] crate::runtime::CheckpointError),
}

/// Writes a snapshot file of `checkpoint` at `path` (durably: a file that exists is whole).
pub fn write_file<M: AsRef<[u8]>>(
    path: &Path,
    checkpoint: &Checkpoint,
    term: u64,
    conf_state: ConfState,
    members: &MemberBook,
    modules: &[M],
) -> Result<SnapshotMetadata, SnapshotError> {
    let index = checkpoint.applied.index;
    assert_eq!(modules.len(), checkpoint.appliers.len(), "a module for each applier");
    let header = Header {
        index,
        term,
        conf_state: conf_state.write_to_bytes().map_err(|e| SnapshotError::Corrupt(e.to_string()))?,
        members: members.clone(),
        modules: modules.iter().map(|m| (m.as_ref().len() as u64, *blake3::hash(m.as_ref()).as_bytes())).collect(),
    };
    let header_bytes = postcard::to_allocvec(&header).map_err(io::Error::other)?;
    durable::write_with(path, |w| {
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        w.write_all(&(header_bytes.len() as u32).to_le_bytes())?;
        w.write_all(&header_bytes)?;
        w.write_all(blake3::hash(&header_bytes).as_bytes())?;
        for module in modules {
            w.write_all(module.as_ref())?;
        }
        checkpoint.encode(w)
    })?;
    Ok(metadata(index, term, conf_state))
}

/// A snapshot as loaded from disk.
pub struct SnapshotFile {
    pub meta: SnapshotMetadata,
    pub members: MemberBook,
    /// Each hosted applier's module, in the checkpoint's order.
    pub modules: Vec<Vec<u8>>,
    pub checkpoint: Checkpoint,
}

/// What a `MsgSnapshot` carries: which snapshot, not its content.
pub fn descriptor(meta: &SnapshotMetadata) -> Vec<u8> {
    postcard::to_allocvec(&(meta.index, meta.term)).expect("two integers encode")
}

pub fn parse_descriptor(bytes: &[u8]) -> Option<(u64, u64)> {
    postcard::from_bytes(bytes).ok()
}

fn metadata(index: u64, term: u64, conf_state: ConfState) -> SnapshotMetadata {
    SnapshotMetadata { index, term, conf_state: Some(conf_state).into(), ..Default::default() }
}

/// The directory of a node's snapshot files.
///
/// A snapshot received from the leader is staged under a name nothing here lists, and
/// becomes a snapshot file only when Raft accepts it (`adopt`, from the Raft thread, before
/// the log records it): so every snapshot file is one this node built or its log adopted,
/// and the one the log's compaction relies on is never outranked by a file Raft refused.
pub struct SnapshotDir {
    dir: PathBuf,
}

const STAGED: &str = "staged";

/// `<prefix><index>-<term>.<extension>` → (index, term).
fn parse_name(path: &Path, prefix: &str, extension: &str) -> Option<(u64, u64)> {
    let name = path.file_name()?.to_str()?;
    let (i, t) = name.strip_prefix(prefix)?.strip_suffix(extension)?.strip_suffix('.')?.split_once('-')?;
    Some((i.parse().ok()?, t.parse().ok()?))
}

impl SnapshotDir {
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        crate::durable::create_dir_all(&dir)?;
        // Leftovers of writes or transfers that never finished, and received snapshots Raft
        // did not accept before the node stopped (a leader sends a newer one if needed).
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|x| x == "tmp" || x == STAGED) {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(SnapshotDir { dir })
    }

    pub fn path(&self, index: u64, term: u64) -> PathBuf {
        self.dir.join(format!("snap-{index:020}-{term:020}.{EXTENSION}"))
    }

    /// A temporary path in the directory (for a file being written or received).
    pub fn temp_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.tmp"))
    }

    fn staged_path(&self, index: u64, term: u64) -> PathBuf {
        self.dir.join(format!("recv-{index:020}-{term:020}.{STAGED}"))
    }

    /// Writes a snapshot of `checkpoint` with its appliers' `modules` and the membership.
    pub fn write<M: AsRef<[u8]>>(
        &self,
        checkpoint: &Checkpoint,
        term: u64,
        conf_state: ConfState,
        members: &MemberBook,
        modules: &[M],
    ) -> Result<SnapshotMetadata, SnapshotError> {
        let path = self.path(checkpoint.applied.index, term);
        write_file(&path, checkpoint, term, conf_state, members, modules)
    }

    /// Where a backup being sent to a client is written (removed at the next start if the
    /// node stops first).
    pub fn backup_path(&self, nonce: u64) -> PathBuf {
        self.dir.join(format!("backup-{nonce:016x}.tmp"))
    }

    /// Keeps a received, verified file until Raft accepts it or it is outdated. Staged files
    /// below `commit` (Raft refuses a snapshot behind its commit index, and one it accepted
    /// was adopted before the commit index moved past it) are removed.
    pub fn stage(&self, tmp: &Path, index: u64, term: u64, commit: u64) -> io::Result<()> {
        std::fs::rename(tmp, self.staged_path(index, term))?;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if parse_name(&path, "recv-", STAGED).is_some_and(|(i, _)| i < commit) {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Makes the staged snapshot (index, term), which Raft has just accepted, a snapshot
    /// file, durably: the log may point at it from now on.
    pub fn adopt(&self, index: u64, term: u64) -> io::Result<()> {
        std::fs::rename(self.staged_path(index, term), self.path(index, term))
            .map_err(|e| io::Error::new(e.kind(), format!("adopting the received snapshot at {index}: {e}")))?;
        durable::sync_dir(&self.dir)
    }

    /// Snapshot files present, newest (highest index) first.
    pub fn list(&self) -> io::Result<Vec<(u64, u64, PathBuf)>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if let Some((i, t)) = parse_name(&path, "snap-", EXTENSION) {
                found.push((i, t, path));
            }
        }
        found.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        Ok(found)
    }

    /// Keeps the snapshot at `durable` (one this node has just made durable) and the one
    /// before it, and removes the older ones. Files beyond `durable` are not this function's
    /// to judge: they never push a good snapshot out (see `discard_beyond`).
    pub fn prune(&self, durable: u64) -> io::Result<()> {
        for (_, _, path) in self.list()?.into_iter().filter(|(i, ..)| *i <= durable).skip(2) {
            std::fs::remove_file(path)?;
        }
        Ok(())
    }

    /// Removes the snapshot files beyond `commit`, the log's durable commit index: what
    /// this node applied or adopted never lies beyond it, so such a file was adopted by a
    /// Raft acceptance that never became durable, or was not written by this node at all.
    pub fn discard_beyond(&self, commit: u64) -> io::Result<()> {
        for (index, _, path) in self.list()?.into_iter().filter(|(i, ..)| *i > commit) {
            tracing::warn!(index, commit, path = %path.display(), "removing a snapshot file beyond the commit index");
            std::fs::remove_file(path)?;
        }
        durable::sync_dir(&self.dir)
    }
}

/// Indexes and terms beyond this are refused: no log reaches it (2^62 entries at a million a
/// second take 146,000 years), and the node's arithmetic on positions must not overflow.
pub const MAX_POSITION: u64 = 1 << 62;

/// Reads and verifies a snapshot file.
pub fn load(path: &Path) -> Result<SnapshotFile, SnapshotError> {
    let mut r = BufReader::new(File::open(path)?);
    let mut magic = [0u8; 6];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let mut version = [0u8; 2];
    r.read_exact(&mut version)?;
    let version = u16::from_le_bytes(version);
    if version != VERSION && version != VERSION_2 {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 1 << 20 {
        return Err(SnapshotError::Corrupt(format!("a header of {len} bytes")));
    }
    let mut header_bytes = vec![0u8; len];
    r.read_exact(&mut header_bytes)?;
    let mut header_hash = [0u8; 32];
    r.read_exact(&mut header_hash)?;
    if blake3::hash(&header_bytes).as_bytes() != &header_hash {
        return Err(SnapshotError::Corrupt("header checksum mismatch".into()));
    }
    let corrupt = |e: postcard::Error| SnapshotError::Corrupt(format!("header: {e}"));
    let header: Header = match version {
        VERSION => postcard::from_bytes(&header_bytes).map_err(corrupt)?,
        _ => {
            let v2: HeaderV2 = postcard::from_bytes(&header_bytes).map_err(corrupt)?;
            let modules = vec![(v2.module_len, v2.module_hash)];
            Header { index: v2.index, term: v2.term, conf_state: v2.conf_state, members: v2.members, modules }
        }
    };
    if header.index > MAX_POSITION || header.term > MAX_POSITION {
        return Err(SnapshotError::Corrupt(format!("index {} in term {}", header.index, header.term)));
    }
    if header.modules.len() > MAX_MODULES {
        return Err(SnapshotError::Corrupt(format!("{} modules", header.modules.len())));
    }
    let mut modules = Vec::with_capacity(header.modules.len());
    for (len, hash) in &header.modules {
        if *len > crate::runtime::module::MAX_MODULE_BYTES as u64 {
            return Err(SnapshotError::Corrupt(format!("a module of {len} bytes")));
        }
        let mut module = vec![0u8; *len as usize];
        r.read_exact(&mut module)?;
        if blake3::hash(&module).as_bytes() != hash {
            return Err(SnapshotError::Corrupt("module checksum mismatch".into()));
        }
        modules.push(module);
    }
    let checkpoint = Checkpoint::decode(&mut r)?;
    if checkpoint.appliers.len() != modules.len() {
        return Err(SnapshotError::Corrupt(format!(
            "{} modules for {} appliers",
            modules.len(),
            checkpoint.appliers.len()
        )));
    }
    if checkpoint.applied.index != header.index {
        return Err(SnapshotError::Corrupt(format!(
            "header says index {} but the state is at {}",
            header.index, checkpoint.applied.index
        )));
    }
    let conf_state =
        ConfState::parse_from_bytes(&header.conf_state).map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
    Ok(SnapshotFile {
        meta: metadata(header.index, header.term, conf_state),
        members: header.members,
        modules,
        checkpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{AppliedState, LogPosition, StateMap, SystemState};
    use bytes::Bytes;

    fn checkpoint(index: u64) -> Checkpoint {
        let state = StateMap::from_entries(
            (0..50u32).map(|i| (Bytes::from(i.to_be_bytes().to_vec()), Bytes::from(vec![7u8; 20]))),
        );
        let system = SystemState { clock_ns: 9, ..Default::default() };
        let appliers = vec![AppliedState { system, state }];
        Checkpoint { applied: LogPosition { index, term: 2 }, appliers, requests: Default::default() }
    }

    #[test]
    fn write_list_load_prune() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SnapshotDir::open(tmp.path().join("snap")).unwrap();
        let cs = ConfState { voters: vec![1, 2, 3], ..Default::default() };
        for index in [10, 30, 20] {
            dir.write(&checkpoint(index), 2, cs.clone(), &MemberBook::default(), &[b"module bytes"]).unwrap();
        }
        let listed: Vec<u64> = dir.list().unwrap().iter().map(|s| s.0).collect();
        assert_eq!(listed, vec![30, 20, 10]);
        let loaded = load(&dir.list().unwrap()[0].2).unwrap();
        assert_eq!((loaded.meta.index, loaded.meta.term), (30, 2));
        assert_eq!(loaded.meta.get_conf_state().voters, vec![1, 2, 3]);
        assert_eq!(loaded.modules, vec![b"module bytes".to_vec()]);
        assert_eq!(loaded.checkpoint.state_hash(), checkpoint(30).state_hash());
        dir.prune(30).unwrap();
        assert_eq!(dir.list().unwrap().iter().map(|s| s.0).collect::<Vec<_>>(), vec![30, 20]);
    }

    #[test]
    fn a_file_at_a_position_no_log_reaches_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SnapshotDir::open(tmp.path().join("snap")).unwrap();
        let cs = ConfState { voters: vec![1], ..Default::default() };
        let write = |index, term| dir.write(&checkpoint(index), term, cs.clone(), &MemberBook::default(), &[b"m"]);
        for (index, term) in [(u64::MAX, 2), (5, u64::MAX - 1), (MAX_POSITION + 1, 2)] {
            let meta = write(index, term).unwrap();
            let refused = load(&dir.path(meta.index, meta.term)).err();
            assert!(matches!(refused, Some(SnapshotError::Corrupt(_))), "{index}, {term}: {refused:?}");
        }
        let meta = write(MAX_POSITION, MAX_POSITION).unwrap();
        assert!(load(&dir.path(meta.index, meta.term)).is_ok());
    }

    fn indexes(dir: &SnapshotDir) -> Vec<u64> {
        dir.list().unwrap().iter().map(|s| s.0).collect()
    }

    #[test]
    fn files_beyond_the_commit_never_push_the_real_snapshots_out() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SnapshotDir::open(tmp.path().to_path_buf()).unwrap();
        let write =
            |index| dir.write(&checkpoint(index), 2, ConfState::default(), &MemberBook::default(), &[b"m"]).unwrap();
        write(10);
        write(20);
        // Planted (or adopted by an acceptance that never became durable): far ahead.
        for term in [1, 2] {
            std::fs::copy(dir.path(20, 2), dir.path(1 << 40, term)).unwrap();
        }
        write(30);
        dir.prune(30).unwrap();
        assert_eq!(indexes(&dir), vec![1 << 40, 1 << 40, 30, 20]);
        dir.discard_beyond(30).unwrap();
        assert_eq!(indexes(&dir), vec![30, 20]);
    }

    #[test]
    fn a_received_snapshot_is_a_snapshot_file_only_once_adopted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SnapshotDir::open(tmp.path().to_path_buf()).unwrap();
        let receive = |index, commit| {
            let recv = dir.temp_path(&format!("recv-1-{index}-3"));
            std::fs::write(&recv, b"a verified file").unwrap();
            dir.stage(&recv, index, 3, commit).unwrap();
        };
        let staged = || {
            std::fs::read_dir(tmp.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == STAGED)
                .count()
        };
        receive(50, 0);
        receive(60, 0);
        assert_eq!(indexes(&dir), Vec::<u64>::new(), "staged files are not snapshots");
        assert_eq!(staged(), 2);
        // Raft accepted 60: only that one becomes a snapshot file.
        dir.adopt(60, 3).unwrap();
        assert_eq!(indexes(&dir), vec![60]);
        assert!(dir.adopt(50, 4).is_err(), "a snapshot never received cannot be adopted");
        // 50 lies behind the commit index now: Raft will never accept it.
        receive(70, 60);
        assert_eq!(staged(), 1);
        // Whatever is still staged at a start was never accepted.
        let dir = SnapshotDir::open(tmp.path().to_path_buf()).unwrap();
        assert_eq!(staged(), 0);
        assert_eq!(indexes(&dir), vec![60]);
    }

    #[test]
    fn damage_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SnapshotDir::open(tmp.path().to_path_buf()).unwrap();
        dir.write(&checkpoint(5), 1, ConfState::default(), &MemberBook::default(), &[b"mod"]).unwrap();
        let path = dir.path(5, 1);
        let mut bytes = std::fs::read(&path).unwrap();
        for offset in [3, 20, bytes.len() / 2, bytes.len() - 3] {
            let original = bytes[offset];
            bytes[offset] ^= 0xFF;
            std::fs::write(&path, &bytes).unwrap();
            assert!(load(&path).is_err(), "damage at {offset} went unnoticed");
            bytes[offset] = original;
        }
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        assert!(load(&path).is_err());
    }
}
