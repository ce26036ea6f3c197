//! Backup and restore of a DSS holding many operational intents (100,000 unless given):
//! the DSS's 3 real nodes (SCD and RID, TLS, tokens), filled over HTTP by 64 USS clients
//! with intents spread over a region (each in a square of its own, 20-minute flights over
//! the next 3 hours); then `wasmraft snapshot save` from a follower, `snapshot inspect`,
//! the cluster destroyed, `snapshot restore` for each node, and the time until the
//! restored cluster has a leader and every node holds the backup's state.
//!
//! `cargo xtask bench-backup [INTENTS]`

use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use wasmraft_tests::cluster::{admin_command, free_port};
use wasmraft_tests::dss_http::start_dss;
use wasmraft_tests::http::{now_secs, rfc3339, token};
use wasmraft_tests::load::{drive, report};

const CLIENTS: usize = 64;
/// Squares per row of the region's grid, each about 110 m (0.001°) on a side.
const ROW: usize = 400;

/// Intent `n`: its own square of the grid, a 20-minute flight starting within 3 hours, in
/// a 1 m altitude band that no square within 20 of it shares (2.2 km, more than a level-13
/// S2 cell spans): no intent needs another's OVN.
fn create(n: usize, now: u64) -> (&'static str, String, Option<Value>) {
    let (row, column) = (n / ROW, n % ROW);
    let (lat, lng) = (46.0 + row as f64 * 0.001, 6.0 + column as f64 * 0.001);
    let lower = ((row % 20) * 20 + column % 20) as f64 * 2.0;
    let corners = [(lat, lng), (lat, lng + 0.0008), (lat + 0.0008, lng + 0.0008), (lat + 0.0008, lng)];
    let vertices: Vec<Value> = corners.iter().map(|(lat, lng)| json!({"lat": lat, "lng": lng})).collect();
    let start = now + 600 + (n as u64 * 7919) % 10_800;
    let body = json!({
        "extents": [{
            "volume": {
                "outline_polygon": {"vertices": vertices},
                "altitude_lower": {"value": lower, "reference": "W84", "units": "M"},
                "altitude_upper": {"value": lower + 1.0, "reference": "W84", "units": "M"}
            },
            "time_start": {"value": rfc3339(start), "format": "RFC3339"},
            "time_end": {"value": rfc3339(start + 1200), "format": "RFC3339"}
        }],
        "state": "Accepted",
        "uss_base_url": "https://uss1.example.com/utm"
    });
    let id = format!("{:08x}-0000-4000-8000-{:012x}", n >> 16, n);
    ("PUT", format!("/dss/v1/operational_intent_references/{id}"), Some(body))
}

/// Runs `wasmraft` (as the cluster's admin, with its dev certificates) and returns what
/// it printed, and how long it took.
fn wasmraft(certs: Option<&Path>, args: &[&str]) -> (Value, Duration) {
    let mut command = admin_command(certs);
    let started = Instant::now();
    let out = command.args(args).output().expect("wasmraft runs");
    let took = started.elapsed();
    assert!(out.status.success(), "wasmraft {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (serde_json::from_slice(&out.stdout).expect("JSON"), took)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let intents: usize = std::env::var("WASMRAFT_BACKUP_INTENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    println!("\nbackup and restore of a 3-node DSS holding {intents} operational intents");
    let mut cluster = start_dss(3, &[]);
    let leader = cluster.leader(Duration::from_secs(20)).await;
    let uss = token("uss1", &["utm.strategic_coordination"]);
    let now = now_secs();
    let (latencies, elapsed) =
        drive(&cluster, CLIENTS, move |_| uss.clone(), intents, 201, move |n| create(n, now)).await;
    report(
        &format!("  filled: {intents} intents, {CLIENTS} clients"),
        latencies.into_iter().map(|(_, d)| d).collect(),
        elapsed,
    );
    let applied = cluster.status(leader).await.expect("status").applied_index;
    cluster.converged(applied, Duration::from_secs(60)).await;

    let certs = cluster.certs_dir().map(Path::to_path_buf);
    let file = cluster.dir.path().join("dss.backup");
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let endpoint = cluster.endpoint(follower).address.clone();
    let (saved, save_took) =
        wasmraft(certs.as_deref(), &["snapshot", "save", "--endpoint", &endpoint, file.to_str().unwrap()]);
    let bytes = saved["bytes"].as_u64().expect("the size");
    println!(
        "  snapshot save (from a follower):  {:.2} s   {:.1} MiB   {:.0} MiB/s   index {}",
        save_took.as_secs_f64(),
        mib(bytes),
        mib(bytes) / save_took.as_secs_f64(),
        saved["index"]
    );
    let (_, inspect_took) = wasmraft(None, &["snapshot", "inspect", file.to_str().unwrap()]);
    println!("  snapshot inspect (checks the whole file):  {:.2} s", inspect_took.as_secs_f64());

    for id in cluster.ids() {
        cluster.kill(id);
    }
    for node in cluster.nodes.values_mut() {
        node.address = format!("127.0.0.1:{}", free_port());
    }
    let peers = cluster.nodes.values().map(|n| format!("{}={}", n.id, n.address)).collect::<Vec<_>>().join(",");
    let mut restore_took = Vec::new();
    for id in cluster.ids() {
        let dir = cluster.dir.path().join(format!("restored{id}"));
        let args = ["snapshot", "restore", file.to_str().unwrap(), "--id", &id.to_string(), "--peers", &peers];
        let (_, took) = wasmraft(None, &[&args[..], &["--data-dir", dir.to_str().unwrap()]].concat());
        restore_took.push(took.as_secs_f64());
        cluster.nodes.get_mut(&id).unwrap().data_dir = dir;
    }
    println!("  snapshot restore, each node:  {restore_took:.2?} s");
    cluster.set_peers(&peers);
    let started = Instant::now();
    for id in cluster.ids() {
        cluster.spawn(id);
    }
    cluster.leader(Duration::from_secs(60)).await;
    let led = started.elapsed();
    let index = saved["index"].as_u64().expect("an index");
    let (_, hash) = cluster.converged(index, Duration::from_secs(120)).await;
    assert_eq!(hash, saved["state_hash"].as_str().unwrap(), "the restored state is the backup's");
    println!(
        "  restored cluster: a leader {:.2} s after the start, every node at the backup's state hash after {:.2} s",
        led.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
