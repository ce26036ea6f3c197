//! The write-ahead log: Raft entries, hard state, conf state and snapshot metadata, kept by
//! TiKV's raft-engine (checksummed log batches, one fsync per write, recovery that drops a
//! torn tail), behind raft-rs's `Storage` trait.
//!
//! Besides what raft-engine stores, the log keeps the position it was truncated at (the
//! entry before the first one it holds: raft-rs must know that entry's term) and, in memory,
//! the term of every entry it holds, so that raft-rs's frequent `term()` calls never read
//! the disk.

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};
use raft_engine::{Command, Engine, LogBatch, MessageExt, RecoveryMode};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

/// The one Raft group this node runs.
const GROUP: u64 = 1;
const HARD_STATE: &[u8] = b"hard_state";
const CONF_STATE: &[u8] = b"conf_state";
const TRUNCATED: &[u8] = b"truncated";
const SNAPSHOT: &[u8] = b"snapshot";
/// At a restart the entries' terms are read in pieces of about this many bytes of entries.
const TERMS_READ_BYTES: usize = 64 << 20;

struct EntryExt;

impl MessageExt for EntryExt {
    type Entry = Entry;
    fn index(e: &Entry) -> u64 {
        e.index
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("the write-ahead log failed: {0}")]
    Engine(#[from] raft_engine::Error),
    #[error("the write-ahead log holds a record that does not decode: {0}")]
    Corrupt(String),
    /// The file of a snapshot Raft accepted cannot be kept: the log must not point at it.
    #[error("{0}")]
    Snapshot(std::io::Error),
}

/// What one Ready makes durable, in one write.
#[derive(Default)]
pub struct Persist<'a> {
    /// A snapshot to install: the log is emptied and restarts after it.
    pub snapshot: Option<&'a SnapshotMetadata>,
    pub entries: &'a [Entry],
    pub hard_state: Option<&'a HardState>,
}

pub struct RaftLog {
    engine: Engine,
    hard_state: HardState,
    conf_state: ConfState,
    /// (index, term) of the entry just before the first one held.
    truncated: (u64, u64),
    /// Terms of the entries held, from `truncated.0 + 1` to the last.
    terms: VecDeque<u64>,
    /// The latest snapshot this node can send.
    snapshot: Option<SnapshotMetadata>,
    /// Where recent sends to followers began, and when: see [`REPEAT_AFTER`].
    sends: RefCell<Vec<(u64, Instant)>>,
}

/// A send to a follower that begins where one began less than this long ago carries one
/// entry. raft-rs sends a follower in probe its probe again at every heartbeat response,
/// and every linearizable read's round is one (hundreds a second): a returning follower
/// was once sent the same 3,670 entries 191 times within one round of the Raft loop, which
/// took the leader's Raft thread a second, and its heartbeats with it.
const REPEAT_AFTER: Duration = Duration::from_millis(250);

fn decode<M: protobuf::Message>(what: &str, bytes: &[u8]) -> Result<M, LogError> {
    M::parse_from_bytes(bytes).map_err(|e| LogError::Corrupt(format!("{what}: {e}")))
}

/// raft-engine's file header: its magic, a version (u64, big-endian), then in version 2 the
/// block alignment (u64; 0 without direct I/O, which this node never turns on).
const FILE_MAGIC: &[u8] = b"RAFT-LOG-FILE-HEADER-9986AB3E47F320B394C8E84916EB0ED5";

/// Refuses log files whose header raft-engine 0.4.2 would trust to the process's harm: it
/// rounds read offsets up to the alignment the header states and allocates up to there, so
/// a damaged alignment aborts the node (found by tests/fuzz) where it should fail with an
/// error. A file that is not a log file is left for raft-engine to judge.
fn check_file_headers(dir: &Path) -> Result<(), LogError> {
    let Ok(files) = std::fs::read_dir(dir) else { return Ok(()) };
    for file in files.flatten() {
        let path = file.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !(name.ends_with(".raftlog") || name.ends_with(".rewrite")) {
            continue;
        }
        let mut head = [0u8; FILE_MAGIC.len() + 16];
        let read = std::fs::File::open(&path).and_then(|mut f| {
            use std::io::Read;
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..])? {
                    0 => break,
                    r => n += r,
                }
            }
            Ok(n)
        });
        let read = read.map_err(|e| LogError::Corrupt(format!("{}: {e}", path.display())))?;
        let word = |at: usize| u64::from_be_bytes(head[at..at + 8].try_into().expect("8 bytes"));
        let (version_at, alignment_at) = (FILE_MAGIC.len(), FILE_MAGIC.len() + 8);
        if read == head.len() && head.starts_with(FILE_MAGIC) && word(version_at) == 2 && word(alignment_at) != 0 {
            return Err(LogError::Corrupt(format!(
                "{} is damaged: its header states a block alignment of {} bytes, and this node writes none",
                path.display(),
                word(alignment_at)
            )));
        }
    }
    Ok(())
}

