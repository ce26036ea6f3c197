//! When a node snapshots its state, and the thread that writes the files.
//!
//! A snapshot holds the whole state, so one written every `--snapshot-interval` entries
//! would make each entry's share of the cost grow with the state (a million keys: 250 MB
//! every 10,000 puts). Past [`FLOOR_BYTES`] of state, a node also waits until the entries
//! applied since its last snapshot add up to a [`RATIO`]th of the state beyond the floor:
//! snapshots then write at most about [`RATIO`] bytes per byte of entries, whatever the
//! state's size, and a restart replays at most that share of the state in log. A larger
//! ratio replays less at a restart and writes more.

use crate::apply::SnapshotJob;
use crate::inbox::Event;
use crate::metrics::{Metrics, SnapshotOp};
use crate::snapshot::SnapshotDir;
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// States up to this size are snapshotted every `--snapshot-interval` entries alone.
pub const FLOOR_BYTES: u64 = 16 << 20;

/// Snapshot bytes written per byte of entries applied, at most (past the floor).
pub const RATIO: u64 = 8;

/// The apply thread's side: counts what applied since the last snapshot it asked for.
pub struct Schedule {
    interval: u64,
    last_index: u64,
    entry_bytes: u64,
    /// The state's bytes in the newest snapshot written (0 before the first).
    state_bytes: Arc<AtomicU64>,
}

impl Schedule {
    /// A schedule of one snapshot every `interval` entries (at least), counted from
    /// `applied`; `state_bytes` is where the writer says how large the state was.
    pub fn new(interval: u64, applied: u64, state_bytes: Arc<AtomicU64>) -> Self {
        assert!(interval > 0, "a snapshot interval of at least one entry");
        Schedule { interval, last_index: applied, entry_bytes: 0, state_bytes }
    }

    /// Counts an applied entry of `bytes`.
    pub fn applied(&mut self, bytes: usize) {
        self.entry_bytes += bytes as u64;
    }

    /// Whether to ask for a snapshot at `applied`; if so, counts from there.
    pub fn due(&mut self, applied: u64) -> bool {
        let beyond_floor = self.state_bytes.load(Ordering::Relaxed).saturating_sub(FLOOR_BYTES);
        let due = applied >= self.last_index + self.interval && self.entry_bytes * RATIO >= beyond_floor;
        if due {
            self.restart(applied);
        }
        due
    }

    /// Counts from a snapshot installed from the leader at `applied`, whose state holds
    /// `state_bytes`.
    pub fn installed(&mut self, applied: u64, state_bytes: u64) {
        self.state_bytes.store(state_bytes, Ordering::Relaxed);
        self.restart(applied);
    }

    /// Counts from `applied` (a snapshot asked for).
    fn restart(&mut self, applied: u64) {
        self.last_index = applied;
        self.entry_bytes = 0;
    }
}

/// The state's share of a snapshot file of `file_bytes` that carries `modules`.
pub fn state_share(file_bytes: u64, modules: &[impl AsRef<[u8]>]) -> u64 {
    file_bytes.saturating_sub(modules.iter().map(|m| m.as_ref().len() as u64).sum())
}

/// Writes snapshot files off the apply path, then tells the raft thread; records the
/// state's size in `state_bytes` for the [`Schedule`]. A job that waited while a newer one
/// queued is skipped: the newer holds more.
pub fn run(
    jobs: Receiver<SnapshotJob>,
    dir: Arc<SnapshotDir>,
    events: Sender<Event>,
    metrics: Arc<Metrics>,
    state_bytes: Arc<AtomicU64>,
) {
    while let Ok(job) = jobs.recv() {
        let job = jobs.try_iter().last().unwrap_or(job);
        let index = job.checkpoint.applied.index;
        let started = Instant::now();
        let modules: Vec<&[u8]> = job.modules.iter().map(|m| m.as_slice()).collect();
        match dir.write(&job.checkpoint, job.checkpoint.applied.term, job.conf_state, &job.members, &modules) {
            Ok(meta) => {
                let took = started.elapsed();
                let bytes = std::fs::metadata(dir.path(meta.index, meta.term)).map_or(0, |m| m.len());
                state_bytes.store(state_share(bytes, &modules), Ordering::Relaxed);
                metrics.snapshot(SnapshotOp::Save, took, bytes);
                tracing::info!(index, keys = job.checkpoint.keys(), bytes, ?took, "snapshot written");
                let _ = events.send(Event::SnapshotBuilt(meta));
                // The new one and the one before (which a transfer may still be reading;
                // an open file stays readable once unlinked anyway).
                if let Err(e) = dir.prune(index) {
                    tracing::warn!("cannot remove old snapshots: {e}");
                }
            }
            Err(e) => tracing::error!(index, "cannot write a snapshot: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_small_state_is_snapshotted_every_interval() {
        let state = Arc::new(AtomicU64::new(FLOOR_BYTES));
        let mut s = Schedule::new(100, 0, state);
        for index in 1..=99 {
            s.applied(10);
            assert!(!s.due(index), "{index}");
        }
        s.applied(10);
        assert!(s.due(100));
        assert!(!s.due(101), "counted from 100 again");
        assert!(s.due(200));
    }

    #[test]
    fn a_large_state_waits_for_entries_worth_a_share_of_it() {
        let state = Arc::new(AtomicU64::new(FLOOR_BYTES + 400 * MIB));
        let mut s = Schedule::new(100, 0, state.clone());
        // 400 MiB / RATIO of entries at 1 KiB each, not the interval's 100 entries.
        let mut index = 0;
        loop {
            index += 1;
            s.applied(1024);
            if s.due(index) {
                break;
            }
        }
        assert_eq!(index, 400 * 1024 / RATIO, "a share of the 400 MiB beyond the floor");
        // A large snapshot installed from the leader: its size counts from there.
        state.store(0, Ordering::Relaxed);
        s.installed(index, FLOOR_BYTES + 8 * MIB * RATIO);
        s.applied(4 * MIB as usize);
        assert!(!s.due(index + 100), "half of what the installed state asks for");
        s.applied(4 * MIB as usize);
        assert!(s.due(index + 101));
        index += 101;
        // The state shrank under the floor: the interval alone again.
        state.store(MIB, Ordering::Relaxed);
        s.applied(1);
        assert!(s.due(index + 100));
    }
}
