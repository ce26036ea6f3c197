//! Backups: the whole replicated state as a snapshot file (every applier's state, module and
//! upgrade history, the request table), as of a linearizable read point, for a client to
//! keep and to start a new cluster from (`wasmraft snapshot save` and `restore`).

use super::{NodeError, NodeHandle, within};
use crate::inbox::ApplyTask;
use crate::snapshot;
use raft::eraftpb::SnapshotMetadata;
use std::fs::File;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

impl NodeHandle {
    /// Writes a backup that holds every write acknowledged before the call and opens it.
    /// The file is unlinked at once: it is gone when the caller drops it, whatever happens.
    pub async fn backup(&self, deadline: Duration) -> Result<(File, SnapshotMetadata), NodeError> {
        let until = Instant::now() + deadline;
        let (_, index) = self.read_index(until).await?;
        self.applied_up_to(index, until).await?;
        let (reply, rx) = oneshot::channel();
        self.apply.send(ApplyTask::Backup { reply }).map_err(|_| NodeError::shutting_down())?;
        let job = within(until.saturating_duration_since(Instant::now()), rx, "the state was not captured").await?;
        debug_assert!(job.checkpoint.applied.index >= index, "a backup holds its read point");
        let path = self.snapshots.backup_path(u64::from_le_bytes(super::entropy()?[..8].try_into().expect("8 bytes")));
        let written =
            tokio::task::spawn_blocking(move || -> Result<(File, SnapshotMetadata), snapshot::SnapshotError> {
                let modules: Vec<&[u8]> = job.modules.iter().map(|m| m.as_slice()).collect();
                let term = job.checkpoint.applied.term;
                let meta = snapshot::write_file(&path, &job.checkpoint, term, job.conf_state, &job.members, &modules)?;
                let file = File::open(&path)?;
                std::fs::remove_file(&path)?;
                Ok((file, meta))
            });
        match written.await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(e)) => Err(NodeError::Internal(format!("cannot write the backup: {e}"))),
            Err(e) => Err(NodeError::Internal(format!("the backup writer failed: {e}"))),
        }
    }
}
