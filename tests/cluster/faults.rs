//! Bad input and faults: garbled peer traffic is dropped, not fatal; a data directory is
//! never run as another node or cluster; a node cut off from the leader fails proposals
//! within their deadline.

use std::io::Write;
use std::time::{Duration, Instant};
use wasmraft::node::agreement::ConsensusSettings;
use wasmraft::proto::peer::peer_client::PeerClient;
use wasmraft::proto::peer::{RaftBatch, SnapshotChunk};
use wasmraft::runtime::Limits;
use wasmraft_tests::cluster::{Cluster, Code, output, propose, put_anywhere, put_command};

async fn peer_client(cluster: &Cluster, id: u64) -> PeerClient<tonic::transport::Channel> {
    PeerClient::connect(format!("http://{}", cluster.peer_address(id))).await.expect("peer port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_peer_traffic_is_dropped_and_the_cluster_carries_on() {
    let cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let status = cluster.status(1).await.unwrap();
    let cluster_id = u64::from_str_radix(&status.cluster_id, 16).unwrap();
    let mut peer = peer_client(&cluster, 1).await;

    // A valid message, truncated; random bytes; an empty message; a message for node 7.
    let mut valid = raft::eraftpb::Message::default();
    valid.set_msg_type(raft::eraftpb::MessageType::MsgHeartbeat);
    valid.to = 1;
    valid.from = 2;
    valid.term = 1_000_000;
    let valid = protobuf::Message::write_to_bytes(&valid).unwrap();
    let elsewhere = raft::eraftpb::Message { to: 7, ..Default::default() };
    let garbage = vec![
        valid[..valid.len() / 2].to_vec(),
        (0..200u8).map(|i| i.wrapping_mul(37)).collect(),
        vec![0xFF; 64],
        protobuf::Message::write_to_bytes(&elsewhere).unwrap(),
    ];
    let settings = ConsensusSettings::of(&Limits::default()).digest();
    let batch = RaftBatch { cluster_id, from: 2, messages: garbage, settings };
    peer.raft(tokio_stream::iter(vec![batch])).await.expect("garbage is dropped, the stream is fine");

    // Another cluster's traffic is refused outright.
    let foreign = RaftBatch { cluster_id: cluster_id ^ 1, from: 2, messages: vec![valid.clone()], settings };
    let refused = peer.raft(tokio_stream::iter(vec![foreign])).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // So is the traffic of a node whose consensus settings differ.
    let unlike = RaftBatch { cluster_id, from: 2, messages: vec![valid.clone()], settings: settings ^ 1 };
    let refused = peer.raft(tokio_stream::iter(vec![unlike])).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    // A snapshot stream that is not one.
    let chunk = SnapshotChunk {
        cluster_id,
        from: 2,
        message: vec![1, 2, 3],
        data: vec![0; 10],
        last: true,
        settings,
        size: 10,
    };
    let refused = peer.snapshot(tokio_stream::iter(vec![chunk])).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    // Not even HTTP/2.
    let mut raw = std::net::TcpStream::connect(cluster.peer_address(1)).unwrap();
    raw.write_all(&[0x16, 0x03, 0x01, 0xFF, 0xFF, 0, 1, 2, 3]).unwrap();
    drop(raw);

    // Every node is alive and the cluster still commits.
    let response =
        put_anywhere(&cluster.endpoints(), 0, "after", "garbage", Duration::from_secs(10)).await.expect("a write");
    cluster.converged(response.index, Duration::from_secs(10)).await;
    assert!(cluster.log_of(1).contains("dropped a garbled message"));
}

fn refusal(mut command: std::process::Command, extra: &[&str]) -> String {
    let output = command.args(extra).output().expect("runs");
    assert!(!output.status.success(), "the node started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_is_never_run_as_another_node_or_cluster() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    cluster.stop(3);
    let node3 = cluster.nodes[&3].data_dir.clone();

    // Node 2's settings on node 3's directory.
    let err = refusal(cluster.serve_command_in(2, &node3), &[]);
    assert!(err.contains("belongs to node 3") && err.contains("this is node 2"), "{err}");

    let err = refusal(cluster.serve_command(3), &["--cluster-name", "another"]);
    assert!(err.contains("belongs to cluster `wasmraft`") && err.contains("`another`"), "{err}");

    // While node 1 runs, its directory is locked.
    let err = refusal(cluster.serve_command(1), &[]);
    assert!(err.contains("in use by another wasmraft process"), "{err}");

    // A directory with foreign files is not bootstrapped over.
    let foreign = cluster.dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("precious.db"), b"data").unwrap();
    let err = refusal(cluster.serve_command_in(3, &foreign), &[]);
    assert!(err.contains("not a wasmraft data directory"), "{err}");

    // The right settings still start it.
    cluster.spawn(3);
    cluster.converged(1, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_the_leader_fails_proposals_within_their_deadline() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let lonely = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let mut client = cluster.client(lonely).await.unwrap();
    for id in cluster.ids().into_iter().filter(|&id| id != lonely) {
        cluster.pause(id, true);
    }
    let deadline = Duration::from_secs(2);
    for i in 0..3 {
        let started = Instant::now();
        let result = propose(&mut client, put_command(&format!("cut-off-{i}"), "x"), deadline).await;
        let took = started.elapsed();
        let status = result.expect_err("no quorum: nothing can commit");
        assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Unavailable), "{status:?}");
        assert!(took < deadline + Duration::from_millis(500), "took {took:?}");
    }
    for id in cluster.ids() {
        cluster.pause(id, false);
    }
    let mut client = cluster.client(lonely).await.unwrap();
    let started = Instant::now();
    loop {
        match propose(&mut client, put_command("reunited", "x"), Duration::from_secs(2)).await {
            Ok(r) => {
                assert!(output(&r).is_ok());
                break;
            }
            Err(e) => assert!(started.elapsed() < Duration::from_secs(15), "no recovery: {e}"),
        }
    }
}