impl RaftLog {
    /// Opens (or creates) the log in `dir`, recovering from a crash: a torn last write is
    /// dropped, which loses nothing that was acknowledged (acknowledged writes were synced).
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        check_file_headers(dir)?;
        let config = raft_engine::Config {
            dir: dir.to_string_lossy().into_owned(),
            recovery_mode: RecoveryMode::TolerateTailCorruption,
            ..Default::default()
        };
        let engine = Engine::open(config)?;
        // raft-engine creates its directory and first file without syncing their entries
        // (it syncs the directory only when it starts a new file): made durable here.
        for created in [Some(dir), dir.parent().filter(|p| !p.as_os_str().is_empty())].into_iter().flatten() {
            crate::durable::sync_dir(created).map_err(raft_engine::Error::from)?;
        }
        let get = |key: &[u8]| engine.get(GROUP, key);
        let hard_state = get(HARD_STATE).map(|b| decode("hard state", &b)).transpose()?.unwrap_or_default();
        let conf_state = get(CONF_STATE).map(|b| decode("conf state", &b)).transpose()?.unwrap_or_default();
        let snapshot = get(SNAPSHOT).map(|b| decode("snapshot metadata", &b)).transpose()?;
        let truncated = match get(TRUNCATED) {
            Some(b) => postcard::from_bytes(&b).map_err(|e| LogError::Corrupt(format!("truncated state: {e}")))?,
            None => (0, 0),
        };
        let mut log = RaftLog {
            engine,
            hard_state,
            conf_state,
            truncated,
            terms: VecDeque::new(),
            snapshot,
            sends: RefCell::new(Vec::new()),
        };
        if let Some(last) = log.engine.last_index(GROUP) {
            // In pieces: a log that was never compacted (snapshots failing) can outgrow memory.
            let mut next = log.truncated.0 + 1;
            while next <= last {
                let mut entries = Vec::new();
                log.engine.fetch_entries_to::<EntryExt>(GROUP, next, last + 1, Some(TERMS_READ_BYTES), &mut entries)?;
                if entries.is_empty() {
                    return Err(LogError::Corrupt(format!("no entry {next} in a log that ends at {last}")));
                }
                next += entries.len() as u64;
                log.terms.extend(entries.iter().map(|e| e.term));
            }
        }
        Ok(log)
    }

    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// True once the log knows its cluster's membership (bootstrapped or restored).
    pub fn is_initialized(&self) -> bool {
        self.conf_state != ConfState::default()
    }

    pub fn first_index(&self) -> u64 {
        self.truncated.0 + 1
    }

    pub fn last_index(&self) -> u64 {
        self.truncated.0 + self.terms.len() as u64
    }

    pub fn snapshot_metadata(&self) -> Option<&SnapshotMetadata> {
        self.snapshot.as_ref()
    }

    /// Raises the durable commit index to `applied` if it is lower. The commit index is
    /// written without a sync (a commit is durable on a majority already, and a restart
    /// learns it again from the leader), so a crash can leave it below what this node
    /// applied and checkpointed; raft-rs refuses to start with applied above committed.
    /// Applied entries are committed and held by the log or its snapshot, so raising it is
    /// safe.
    pub fn commit_at_least(&mut self, applied: u64) -> Result<(), LogError> {
        if self.hard_state.commit >= applied {
            return Ok(());
        }
        if applied > self.last_index() {
            return Err(LogError::Corrupt(format!(
                "the state applied up to index {applied}, beyond the log's last index {}",
                self.last_index()
            )));
        }
        let hs = HardState { commit: applied, ..self.hard_state.clone() };
        self.persist(Persist { hard_state: Some(&hs), ..Default::default() }, true)
    }

    /// Writes the initial membership of a new cluster.
    pub fn bootstrap(&mut self, voters: &[u64]) -> Result<(), LogError> {
        self.set_conf_state(ConfState { voters: voters.to_vec(), ..Default::default() })
    }

    pub fn set_conf_state(&mut self, cs: ConfState) -> Result<(), LogError> {
        let mut batch = LogBatch::default();
        batch.put_message(GROUP, CONF_STATE.to_vec(), &cs)?;
        self.engine.write(&mut batch, true)?;
        self.conf_state = cs;
        Ok(())
    }

    /// Makes a Ready's snapshot, entries and hard state durable in one write, synced if
    /// `sync`.
    pub fn persist(&mut self, p: Persist<'_>, sync: bool) -> Result<(), LogError> {
        let mut batch = LogBatch::default();
        if let Some(meta) = p.snapshot {
            // The snapshot replaces the whole log.
            batch.add_command(GROUP, Command::Clean);
            batch.put_message(GROUP, CONF_STATE.to_vec(), meta.get_conf_state())?;
            batch.put_message(GROUP, SNAPSHOT.to_vec(), meta)?;
            batch.put(GROUP, TRUNCATED.to_vec(), postcard::to_allocvec(&(meta.index, meta.term)).expect("encodes"))?;
            let hs = p.hard_state.unwrap_or(&self.hard_state);
            batch.put_message(GROUP, HARD_STATE.to_vec(), hs)?;
        }
        if !p.entries.is_empty() {
            batch.add_entries::<EntryExt>(GROUP, p.entries)?;
        }
        if let Some(hs) = p.hard_state {
            batch.put_message(GROUP, HARD_STATE.to_vec(), hs)?;
        }
        if !batch.is_empty() {
            self.engine.write(&mut batch, sync)?;
        }
        if let Some(meta) = p.snapshot {
            self.conf_state = meta.get_conf_state().clone();
            self.snapshot = Some(meta.clone());
            self.truncated = (meta.index, meta.term);
            self.terms.clear();
        }
        if let Some(first) = p.entries.first() {
            // Entries at and after the first new one are replaced.
            self.terms.truncate(first.index.saturating_sub(self.truncated.0 + 1) as usize);
            self.terms.extend(p.entries.iter().map(|e| e.term));
        }
        if let Some(hs) = p.hard_state {
            self.hard_state = hs.clone();
        }
        Ok(())
    }

    /// Records a snapshot this node built (its file is already durable), so raft can send
    /// it, and its membership as the one a restart begins with: a restart replays the log
    /// from the snapshot, conf changes included, so Raft's configuration must start where
    /// the snapshot's state does.
    pub fn set_snapshot(&mut self, meta: SnapshotMetadata) -> Result<(), LogError> {
        // Not one from before the log's start: a snapshot this node was still writing when
        // it installed a newer one from the leader, whose membership is not the log's and
        // from which the log cannot be replayed.
        if meta.index < self.truncated.0 {
            return Ok(());
        }
        let mut batch = LogBatch::default();
        batch.put_message(GROUP, SNAPSHOT.to_vec(), &meta)?;
        batch.put_message(GROUP, CONF_STATE.to_vec(), meta.get_conf_state())?;
        self.engine.write(&mut batch, true)?;
        self.conf_state = meta.get_conf_state().clone();
        self.snapshot = Some(meta);
        Ok(())
    }

    /// Drops the entries before `index`, which must be covered by the snapshot.
    pub fn compact_to(&mut self, index: u64) -> Result<(), LogError> {
        let covered = self.snapshot.as_ref().map_or(0, |s| s.index + 1);
        let index = index.min(covered).min(self.last_index() + 1);
        if index <= self.first_index() {
            return Ok(());
        }
        let truncated = (index - 1, self.term(index - 1).map_err(|e| LogError::Corrupt(e.to_string()))?);
        let mut batch = LogBatch::default();
        batch.put(GROUP, TRUNCATED.to_vec(), postcard::to_allocvec(&truncated).expect("encodes"))?;
        batch.add_command(GROUP, Command::Compact { index });
        self.engine.write(&mut batch, true)?;
        self.terms.drain(..(index - self.first_index()) as usize);
        self.truncated = truncated;
        self.engine.purge_expired_files()?;
        Ok(())
    }

    /// Whether a send to a follower beginning at `low` began less than [`REPEAT_AFTER`]
    /// ago; if not, it is recorded.
    fn repeats_a_send(&self, low: u64) -> bool {
        let now = Instant::now();
        let mut sends = self.sends.borrow_mut();
        sends.retain(|&(_, at)| now.duration_since(at) < REPEAT_AFTER);
        if sends.iter().any(|&(began, _)| began == low) {
            return true;
        }
        sends.push((low, now));
        false
    }
}

