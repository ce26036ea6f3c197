//! Which cluster and node a data directory belongs to. Written when the node bootstraps;
//! checked at every start, so that a directory is never run as another node or as a member
//! of another cluster.

use super::agreement::ConsensusSettings;
use super::config::NodeConfig;
use crate::membership::FILE as MEMBERS_FILE;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;

const FILE: &str = "identity.json";
/// `identity.json` is a few hundred bytes; anything much larger is not one.
const MAX_FILE_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub cluster_name: String,
    /// Hex of [`cluster_id`].
    pub cluster_id: String,
    pub node_id: u64,
    pub initial_members: Vec<u64>,
    /// The cluster's, recorded when the node was created (directories of older versions
    /// have none): the node refuses to start with others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus: Option<ConsensusSettings>,
    /// For a cluster restored from a backup: the backup's index and state hash, which
    /// make its id another than the backed-up cluster's (whose nodes may still be about).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    /// How many appliers' modules the cluster started with (`module.wasm`, then
    /// `module-N.wasm`), so that a file lost is noticed rather than its applier dropped
    /// (directories of older versions record none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_modules: Option<usize>,
}

/// The id every peer message carries: the name and the initial members, hashed (and what a
/// restored cluster was restored from).
pub fn cluster_id(name: &str, members: &[u64], restored_from: Option<&str>) -> u64 {
    let mut h = blake3::Hasher::new_derive_key("wasmraft cluster id v1");
    h.update(name.as_bytes());
    for m in members {
        h.update(&m.to_le_bytes());
    }
    if let Some(backup) = restored_from {
        h.update(b"restored from");
        h.update(backup.as_bytes());
    }
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

impl Identity {
    /// A member of the new cluster `config.peers` describes.
    pub fn bootstrapping(config: &NodeConfig) -> Self {
        let members: Vec<u64> = config.peers.keys().copied().collect();
        Identity::new(&config.cluster_name, config.id, members, &config.limits, None)
    }

    /// Node `node_id` of the cluster `name` of `members`.
    pub fn new(
        name: &str,
        node_id: u64,
        members: Vec<u64>,
        limits: &crate::runtime::Limits,
        restored_from: Option<String>,
    ) -> Self {
        Identity {
            cluster_name: name.to_string(),
            cluster_id: format!("{:016x}", cluster_id(name, &members, restored_from.as_deref())),
            node_id,
            initial_members: members,
            consensus: Some(ConsensusSettings::of(limits)),
            restored_from,
            bootstrap_modules: None,
        }
    }

    pub fn cluster_id(&self) -> u64 {
        u64::from_str_radix(&self.cluster_id, 16).unwrap_or(0)
    }
}

/// Whether `dir` already holds a node.
pub fn exists(dir: &Path) -> bool {
    dir.join(FILE).exists()
}

/// The directory's identity: the one it holds, checked against `wanted` (when there is one:
/// a restarted node needs no `--peers`), or for a new directory `wanted`, which [`write`]
/// records once the rest of the bootstrap is durable.
pub fn establish(dir: &Path, node_id: u64, wanted: Option<Identity>) -> anyhow::Result<Identity> {
    let path = dir.join(FILE);
    if path.exists() {
        let text =
            crate::durable::read(&path, MAX_FILE_BYTES).with_context(|| format!("cannot read {}", path.display()))?;
        let found: Identity =
            serde_json::from_slice(&text).with_context(|| format!("{} is damaged", path.display()))?;
        if found.node_id != node_id {
            bail!(
                "{} belongs to node {} of cluster `{}`, but this is node {node_id}: give every node its own data directory",
                dir.display(),
                found.node_id,
                found.cluster_name,
            );
        }
        // A restored cluster's members are given the same --peers as it started with.
        let wanted = wanted.map(|w| match &found.restored_from {
            Some(from) => Identity {
                cluster_id: format!("{:016x}", cluster_id(&w.cluster_name, &w.initial_members, Some(from))),
                ..w
            },
            None => w,
        });
        if let Some(wanted) = wanted
            && found.cluster_id != wanted.cluster_id
        {
            bail!(
                "{} belongs to cluster `{}` (id {}, members {:?}), but the settings describe cluster `{}` (id {}, members {:?})",
                dir.display(),
                found.cluster_name,
                found.cluster_id,
                found.initial_members,
                wanted.cluster_name,
                wanted.cluster_id,
                wanted.initial_members
            );
        }
        return Ok(found);
    }
    let Some(wanted) = wanted else {
        bail!(
            "{} holds no node yet: start a new cluster with --peers, or join a running one with --join \
             (after `wasmraft member add`)",
            dir.display()
        );
    };
    let unexpected: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        // The lock, the compile cache the node opened to check its module, and what a
        // bootstrap writes before its identity (a crash may have stopped it there).
        .filter(|name| {
            let name = name.strip_suffix(".tmp").unwrap_or(name);
            let module = name.strip_prefix("module-").and_then(|n| n.strip_suffix(".wasm"));
            let nth_module = module.is_some_and(|n| n.parse::<u16>().is_ok_and(|n| n >= 2));
            // The identity itself only half-written: its temporary (a whole one is found above).
            !(["LOCK", "module-cache", super::MODULE_FILE, MEMBERS_FILE, FILE].contains(&name) || nth_module)
        })
        .collect();
    if !unexpected.is_empty() {
        bail!(
            "{} holds files ({}) but no {FILE}: it is not a wasmraft data directory, or it was damaged; \
             refusing to bootstrap over it",
            dir.display(),
            unexpected.join(", ")
        );
    }
    Ok(wanted)
}

/// Records the directory's identity: the last step of a bootstrap, after which the
/// directory is a node's.
pub fn write(dir: &Path, identity: &Identity) -> std::io::Result<()> {
    crate::durable::write(&dir.join(FILE), &serde_json::to_vec_pretty(identity)?)
}
