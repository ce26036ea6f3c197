//! A long randomized run, out of the default suite (`cargo xtask soak [SECONDS]`): writers
//! through every node while a nemesis kills, pauses and stops nodes, moves leadership,
//! replaces members and rolls the applier forward and back. At the end every acknowledged
//! write is on every node and the state hashes agree.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmraft::proto::client::member_change::Change;
use wasmraft::proto::client::{AddLearner, Promote};
use wasmraft_tests::cluster::{
    Cluster, assert_acked_present, change_members, change_members_until, transfer_leader, upgrade, write_load,
};
use wasmraft_tests::{Rng, module_bytes, padded};

/// One fault (and its repair), chosen at random.
async fn nemesis(cluster: &mut Cluster, rng: &mut Rng, next_id: &mut u64, round: usize) -> String {
    let ids = cluster.ids();
    let victim = ids[rng.below(ids.len() as u64) as usize];
    match rng.below(6) {
        0 => {
            cluster.kill(victim);
            tokio::time::sleep(Duration::from_millis(500 + rng.below(1500))).await;
            cluster.spawn(victim);
            format!("kill -9 {victim}, restart")
        }
        1 => {
            cluster.pause(victim, true);
            tokio::time::sleep(Duration::from_millis(500 + rng.below(2500))).await;
            cluster.pause(victim, false);
            format!("pause {victim}")
        }
        2 => {
            cluster.stop(victim);
            tokio::time::sleep(Duration::from_millis(200)).await;
            cluster.spawn(victim);
            format!("SIGTERM {victim}, restart")
        }
        3 => {
            let to = ids[rng.below(ids.len() as u64) as usize];
            let result = transfer_leader(cluster, victim, to).await;
            format!("transfer leadership to {to}: {:?}", result.map_err(|e| e.message().to_string()))
        }
        4 => {
            // Replace `victim` by a new node: add, join, promote replacing it, stop it.
            let id = *next_id;
            *next_id += 1;
            let via = ids.iter().copied().find(|&i| i != victim).unwrap();
            if cluster.leader(Duration::from_secs(15)).await == victim {
                let _ = transfer_leader(cluster, via, via).await;
            }
            let address = cluster.new_node(id, via);
            if let Err(e) = change_members(cluster, via, Change::AddLearner(AddLearner { id, address })).await {
                cluster.forget(id);
                return format!("add {id}: refused ({})", e.message());
            }
            cluster.spawn(id);
            let promote = Change::Promote(Promote { id, replacing: victim });
            if let Err(e) = change_members_until(cluster, via, promote, Duration::from_secs(30)).await {
                panic!("promoting {id} in place of {victim}: {e:?}");
            }
            cluster.forget(victim);
            format!("replace {victim} by {id}")
        }
        _ => {
            let (name, downgrade) = if round.is_multiple_of(2) { ("kv2", false) } else { ("kv", true) };
            let bytes = module_bytes(name);
            let size = bytes.len() + 16 + round;
            let result = upgrade(cluster, victim, padded(bytes, size), downgrade).await;
            format!(
                "upgrade to {name} via {victim}: {:?}",
                result.map(|r| r.index).map_err(|e| e.message().to_string())
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: cargo xtask soak"]
async fn soak() {
    let seconds: u64 = std::env::var("WASMRAFT_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    let seed: u64 = std::env::var("WASMRAFT_SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut cluster = Cluster::start(3, &["--snapshot-interval", "2000", "--snapshot-catchup", "200"]);
    cluster.leader(Duration::from_secs(10)).await;
    let mut rng = Rng(seed);
    let mut next_id = 4;
    let mut all = wasmraft_tests::cluster::Load::default();
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        // Writers through the members of this round, during one fault.
        let stop = Arc::new(AtomicBool::new(false));
        let (endpoints, flag) = (cluster.endpoints(), stop.clone());
        let load = tokio::spawn(async move { write_load(endpoints, &format!("soak{round}"), 8, flag, None).await });
        tokio::time::sleep(Duration::from_millis(300 + rng.below(1000))).await;
        let what = nemesis(&mut cluster, &mut rng, &mut next_id, round).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        let load = load.await.unwrap();
        eprintln!(
            "[{:>5.1}s] {what}; {} writes acknowledged, {} retried, {} abandoned",
            started.elapsed().as_secs_f64(),
            load.acked.len(),
            load.retries,
            load.abandoned
        );
        all.acked.extend(load.acked);
        all.abandoned += load.abandoned;
        round += 1;
    }
    let max = all.acked.iter().map(|a| a.index).max().unwrap_or(0);
    cluster.leader(Duration::from_secs(30)).await;
    let (applied, hash) = cluster.converged(max, Duration::from_secs(60)).await;
    assert_acked_present(&cluster, &all).await;
    eprintln!(
        "soak: {round} faults in {seconds} s, {} writes acknowledged, {} abandoned; members {:?}; applied {applied}, hash {hash}",
        all.acked.len(),
        all.abandoned,
        cluster.ids()
    );
}
