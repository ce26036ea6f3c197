//! `wasmraft snapshot save | inspect | restore`: backups of a live cluster, as etcdctl's
//! `snapshot save`, `status` and `restore` do it for etcd.

use super::target::{Connected, Target};
use super::{LimitArgs, rpc_error};
use crate::node::config::parse_peers;
use crate::node::restore::{Restore, load_backup, restore};
use crate::proto::client::BackupRequest;
use crate::snapshot::SnapshotFile;
use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub(super) enum SnapshotCommand {
    /// Save a backup of the live cluster to FILE: the whole replicated state (every
    /// applier's state, module and upgrade history, the request table) as of a
    /// linearizable read, so it holds every write acknowledged before the command started.
    /// The node streams it; the file is checked before it is kept. Needs the admin role.
    Save {
        #[command(flatten)]
        target: Target,
        file: PathBuf,
    },
    /// Check a backup and print what it holds: index, term, appliers (name, version, module
    /// hash, keys, state hash), members, and the state hash a restored cluster shows.
    Inspect { file: PathBuf },
    /// Make node ID's data directory of a new cluster from a backup. Run it for every
    /// member, with the same FILE and --peers; then start each with `wasmraft serve --id ID
    /// --data-dir DIR --listen ... --client-listen ...` (no --module: the appliers are the
    /// backup's). The new cluster has its own cluster id, and the backup's index, state,
    /// appliers and state hash. Creates nothing if the backup is damaged.
    Restore {
        file: PathBuf,
        #[arg(long)]
        id: u64,
        /// The new cluster's members as ID=HOST:PORT, comma-separated, this node included.
        #[arg(long, value_name = "ID=ADDR,...")]
        peers: String,
        /// The new node's data directory (must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The new cluster's name (its nodes' certificates name it).
        #[arg(long, default_value = "wasmraft")]
        cluster_name: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

pub(super) fn run(command: SnapshotCommand) -> anyhow::Result<()> {
    match command {
        SnapshotCommand::Save { target, file } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async { save(target.connect().await?, &file).await })
        }
        SnapshotCommand::Inspect { file } => {
            println!("{}", describe(&load_backup(&file)?));
            Ok(())
        }
        SnapshotCommand::Restore { file, id, peers, data_dir, cluster_name, limits } => {
            let peers = parse_peers(&peers)?;
            let r = Restore {
                backup: &file,
                id,
                peers,
                data_dir: &data_dir,
                cluster_name: &cluster_name,
                limits: limits.limits(),
            };
            let backup = restore(&r)?;
            let mut out = describe(&backup);
            out["data_dir"] = json!(data_dir);
            println!("{out}");
            Ok(())
        }
    }
}

/// Receives the backup into `<file>.tmp`, checks it and moves it into place.
async fn save(mut c: Connected, file: &Path) -> anyhow::Result<()> {
    let mut stream = c.client.backup(c.call(BackupRequest {})).await.map_err(rpc_error)?.into_inner();
    let tmp = crate::durable::temp_path(file);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    );
    let (mut total, mut received) = (0u64, 0u64);
    let progress = std::io::stderr().is_terminal();
    let result: anyhow::Result<()> = async {
        while let Some(chunk) = stream.message().await.map_err(rpc_error)? {
            if received == 0 {
                total = chunk.total_bytes;
            }
            received += chunk.data.len() as u64;
            if received > total {
                bail!("the node sent more than the {total} bytes it announced");
            }
            out.write_all(&chunk.data)?;
            if progress {
                eprint!(
                    "\r{:>5.1}% of {:.1} MiB",
                    received as f64 * 100.0 / total.max(1) as f64,
                    total as f64 / 1048576.0
                );
            }
        }
        if progress {
            eprintln!();
        }
        if received != total || total == 0 {
            bail!("the backup stream ended after {received} of {total} bytes");
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    }
    .await;
    let checked = result.and_then(|()| load_backup(&tmp));
    match checked {
        Ok(backup) => {
            std::fs::rename(&tmp, file).with_context(|| format!("cannot move the backup to {}", file.display()))?;
            let mut out = describe(&backup);
            out["file"] = json!(file);
            out["bytes"] = json!(total);
            println!("{out}");
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// What `inspect` prints of a backup.
fn describe(backup: &SnapshotFile) -> Value {
    let checkpoint = &backup.checkpoint;
    let appliers: Vec<Value> = checkpoint
        .appliers
        .iter()
        .zip(&backup.modules)
        .map(|(a, module)| {
            let m = &a.system.module;
            json!({
                "name": m.name,
                "version": m.version,
                "module_hash": blake3::hash(module).to_hex().to_string(),
                "module_bytes": module.len(),
                "keys": a.state.len(),
                "state_hash": a.state_hash().to_string(),
                "upgrades": a.system.upgrades.len(),
            })
        })
        .collect();
    json!({
        "index": backup.meta.index,
        "term": backup.meta.term,
        "appliers": appliers,
        "members": backup.members.addresses,
        "request_table_keys": checkpoint.requests.map().len(),
        "state_hash": checkpoint.state_hash().to_string(),
    })
}
