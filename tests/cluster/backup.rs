//! Backup and restore (`wasmraft snapshot save | inspect | restore`): a backup of a live
//! cluster under load holds every acknowledged write up to its index and nothing after it; a
//! new cluster restored from it has the same state hash and appliers under a new cluster id;
//! a damaged backup restores nothing.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmraft_tests::cluster::{Cluster, all_entries, binary, propose, put_command, write_load};

fn wasmraft(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().expect("wasmraft runs")
}

/// The JSON a successful command printed.
fn printed(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn peers(cluster: &Cluster) -> String {
    cluster.nodes.values().map(|n| format!("{}={}", n.id, n.address)).collect::<Vec<_>>().join(",")
}

fn restore(file: &Path, id: u64, peers: &str, dir: &Path) -> Output {
    let (id, file, dir) = (id.to_string(), file.to_str().unwrap(), dir.to_str().unwrap());
    wasmraft(&["snapshot", "restore", file, "--id", &id, "--peers", peers, "--data-dir", dir])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_restored_from_a_backup_under_load_holds_every_acknowledged_write() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(15)).await;
    let before = cluster.status(leader).await.expect("status").cluster_id;

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(write_load(cluster.endpoints(), "w", 8, stop.clone(), None));
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A write acknowledged before the backup starts is in it.
    let mut client = cluster.client(leader).await.expect("client");
    let marker = propose(&mut client, put_command("marker", "before"), Duration::from_secs(5)).await.expect("put");

    let file = cluster.dir.path().join("cluster.backup");
    let endpoint = cluster.endpoint(2).address.clone();
    let save = {
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            wasmraft(&["snapshot", "save", "--endpoint", &endpoint, file.to_str().unwrap()])
        })
    };
    let saved = printed(&save.await.unwrap());
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let load = load.await.unwrap();
    let index = saved["index"].as_u64().expect("an index");
    assert!(index >= marker.index, "the backup ({index}) predates an acknowledged write ({})", marker.index);
    assert!(
        load.acked.iter().any(|a| a.index > index),
        "writes went on during the backup: {} acked, none after {index}",
        load.acked.len()
    );
    let inspected = printed(&wasmraft(&["snapshot", "inspect", file.to_str().unwrap()]));
    assert_eq!(inspected["state_hash"], saved["state_hash"], "{inspected}");
    assert_eq!((inspected["index"].as_u64(), inspected["appliers"][0]["name"].as_str()), (Some(index), Some("kv")));

    // Destroy the cluster; restore a new one on fresh directories and addresses.
    for id in cluster.ids() {
        cluster.kill(id);
    }
    for node in cluster.nodes.values_mut() {
        node.address = format!("127.0.0.1:{}", wasmraft_tests::cluster::free_port());
    }
    let peers = peers(&cluster);
    let ids = cluster.ids();
    for &id in &ids {
        let dir: PathBuf = cluster.dir.path().join(format!("restored{id}"));
        let made = printed(&restore(&file, id, &peers, &dir));
        assert_eq!(made["state_hash"], saved["state_hash"], "{made}");
        cluster.nodes.get_mut(&id).unwrap().data_dir = dir;
    }
    cluster.set_peers(&peers);
    for &id in &ids {
        cluster.spawn(id);
    }
    let leader = cluster.leader(Duration::from_secs(20)).await;
    let (applied, hash) = cluster.converged(index, Duration::from_secs(30)).await;
    assert_eq!(hash, saved["state_hash"].as_str().unwrap(), "restored at {applied}");
    let status = cluster.status(leader).await.expect("status");
    assert_ne!(status.cluster_id, before, "a restored cluster is a new cluster");
    let module = status.module.expect("a module");
    let kept = &inspected["appliers"][0];
    assert_eq!(
        (module.name.as_str(), module.hash.as_str()),
        (kept["name"].as_str().unwrap(), kept["module_hash"].as_str().unwrap())
    );

    let entries = all_entries(&cluster, leader).await;
    assert_eq!(entries.get("marker").map(String::as_str), Some("before"));
    let (kept, after): (Vec<_>, Vec<_>) = load.acked.iter().partition(|a| a.index <= index);
    let missing: Vec<&str> =
        kept.iter().filter(|a| entries.get(&a.key) != Some(&a.value)).map(|a| a.key.as_str()).collect();
    assert!(
        missing.is_empty(),
        "{} of {} writes up to {index} lost, e.g. {:?}",
        missing.len(),
        kept.len(),
        &missing[..1]
    );
    let leaked = after.iter().filter(|a| entries.contains_key(&a.key)).count();
    assert_eq!(leaked, 0, "writes after index {index} are not in its backup");

    // The new cluster takes writes.
    let mut client = cluster.client(leader).await.expect("client");
    let next = propose(&mut client, put_command("marker", "after"), Duration::from_secs(5)).await.expect("put");
    assert!(next.index > index);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_or_a_used_directory_restores_nothing() {
    let cluster = Cluster::start(1, &[]);
    let leader = cluster.leader(Duration::from_secs(15)).await;
    let mut client = cluster.client(leader).await.expect("client");
    for n in 0..50 {
        propose(&mut client, put_command(&format!("k{n}"), "v"), Duration::from_secs(5)).await.expect("put");
    }
    let work = cluster.dir.path();
    let file = work.join("good.backup");
    printed(&wasmraft(&["snapshot", "save", "--endpoint", &cluster.endpoint(1).address, file.to_str().unwrap()]));
    let good = std::fs::read(&file).unwrap();
    let peers = "1=127.0.0.1:7001";

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let damaged = [("truncated", good[..good.len() * 2 / 3].to_vec()), ("flipped", flipped), ("empty", Vec::new())];
    for (what, bytes) in damaged {
        let bad = work.join(format!("{what}.backup"));
        std::fs::write(&bad, bytes).unwrap();
        let inspected = wasmraft(&["snapshot", "inspect", bad.to_str().unwrap()]);
        assert!(!inspected.status.success(), "{what}: inspect took it");
        let dir = work.join(format!("from-{what}"));
        let out = restore(&bad, 1, peers, &dir);
        let message = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && message.contains("not a usable backup"), "{what}: {message}");
        assert!(!dir.exists(), "{what}: a failed restore made {}", dir.display());
        assert!(!work.join(format!("from-{what}.restoring")).exists(), "{what}: left its work behind");
    }

    let used = work.join("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("precious"), b"keep me").unwrap();
    let out = restore(&file, 1, peers, &used);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_eq!(std::fs::read(used.join("precious")).unwrap(), b"keep me");

    let out = restore(&file, 2, peers, &work.join("stranger"));
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--peers must name this node"));

    // The good one still restores.
    let made = printed(&restore(&file, 1, peers, &work.join("fresh")));
    assert!(made["appliers"][0]["keys"].as_u64().is_some_and(|keys| keys >= 50), "{made}");
}