fn store_error(e: impl std::fmt::Display) -> raft::Error {
    raft::Error::Store(StorageError::Other(e.to_string().into()))
}

/// Entries room is made for up front when raft-rs asks for a range (more grow the vector).
const MAX_RESERVED_ENTRIES: usize = 256;

impl Storage for RaftLog {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState { hard_state: self.hard_state.clone(), conf_state: self.conf_state.clone() })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last_index() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let mut max_size: Option<u64> = max_size.into();
        // Only sends to followers may be fetched asynchronously.
        if context.can_async() && self.repeats_a_send(low) {
            max_size = Some(0);
        }
        // raft-rs asks for everything up to the end of the log and lets `max_size` cut it:
        // room for all of it, per message to a lagging follower, is memory to fault in and
        // zero on the Raft thread for entries that are never read.
        let mut out = Vec::with_capacity(((high - low) as usize).min(MAX_RESERVED_ENTRIES));
        let max_size = max_size.map(|m| m as usize);
        self.engine.fetch_entries_to::<EntryExt>(GROUP, low, high, max_size, &mut out).map_err(store_error)?;
        if out.is_empty() && high > low {
            // raft-rs asks for at least one entry whatever the size limit.
            self.engine.fetch_entries_to::<EntryExt>(GROUP, low, low + 1, None, &mut out).map_err(store_error)?;
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.truncated.0 {
            return Ok(self.truncated.1);
        }
        if idx < self.truncated.0 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.terms
            .get((idx - self.truncated.0 - 1) as usize)
            .copied()
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(RaftLog::first_index(self))
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(RaftLog::last_index(self))
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        match &self.snapshot {
            Some(meta) if meta.index >= request_index => {
                let mut snapshot = Snapshot::default();
                snapshot.set_metadata(meta.clone());
                // The state itself travels out of band (see `snapshot`): the message
                // only names it.
                snapshot.data = crate::snapshot::descriptor(meta).into();
                Ok(snapshot)
            }
            _ => Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry { index, term, data: format!("entry {index}@{term}").into_bytes().into(), ..Default::default() }
    }

    fn append(log: &mut RaftLog, entries: &[Entry]) {
        log.persist(Persist { entries, ..Default::default() }, true).unwrap();
    }

    fn indexes(log: &RaftLog) -> Vec<(u64, u64)> {
        let ents = log.entries(log.first_index(), log.last_index() + 1, None, GetEntriesContext::empty(false)).unwrap();
        ents.iter().map(|e| (e.index, e.term)).collect()
    }

    #[test]
    fn survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path()).unwrap();
        assert!(!log.is_initialized());
        log.bootstrap(&[1, 2, 3]).unwrap();
        append(&mut log, &(1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>());
        let hs = HardState { term: 2, vote: 3, commit: 4, ..Default::default() };
        log.persist(Persist { hard_state: Some(&hs), ..Default::default() }, true).unwrap();
        drop(log);
        let log = RaftLog::open(dir.path()).unwrap();
        assert!(log.is_initialized());
        assert_eq!(log.conf_state().voters, vec![1, 2, 3]);
        assert_eq!(log.hard_state(), &hs);
        assert_eq!(indexes(&log), (1..=5).map(|i| (i, 1)).collect::<Vec<_>>());
        assert_eq!(log.term(0), Ok(0));
        assert_eq!(log.term(5), Ok(1));
        assert_eq!(log.term(6), Err(raft::Error::Store(StorageError::Unavailable)));
    }

    #[test]
    fn a_restart_reads_the_terms_of_a_log_larger_than_one_piece() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path()).unwrap();
        log.bootstrap(&[1]).unwrap();
        let large =
            |index: u64| Entry { index, term: 1 + index / 10, data: vec![7u8; 1 << 20].into(), ..Default::default() };
        let n = (TERMS_READ_BYTES >> 20) as u64 + 6;
        append(&mut log, &(1..=n).map(large).collect::<Vec<_>>());
        drop(log);
        let log = RaftLog::open(dir.path()).unwrap();
        assert_eq!(log.last_index(), n);
        assert!((1..=n).all(|i| log.term(i) == Ok(1 + i / 10)));
    }

    #[test]
    fn a_conflicting_append_replaces_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path()).unwrap();
        append(&mut log, &(1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>());
        append(&mut log, &[entry(3, 2), entry(4, 2)]);
        assert_eq!(indexes(&log), vec![(1, 1), (2, 1), (3, 2), (4, 2)]);
        drop(log);
        assert_eq!(indexes(&RaftLog::open(dir.path()).unwrap()), vec![(1, 1), (2, 1), (3, 2), (4, 2)]);
    }

    fn snapshot_at(index: u64, term: u64) -> SnapshotMetadata {
        let conf_state = ConfState { voters: vec![1, 2, 3], ..Default::default() };
        SnapshotMetadata { index, term, conf_state: Some(conf_state).into(), ..Default::default() }
    }

    #[test]
    fn compaction_keeps_the_term_before_the_first_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path()).unwrap();
        append(&mut log, &(1..=10).map(|i| entry(i, 1 + i / 4)).collect::<Vec<_>>());
        // Not beyond what a snapshot covers.
        log.compact_to(8).unwrap();
        assert_eq!(log.first_index(), 1);
        log.set_snapshot(snapshot_at(7, 2)).unwrap();
        log.compact_to(6).unwrap();
        assert_eq!((log.first_index(), log.last_index()), (6, 10));
        assert_eq!(log.term(5), Ok(2));
        assert_eq!(log.term(4), Err(raft::Error::Store(StorageError::Compacted)));
        assert!(log.entries(5, 7, None, GetEntriesContext::empty(false)).is_err());
        drop(log);
        let log = RaftLog::open(dir.path()).unwrap();
        assert_eq!((log.first_index(), log.last_index(), log.term(5)), (6, 10, Ok(2)));
        assert_eq!(log.snapshot(0, 2).unwrap().get_metadata().index, 7);
    }

    #[test]
    fn installing_a_snapshot_replaces_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path()).unwrap();
        append(&mut log, &(1..=3).map(|i| entry(i, 1)).collect::<Vec<_>>());
        let meta = snapshot_at(50, 4);
        log.persist(Persist { snapshot: Some(&meta), entries: &[entry(51, 4)], hard_state: None }, true).unwrap();
        assert_eq!((log.first_index(), log.last_index(), log.term(50)), (51, 51, Ok(4)));
        append(&mut log, &[entry(52, 4)]);
        drop(log);
        let log = RaftLog::open(dir.path()).unwrap();
        assert_eq!(indexes(&log), vec![(51, 4), (52, 4)]);
        assert_eq!(log.conf_state().voters, vec![1, 2, 3]);
        assert_eq!(log.snapshot_metadata().map(|m| m.index), Some(50));
    }

    #[test]
    fn a_snapshot_from_before_the_log_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path()).unwrap();
        log.persist(Persist { snapshot: Some(&snapshot_at(50, 4)), ..Default::default() }, true).unwrap();
        let mut older = snapshot_at(30, 3);
        older.mut_conf_state().voters = vec![1, 2];
        log.set_snapshot(older).unwrap();
        drop(log);
        let log = RaftLog::open(dir.path()).unwrap();
        assert_eq!(log.snapshot_metadata().map(|m| m.index), Some(50));
        assert_eq!(log.conf_state().voters, vec![1, 2, 3]);
    }

    #[test]
    fn a_torn_last_write_loses_only_that_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path()).unwrap();
        for i in 1..=20 {
            append(&mut log, &[entry(i, 1)]);
        }
        drop(log);
        // A crash in the middle of the last record: cut the newest log file short.
        let newest = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "raftlog"))
            .max()
            .unwrap();
        let len = std::fs::metadata(&newest).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&newest).unwrap();
        file.set_len(len - 7).unwrap();
        drop(file);
        let log = RaftLog::open(dir.path()).unwrap();
        assert_eq!(indexes(&log), (1..=19).map(|i| (i, 1)).collect::<Vec<_>>());
    }

    #[test]
    fn a_header_stating_an_alignment_is_refused_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RaftLog::open(dir.path()).unwrap();
        append(&mut log, &[entry(1, 1), entry(2, 1)]);
        drop(log);
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "raftlog"))
            .expect("a log file");
        let mut bytes = std::fs::read(&file).unwrap();
        // The alignment raft-engine would round its reads up to (and allocate: this aborted
        // the process before the check).
        let at = FILE_MAGIC.len() + 8;
        bytes[at..at + 8].copy_from_slice(&0x0101_0101_1001_1804u64.to_be_bytes());
        std::fs::write(&file, &bytes).unwrap();
        let error = RaftLog::open(dir.path()).err().expect("refused").to_string();
        assert!(error.contains("block alignment of 72340173089740804 bytes"), "{error}");
    }
}
