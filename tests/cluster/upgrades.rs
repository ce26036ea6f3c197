//! Hot upgrade through the log: kv 1.0.0 -> kv 2.0.0 (appliers/kv2) while clients write; a
//! failing `migrate`; modules the checks refuse; a large module reaching a node by snapshot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmraft::proto::client::StatusResponse;
use wasmraft_tests::cluster::{Access, Cluster, Code, assert_acked_present, output, propose, upgrade, write_load};
use wasmraft_tests::{module_bytes as module, padded};

async fn statuses(cluster: &Cluster) -> Vec<StatusResponse> {
    let mut out = Vec::new();
    for id in cluster.running() {
        out.push(cluster.status(id).await.expect("status"));
    }
    out
}

/// The (name, version, since_index) every running node reports as active.
async fn active_module(cluster: &Cluster) -> Vec<(String, String, u64)> {
    statuses(cluster)
        .await
        .into_iter()
        .map(|s| s.module.expect("a module"))
        .map(|m| (m.name, m.version, m.since_index))
        .collect()
}

/// Which applier version produced a write's output: v2 tags its outputs.
fn written_by(output: &serde_json::Value) -> Option<&str> {
    output.as_object()?.values().next()?.get("by")?.as_str()
}

async fn put_json(cluster: &Cluster, id: u64, command: serde_json::Value) -> Result<serde_json::Value, String> {
    let mut client = cluster.client(id).await.expect("client");
    let response =
        propose(&mut client, serde_json::to_vec(&command).unwrap(), Duration::from_secs(5)).await.expect("proposed");
    output(&response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_out_v2_under_writes_switches_every_node_at_one_index() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (endpoints, stop) = (cluster.endpoints(), stop.clone());
        tokio::spawn(async move { write_load(endpoints, "roll", 8, stop, None).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Through a follower: the upgrade entry travels to the leader like any proposal.
    let via = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let upgraded = upgrade(&cluster, via, module("kv2"), false).await.expect("upgrade accepted");
    let switch = upgraded.index;
    // Every member compiled it before it was proposed, the node that took it first.
    let mut compiled_on = upgraded.compiled_on.clone();
    assert_eq!(compiled_on.first(), Some(&via));
    compiled_on.sort();
    assert_eq!(compiled_on, cluster.ids());
    assert_eq!(upgraded.previous.as_ref().map(|m| m.version.as_str()), Some("1.0.0"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let load = load.await.unwrap();

    // No request failed, and each node answered with v1's outputs before the switch and
    // v2's after it.
    assert_eq!((load.abandoned, load.retries), (0, 0), "requests failed during the rollout");
    for node in 0..3 {
        let mine: Vec<_> = load.acked.iter().filter(|a| a.via == node).collect();
        let before = mine.iter().filter(|a| a.index < switch).count();
        let after = mine.iter().filter(|a| a.index > switch).count();
        assert!(before > 10 && after > 10, "node {node} answered {before} writes before the switch, {after} after");
        for a in mine {
            let out = a.output.as_ref().expect("every write succeeded");
            let expected = if a.index < switch { None } else { Some("kv 2.0.0") };
            assert_eq!(written_by(out), expected, "write at {} (switch at {switch}) via node {node}: {out}", a.index);
        }
    }
    let max = load.acked.iter().map(|a| a.index).max().unwrap();
    cluster.converged(max, Duration::from_secs(20)).await;
    assert_acked_present(&cluster, &load).await;
    for s in statuses(&cluster).await {
        let m = s.module.unwrap();
        assert_eq!((m.name.as_str(), m.version.as_str(), m.since_index), ("kv", "2.0.0", switch), "node {}", s.id);
        assert_eq!(m.hash, upgraded.module.as_ref().unwrap().hash);
        assert_eq!(s.upgrades.len(), 1, "node {}: {:?}", s.id, s.upgrades);
        assert_eq!((s.upgrades[0].index, s.upgrades[0].refused.as_str()), (switch, ""));
    }
    // v2's migrate ran once, everywhere, and v2's new command works on every node.
    for id in cluster.ids() {
        assert_eq!(wasmraft_tests::cluster::get(&cluster, id, "migrated").await.as_deref(), Some("from 1.0.0"));
        let out =
            put_json(&cluster, id, serde_json::json!({ "append": { "key": "log", "suffix": id.to_string() } })).await;
        assert_eq!(written_by(&out.unwrap()), Some("kv 2.0.0"));
    }
    // A node restarted afterwards replays the upgrade from its log and runs v2.
    let restarted = cluster.ids().into_iter().find(|&id| id != via).unwrap();
    cluster.kill(restarted);
    cluster.spawn(restarted);
    cluster.converged(max + 3, Duration::from_secs(20)).await;
    cluster.leader(Duration::from_secs(10)).await;
    let out =
        put_json(&cluster, restarted, serde_json::json!({ "append": { "key": "log", "suffix": "!" } })).await.unwrap();
    assert_eq!(written_by(&out), Some("kv 2.0.0"));
    assert_eq!(wasmraft_tests::cluster::get(&cluster, restarted, "log").await.as_deref(), Some("123!"));
    cluster.converged(max + 4, Duration::from_secs(20)).await;
    assert_eq!(cluster.status(restarted).await.unwrap().module.unwrap().since_index, switch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migrate_keeps_v1_on_every_node() {
    let cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    put_json(&cluster, 1, serde_json::json!({ "put": { "key": "fail-migration", "value": "yes" } })).await.unwrap();
    let refused = upgrade(&cluster, 2, module("kv2"), false).await.expect_err("migrate refuses");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("migrate failed") && refused.message().contains("fail-migration"),
        "{refused:?}"
    );

    let (applied, _) = cluster.converged(3, Duration::from_secs(10)).await;
    assert_eq!(active_module(&cluster).await, vec![("kv".to_string(), "1.0.0".to_string(), 0); 3]);
    for s in statuses(&cluster).await {
        assert_eq!(s.upgrades.len(), 1);
        assert!(s.upgrades[0].refused.contains("fail-migration"), "{:?}", s.upgrades);
    }
    for id in cluster.ids() {
        // All or nothing: the write migrate made before refusing did not land.
        assert_eq!(wasmraft_tests::cluster::get(&cluster, id, "migrated").await, None);
        let out = put_json(&cluster, id, serde_json::json!({ "put": { "key": "k", "value": "v" } })).await.unwrap();
        assert_eq!(written_by(&out), None, "v1 still applies");
    }
    let append = put_json(&cluster, 3, serde_json::json!({ "append": { "key": "k", "suffix": "x" } })).await;
    assert!(append.unwrap_err().starts_with("bad-request"), "v1 has no append");

    // With the obstacle gone, the same module goes in, rolled out with the CLI, which says
    // each phase as it goes.
    put_json(&cluster, 1, serde_json::json!({ "delete": { "key": "fail-migration" } })).await.unwrap();
    let out = std::process::Command::new(wasmraft_tests::cluster::binary())
        .args(["upgrade", "--endpoint", &cluster.nodes[&3].client, "--module"])
        .arg(wasmraft_tests::appliers_dir().join("kv2.wasm"))
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    for phase in
        ["checked: kv 2.0.0 replaces 1.0.0", "compiled on members 3, 1, 2", "proposed: committed at", "switched at"]
    {
        assert!(stderr.contains(phase), "no `{phase}` in {stderr}");
    }
    let upgraded: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let index = upgraded["index"].as_u64().unwrap();
    assert!(index > applied);
    assert_eq!(
        (upgraded["previous"]["version"].as_str(), upgraded["compiled_on"].as_array().map(Vec::len)),
        (Some("1.0.0"), Some(3))
    );
    cluster.converged(index, Duration::from_secs(10)).await;
    assert_eq!(active_module(&cluster).await, vec![("kv".to_string(), "2.0.0".to_string(), index); 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_the_checks_refuse_never_reach_the_log() {
    let cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let (applied, _) = cluster.converged(1, Duration::from_secs(10)).await;
    let last_index = |s: &[StatusResponse]| s.iter().map(|s| s.last_log_index).collect::<Vec<_>>();
    let before = last_index(&statuses(&cluster).await);

    let mut truncated = module("kv2");
    truncated.truncate(truncated.len() / 2);
    let cases: [(&str, Vec<u8>, bool, Code, &str); 5] = [
        ("garbage", b"not a module at all".to_vec(), false, Code::InvalidArgument, "not a WebAssembly binary"),
        ("truncated", truncated, false, Code::InvalidArgument, "does not compile"),
        ("another applier", module("testkit"), false, Code::FailedPrecondition, "this cluster hosts kv"),
        ("the same version", module("kv"), false, Code::FailedPrecondition, "not newer"),
        ("the same version, downgrade allowed", module("kv"), true, Code::Ok, ""),
    ];
    for (what, bytes, allow_downgrade, code, says) in cases {
        let result = upgrade(&cluster, 2, bytes, allow_downgrade).await;
        if code == Code::Ok {
            // Allowed explicitly, a same-version replacement goes through: the control.
            assert!(result.is_ok(), "{what}: {result:?}");
            continue;
        }
        let e = result.expect_err(what);
        assert_eq!(e.code(), code, "{what}: {e:?}");
        assert!(e.message().contains(says), "{what}: {e:?}");
    }
    cluster.converged(applied + 1, Duration::from_secs(10)).await;
    let after = statuses(&cluster).await;
    // Only the allowed replacement was proposed: one entry.
    assert_eq!(last_index(&after), before.iter().map(|i| i + 1).collect::<Vec<_>>(), "refused modules were proposed");
    assert!(after.iter().all(|s| s.upgrades.len() == 1 && s.upgrades[0].index == applied + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_module_reaches_a_node_that_was_away_by_snapshot() {
    let mut cluster = Cluster::start(3, &["--snapshot-interval", "1000", "--snapshot-catchup", "100"]);
    cluster.leader(Duration::from_secs(10)).await;
    cluster.stop(3);
    // (A proposal forwarded to a leader that is going away fails: ask the next one.)
    let leader = cluster.leader(Duration::from_secs(10)).await;
    // 6 MiB: several times the largest append message and the snapshot chunk.
    let big = padded(module("kv2"), 6 << 20);
    let upgraded = upgrade(&cluster, leader, big.clone(), false).await.expect("a padded v2 is accepted");
    assert_eq!(upgraded.module.as_ref().unwrap().hash, wasmraft::runtime::ModuleHash::of(&big).to_string());
    let endpoints: Vec<Access> = cluster.endpoints().into_iter().take(2).collect();
    let load = write_load(endpoints, "after", 32, Arc::new(AtomicBool::new(false)), Some(3000)).await;
    assert_eq!(load.acked.len(), 3000);
    cluster.spawn(3);
    let max = load.acked.iter().map(|a| a.index).max().unwrap();
    cluster.converged(max, Duration::from_secs(60)).await;
    let status = cluster.status(3).await.unwrap();
    assert!(status.snapshot_index > upgraded.index, "node 3 caught up by snapshot: {status:?}");
    assert_eq!(status.module.unwrap().hash, upgraded.module.unwrap().hash);
    let out = put_json(&cluster, 3, serde_json::json!({ "append": { "key": "x", "suffix": "y" } })).await.unwrap();
    assert_eq!(written_by(&out), Some("kv 2.0.0"));
}
