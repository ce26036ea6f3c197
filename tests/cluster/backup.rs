//! Backup and restore (`wasmraft snapshot save | inspect | restore`): a backup of a live
//! cluster under load holds every acknowledged write up to its index and nothing after it; a
//! new cluster restored from it has the same state hash and appliers under a new cluster id;
//! the same for the whole DSS (SCD and RID, TLS on) with USS clients creating intents; a
//! damaged backup restores nothing.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmraft_tests::cluster::{Cluster, admin_command, all_entries, binary, propose, put_command, write_load};
use wasmraft_tests::dss_http::{DSS_START, start_dss};
use wasmraft_tests::http::{HttpClient, now_secs, token};
use wasmraft_tests::{Rng, busy_cell};

fn wasmraft(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().expect("wasmraft runs")
}

/// `wasmraft snapshot save` through node `id` to `file`, while the test's tasks go on.
async fn save(cluster: &Cluster, id: u64, file: &Path) -> Value {
    let mut command = admin_command(cluster.certs_dir());
    command.args(["snapshot", "save", "--endpoint", &cluster.endpoint(id).address]).arg(file);
    let out = tokio::task::spawn_blocking(move || command.output().expect("wasmraft runs"));
    printed(&out.await.unwrap())
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

/// Destroys `cluster` and starts a new one from the backup `file` (which `saved` describes)
/// on fresh directories and peer addresses. Checks that it is a new cluster (not `old_id`)
/// with the backup's state hash and the same appliers; returns its leader.
async fn restore_from(cluster: &mut Cluster, file: &Path, saved: &Value, old_id: &str) -> u64 {
    for id in cluster.ids() {
        cluster.kill(id);
    }
    for node in cluster.nodes.values_mut() {
        node.address = format!("127.0.0.1:{}", wasmraft_tests::cluster::free_port());
    }
    let peers = peers(cluster);
    let ids = cluster.ids();
    for &id in &ids {
        let dir: PathBuf = cluster.dir.path().join(format!("restored{id}"));
        let made = printed(&restore(file, id, &peers, &dir));
        assert_eq!(made["state_hash"], saved["state_hash"], "{made}");
        cluster.nodes.get_mut(&id).unwrap().data_dir = dir;
    }
    cluster.set_peers(&peers);
    for &id in &ids {
        cluster.spawn(id);
    }
    let leader = cluster.leader(Duration::from_secs(20)).await;
    let index = saved["index"].as_u64().expect("an index");
    let (applied, hash) = cluster.converged(index, Duration::from_secs(30)).await;
    assert_eq!(hash, saved["state_hash"].as_str().unwrap(), "restored at {applied}");
    let status = cluster.status(leader).await.expect("status");
    assert_ne!(status.cluster_id, old_id, "a restored cluster is a new cluster");
    let inspected = printed(&wasmraft(&["snapshot", "inspect", file.to_str().unwrap()]));
    let kept: Vec<(&str, &str)> = inspected["appliers"]
        .as_array()
        .expect("appliers")
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["module_hash"].as_str().unwrap()))
        .collect();
    let hosted: Vec<(&str, &str)> = status
        .appliers
        .iter()
        .map(|a| a.module.as_ref().unwrap())
        .map(|m| (m.name.as_str(), m.hash.as_str()))
        .collect();
    assert_eq!(hosted, kept, "the same appliers, the same modules");
    leader
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
    let saved = save(&cluster, 2, &file).await;
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

    let leader = restore_from(&mut cluster, &file, &saved, &before).await;

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

/// One USS client creating intents in the busy cell until `stop` (its key: every OVN it has
/// received); records (when acknowledged, id, OVN) of each intent the DSS created.
async fn uss(base: String, seed: u64, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<(Instant, String, String)>>>) {
    let (http, token) = (HttpClient::default(), token("uss1", &["utm.strategic_coordination"]));
    let (mut rng, mut key) = (Rng(seed), Vec::<String>::new());
    while !stop.load(Ordering::Relaxed) {
        let id = busy_cell::uuid4_hex(&mut rng);
        let body = busy_cell::intent(busy_cell::flight(&mut rng, now_secs()), &key);
        let url = format!("{base}/dss/v1/operational_intent_references/{id}");
        let Ok(reply) = http.send("PUT", &url, Some(&token), Some(body.into_bytes())).await else { continue };
        let ovns = match reply.status {
            201 | 409 => busy_cell::ovns_received(reply.status, &reply.body),
            status => panic!("the DSS answered {status}: {}", reply.text()),
        };
        if reply.status == 201 {
            acked.lock().unwrap().push((Instant::now(), id, ovns[0].clone()));
        }
        key.extend(ovns);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dss_restored_from_a_backup_under_load_holds_every_intent_it_acknowledged() {
    let mut cluster = start_dss(3, &[]);
    let leader = cluster.leader(DSS_START).await;
    let before = cluster.status(leader).await.expect("status").cluster_id;
    let (stop, acked) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
    let clients: Vec<_> = (0..6u64)
        .map(|n| {
            let base = cluster.http_url(1 + n % 3);
            tokio::spawn(uss(base, 7 + n, stop.clone(), acked.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    let file = cluster.dir.path().join("dss.backup");
    let saved = save(&cluster, 3, &file).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("every request answered as a USS expects");
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let (kept, during): (Vec<_>, Vec<_>) = acked.iter().partition(|(at, ..)| *at < started);
    assert!(
        kept.len() >= 20 && !during.is_empty(),
        "{} intents before the backup, {} during",
        kept.len(),
        during.len()
    );
    assert_eq!(saved["appliers"].as_array().map(Vec::len), Some(2), "scd and rid: {saved}");

    let leader = restore_from(&mut cluster, &file, &saved, &before).await;
    let (http, token) = (HttpClient::default(), token("uss1", &["utm.strategic_coordination"]));
    for (_, id, ovn) in kept {
        let url = format!("{}/dss/v1/operational_intent_references/{id}", cluster.http_url(leader));
        let reply = http.send("GET", &url, Some(&token), None).await.expect("the restored DSS answers");
        assert_eq!(reply.status, 200, "intent {id}, acknowledged before the backup: {}", reply.text());
        assert_eq!(reply.json()["operational_intent_reference"]["ovn"].as_str(), Some(ovn.as_str()), "intent {id}");
    }
    // The restored DSS takes new intents.
    let stop = Arc::new(AtomicBool::new(false));
    let more = Arc::new(Mutex::new(Vec::new()));
    let client = tokio::spawn(uss(cluster.http_url(leader), 99, stop.clone(), more.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    client.await.unwrap();
    assert!(!more.lock().unwrap().is_empty(), "the restored DSS creates intents");
}
