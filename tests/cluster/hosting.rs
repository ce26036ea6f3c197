//! One cluster hosting two appliers (scd, the primary, and kv): requests reach the applier
//! whose routes serve their path, each applier keeps its own state hash on every node, an
//! upgrade of one leaves the other's module and hash as they were, and a restarted node and
//! a node that joins later host both.

use std::time::Duration;
use wasmraft::proto::client::member_change::Change;
use wasmraft::proto::client::{AddLearner, Encoding, ProposeRequest, UpgradeRequest};
use wasmraft_tests::cluster::{Cluster, binary, change_members_until, free_port, output};
use wasmraft_tests::http::auth_flags;
use wasmraft_tests::{appliers_dir, module_bytes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_appliers_share_a_cluster_and_keep_to_their_own() {
    let flags = auth_flags();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start_hosting(3, &["scd", "kv"], true, &args);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let http = cluster.http_client();
    let url = |id: u64, path: &str| format!("{}{path}", cluster.http_url(id));

    // By path: /kv to kv, /aux/v1 to scd, anything else to the primary (scd's own 404).
    let put = http.send("PUT", &url(1, "/kv/a"), None, Some(b"1".to_vec())).await.unwrap();
    assert_eq!(put.status, 200, "{}", put.text());
    let got = http.send("GET", &url(2, "/kv/a"), None, None).await.unwrap();
    assert_eq!((got.status, got.json()["entry"]["value"].as_str()), (200, Some("1")), "{}", got.text());
    let version = http.send("GET", &url(3, "/aux/v1/version"), None, None).await.unwrap();
    assert_eq!((version.status, version.json()["version"].as_str()), (200, Some("scd-1.5.0")), "{}", version.text());
    let elsewhere = http.send("GET", &url(1, "/nowhere"), None, None).await.unwrap();
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.text());

    // Through the gRPC API, by name; no such applier is refused before the log.
    let mut client = cluster.client(leader).await.unwrap();
    let request = |applier: &str| ProposeRequest {
        command: serde_json::to_vec(&serde_json::json!({ "put": { "key": "b", "value": "2" } })).unwrap(),
        encoding: Encoding::Json as i32,
        applier: applier.into(),
        request_id: String::new(),
    };
    let applied = client.propose(request("kv")).await.unwrap().into_inner();
    assert!(output(&applied).is_ok(), "{applied:?}");
    let unknown = client.propose(request("rid")).await.unwrap_err();
    assert!(unknown.message().contains("no applier `rid`"), "{unknown:?}");

    let before = cluster.appliers_converged(applied.index).await;
    let names: Vec<&str> = before.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["scd", "kv"]);
    let status = cluster.status(leader).await.unwrap();
    assert_eq!(status.appliers[1].routes, ["/kv", "/whoami"]);

    // kv 1.0.0 -> 2.0.0: scd's module and state hash stay as they were.
    let upgrade =
        |applier: &str| UpgradeRequest { module: module_bytes("kv2"), allow_downgrade: false, applier: applier.into() };
    let wrong = client.upgrade(upgrade("scd")).await.unwrap_err();
    assert!(wrong.message().contains("the module is applier `kv`, not `scd`"), "{wrong:?}");
    let upgraded = client.upgrade(upgrade("kv")).await.unwrap().into_inner();
    let after = cluster.appliers_converged(upgraded.index).await;
    assert_eq!(after[0], before[0], "scd is untouched by kv's upgrade");
    assert_eq!((after[1].name.as_str(), after[1].version.as_str()), ("kv", "2.0.0"));
    assert_ne!(after[1].state_hash, before[1].state_hash);

    // A restarted node and a node that joins now both host the two appliers.
    let restarted = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.kill(restarted);
    cluster.spawn(restarted);
    let address = cluster.new_node(4, leader);
    let added = change_members_until(
        &cluster,
        leader,
        Change::AddLearner(AddLearner { id: 4, address }),
        Duration::from_secs(30),
    )
    .await
    .expect("node 4 is added");
    cluster.spawn(4);
    let joined = cluster.appliers_converged(added.index).await;
    assert_eq!(joined, after);
}

#[test]
fn appliers_that_cannot_share_a_cluster_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node1");
    let listen = format!("127.0.0.1:{}", free_port());
    let out = std::process::Command::new(binary())
        .args(["serve", "--id", "1", "--listen", &listen, "--peers", &format!("1={listen}")])
        .args(["--client-listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--data-dir")
        .arg(&data)
        .arg("--module")
        .arg(appliers_dir().join("kv.wasm"))
        .arg("--module")
        .arg(appliers_dir().join("kv2.wasm"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("two appliers are named `kv`"), "{stderr}");
    assert!(!data.join("identity.json").exists() && !data.join("module.wasm").exists(), "nothing is set up");
}
