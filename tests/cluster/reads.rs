//! Reads that do not go through the log: linearizable (ReadIndex) on any node, and stale
//! reads with a bound on how old their state may be.

use std::time::{Duration, Instant};
use wasmraft::proto::client::{Consistency, Encoding, QueryRequest};
use wasmraft_tests::cluster::{Cluster, Code, output, propose, put_command, query_with};

fn get(key: &str, consistency: Consistency, max_staleness_ms: u64) -> QueryRequest {
    QueryRequest {
        query: serde_json::to_vec(&serde_json::json!({ "get": { "key": key } })).unwrap(),
        encoding: Encoding::Json as i32,
        consistency: consistency as i32,
        max_staleness_ms,
        applier: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_write_is_read_at_once_on_every_other_node() {
    let cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let mut clients = Vec::new();
    for id in cluster.ids() {
        clients.push(cluster.client(id).await.unwrap());
    }
    // The same key written over and over, so a read that lags shows the previous value.
    for i in 0..150usize {
        let writer = i % 3;
        let value = format!("v{i}");
        let response = propose(&mut clients[writer], put_command("hot", &value), Duration::from_secs(5)).await.unwrap();
        assert!(output(&response).is_ok());
        for reader in (0..3).filter(|&r| r != writer) {
            let (answer, out) =
                query_with(&mut clients[reader], get("hot", Consistency::Linearizable, 0), Duration::from_secs(5))
                    .await
                    .unwrap();
            let seen = out.unwrap()["entry"]["value"].as_str().unwrap().to_string();
            assert_eq!(
                seen,
                value,
                "node {} read a stale value after write {i} through node {}",
                reader + 1,
                writer + 1
            );
            assert!(answer.applied_index >= response.index);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_follower_refuses_linearizable_reads_and_bounds_stale_ones() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let lonely = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let mut client = cluster.client(lonely).await.unwrap();
    let response = propose(&mut client, put_command("k", "before"), Duration::from_secs(5)).await.unwrap();

    // Connected: a stale read within a generous bound is served (its ReadIndex round then
    // serves this node's stale reads for as long as the bound).
    let (answer, out) =
        query_with(&mut client, get("k", Consistency::Stale, 2_000), Duration::from_secs(2)).await.unwrap();
    assert_eq!(out.unwrap()["entry"]["value"], "before");
    assert!(answer.applied_index >= response.index && answer.staleness_ms < 2_000);

    for id in cluster.ids().into_iter().filter(|&id| id != lonely) {
        cluster.pause(id, true);
    }
    // A stale read still within its bound is served; it says how stale it may be.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (answer, out) =
        query_with(&mut client, get("k", Consistency::Stale, 5_000), Duration::from_secs(2)).await.unwrap();
    assert_eq!(out.unwrap()["entry"]["value"], "before");
    assert!(answer.staleness_ms >= 200, "staleness reported: {}", answer.staleness_ms);

    // Linearizable reads are refused within the deadline.
    let deadline = Duration::from_secs(2);
    let started = Instant::now();
    let refused = query_with(&mut client, get("k", Consistency::Linearizable, 0), deadline).await.unwrap_err();
    assert!(matches!(refused.code(), Code::DeadlineExceeded | Code::Unavailable), "{refused:?}");
    assert!(started.elapsed() < deadline + Duration::from_millis(500), "took {:?}", started.elapsed());

    // Once the last round is older than the bound and no new one completes, stale reads are
    // refused too.
    let refused =
        query_with(&mut client, get("k", Consistency::Stale, 1_000), Duration::from_secs(2)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("no read index within the bound"), "{refused:?}");

    for id in cluster.ids() {
        cluster.pause(id, false);
    }
    let started = Instant::now();
    loop {
        match query_with(&mut client, get("k", Consistency::Linearizable, 0), Duration::from_secs(2)).await {
            Ok((_, out)) => {
                assert_eq!(out.unwrap()["entry"]["value"], "before");
                break;
            }
            Err(e) => assert!(started.elapsed() < Duration::from_secs(15), "no recovery: {e}"),
        }
    }
}

/// A stale read's bound is on its state, not on the last word from a leader. Before, a
/// paused leader resumed after the others had elected a successor and acknowledged a write
/// (the others now paused) answered with the old value, "staleness 0-21 ms": it believed
/// it led, or had just heard its successor's heartbeat without the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_does_not_call_its_state_fresh() {
    let cluster = Cluster::start(3, &[]);
    let old = cluster.leader(Duration::from_secs(10)).await;
    let mut client = cluster.client(old).await.unwrap();
    propose(&mut client, put_command("k", "old"), Duration::from_secs(5)).await.unwrap();
    cluster.pause(old, true);
    let others: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != old).collect();
    let started = Instant::now();
    let new = loop {
        assert!(started.elapsed() < Duration::from_secs(15), "no new leader");
        if let Some(s) = cluster.status(others[0]).await
            && s.leader != 0
            && s.leader != old
        {
            break s.leader;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut successor = cluster.client(new).await.unwrap();
    propose(&mut successor, put_command("k", "new"), Duration::from_secs(5)).await.unwrap();
    // The old leader wakes to find nobody answering: it has not yet heard of the new term.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for &id in &others {
        cluster.pause(id, true);
    }
    cluster.pause(old, false);
    for _ in 0..3 {
        match query_with(&mut client, get("k", Consistency::Stale, 1_000), Duration::from_secs(2)).await {
            Ok((answer, out)) => panic!(
                "the deposed leader served {} as at most {} ms old, after `new` was acknowledged",
                out.unwrap()["entry"]["value"],
                answer.staleness_ms
            ),
            Err(refused) => assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}"),
        }
    }
    for id in cluster.ids() {
        cluster.pause(id, false);
    }
}

/// Linearizable reads through all three nodes at once. Each node's ReadIndex rounds carry a
/// context; when every node numbered its rounds from 1, two nodes' rounds met at the leader,
/// which silently dropped the later one, and its reads waited for the 500 ms retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_through_every_node_at_once_never_wait_for_a_retry() {
    let cluster = Cluster::start(3, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let mut client = cluster.client(1).await.unwrap();
    propose(&mut client, put_command("k", "v"), Duration::from_secs(5)).await.unwrap();
    let mut readers = Vec::new();
    for id in cluster.ids() {
        for _ in 0..4 {
            let mut client = cluster.client(id).await.unwrap();
            readers.push(tokio::spawn(async move {
                let mut slowest = Duration::ZERO;
                for _ in 0..150 {
                    let started = Instant::now();
                    let (_, out) =
                        query_with(&mut client, get("k", Consistency::Linearizable, 0), Duration::from_secs(5))
                            .await
                            .unwrap();
                    assert_eq!(out.unwrap()["entry"]["value"], "v");
                    slowest = slowest.max(started.elapsed());
                }
                (id, slowest)
            }));
        }
    }
    let mut slowest = (0, Duration::ZERO);
    for reader in readers {
        let (id, time) = reader.await.unwrap();
        if time > slowest.1 {
            slowest = (id, time);
        }
    }
    println!("slowest of 1,800 linearizable reads: {:?} through node {}", slowest.1, slowest.0);
    // Well under the retry, with room for a loaded machine.
    assert!(slowest.1 < Duration::from_millis(250), "a read took {:?} through node {}", slowest.1, slowest.0);
}
