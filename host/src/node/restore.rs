//! A new cluster from a backup (`wasmraft snapshot restore`, as `etcdctl snapshot restore`):
//! each member's data directory is made from the same backup file, with the new members,
//! and a cluster id of its own. The nodes then start with `wasmraft serve` on those
//! directories, from the backup's index, term, state, appliers and hash.
//!
//! The directory is built beside its destination and renamed into place last, so a
//! restore that fails (a damaged file, a full disk) leaves nothing behind.

use super::identity::{self, Identity};
use super::{MODULE_FILE, SNAPSHOTS_DIR, bootstrap_file};
use crate::log::{Persist, RaftLog};
use crate::membership::MemberBook;
use crate::runtime::Limits;
use crate::snapshot::{self, SnapshotDir, SnapshotFile};
use anyhow::{Context, bail};
use raft::eraftpb::{ConfState, HardState, SnapshotMetadata};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a restore makes.
pub struct Restore<'a> {
    pub backup: &'a Path,
    pub id: u64,
    /// The new cluster's members and their peer addresses.
    pub peers: BTreeMap<u64, String>,
    pub data_dir: &'a Path,
    pub cluster_name: &'a str,
    pub limits: Limits,
}

/// Loads a backup, checking everything in it (checksums, each applier's state hash).
pub fn load_backup(path: &Path) -> anyhow::Result<SnapshotFile> {
    snapshot::load(path).with_context(|| format!("{} is not a usable backup", path.display()))
}

/// Makes node `r.id`'s data directory of the new cluster; returns the backup it holds.
pub fn restore(r: &Restore) -> anyhow::Result<SnapshotFile> {
    if !r.peers.contains_key(&r.id) {
        bail!("--peers must name this node ({}) among the new cluster's members", r.id);
    }
    if r.data_dir.exists() && std::fs::read_dir(r.data_dir)?.next().is_some() {
        bail!("{} is not empty: a restore makes a new data directory", r.data_dir.display());
    }
    let file = load_backup(r.backup)?;
    let building = building_path(r.data_dir);
    if building.exists() {
        std::fs::remove_dir_all(&building).with_context(|| format!("cannot remove {}", building.display()))?;
    }
    let built = build(r, &file, &building);
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&building);
        return Err(e);
    }
    if r.data_dir.exists() {
        std::fs::remove_dir(r.data_dir)?;
    }
    std::fs::rename(&building, r.data_dir)
        .with_context(|| format!("cannot move {} to {}", building.display(), r.data_dir.display()))?;
    if let Some(parent) = r.data_dir.parent() {
        crate::durable::sync_dir(parent)?;
    }
    Ok(file)
}

fn building_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".restoring");
    dir.with_file_name(name)
}

fn build(r: &Restore, file: &SnapshotFile, dir: &Path) -> anyhow::Result<()> {
    if file.modules.is_empty() {
        anyhow::bail!("not a usable backup: it holds no applier");
    }
    crate::durable::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (index, term) = (file.meta.index, file.meta.term);
    let members: Vec<u64> = r.peers.keys().copied().collect();
    let conf_state = ConfState { voters: members.clone(), ..Default::default() };
    let book = MemberBook::from_addresses(r.peers.clone());
    // The appliers' modules as of the backup stand as the cluster's first modules.
    for (n, module) in file.modules.iter().enumerate() {
        crate::durable::write(&bootstrap_file(dir, n), module)?;
    }
    assert!(dir.join(MODULE_FILE).exists(), "a backup holds at least one applier (checked above)");
    book.save(dir)?;
    // The log starts after the backup: its index is committed, in the backup's term.
    let meta = SnapshotMetadata { index, term, conf_state: Some(conf_state.clone()).into(), ..Default::default() };
    let hard_state = HardState { term, commit: index, vote: 0, ..Default::default() };
    {
        let mut log = RaftLog::open(&dir.join("log")).context("cannot create the write-ahead log")?;
        log.persist(Persist { snapshot: Some(&meta), entries: &[], hard_state: Some(&hard_state) }, true)?;
    }
    let snapshots = SnapshotDir::open(dir.join(SNAPSHOTS_DIR))?;
    snapshots.write(&file.checkpoint, term, conf_state, &book, &file.modules)?;
    let from = format!("{index}-{}", file.checkpoint.state_hash());
    let identity = Identity {
        bootstrap_modules: Some(file.modules.len()),
        ..Identity::new(r.cluster_name, r.id, members, &r.limits, Some(from))
    };
    identity::write(dir, &identity)?;
    Ok(())
}
