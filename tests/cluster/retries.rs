//! Exactly-once retries: a command given a request id applies once however often its
//! client retries it (after a deadline, a lost connection, a killed leader), and the id
//! cannot be given to another command.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmraft_tests::cluster::{Access, Client, Cluster, output, propose_once, put_command, query};
use wasmraft_tests::http::HttpClient;

fn written_version(response: &wasmraft::proto::client::ProposeResponse) -> u64 {
    let out = output(response).unwrap_or_else(|e| panic!("refused: {e}"));
    out["written"]["version"].as_u64().unwrap_or_else(|| panic!("no version in {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_gets_its_first_outcome_and_a_reused_id_is_refused() {
    let cluster = Cluster::start_with(3, "kv", true, &[]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let d = Duration::from_secs(5);
    let mut through_leader = cluster.client(leader).await.unwrap();
    let first = propose_once(&mut through_leader, put_command("k", "a"), "req-1", d).await.unwrap();
    assert_eq!((written_version(&first), first.replayed), (1, false));
    // The retry through another node: the first outcome, at the first entry's index.
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let mut through_follower = cluster.client(follower).await.unwrap();
    let again = propose_once(&mut through_follower, put_command("k", "a"), "req-1", d).await.unwrap();
    assert!(again.replayed);
    assert_eq!((again.index, written_version(&again)), (first.index, 1));
    // The id with another command is refused; the first outcome is not handed to it.
    let reused = propose_once(&mut through_follower, put_command("k", "b"), "req-1", d).await.unwrap();
    let refusal = output(&reused).unwrap_err();
    assert!(refusal.starts_with("request-id-reused"), "{refusal}");
    assert!(!reused.replayed);
    // Without an id a command applies each time.
    let plain = propose_once(&mut through_leader, put_command("k", "a"), "", d).await.unwrap();
    assert_eq!(written_version(&plain), 2);
    // An id that is not visible ASCII is refused before the log.
    let bad = propose_once(&mut through_leader, put_command("k", "a"), "has space", d).await.unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");

    // HTTP: the Idempotency-Key header, and the answer to a retry says it is one.
    let http = HttpClient::default();
    let url = format!("{}/kv/h", cluster.http_url(follower));
    let key = [("idempotency-key", "put-h-1")];
    let put = http.send_with("PUT", &url, None, &key, Some(b"x".to_vec())).await.unwrap();
    assert_eq!((put.status, put.json()["written"]["version"].as_u64()), (200, Some(1)), "{}", put.text());
    assert!(put.headers.get("idempotent-replayed").is_none());
    let url = format!("{}/kv/h", cluster.http_url(leader));
    let retry = http.send_with("PUT", &url, None, &key, Some(b"x".to_vec())).await.unwrap();
    assert_eq!((retry.status, retry.json()["written"]["version"].as_u64()), (200, Some(1)), "{}", retry.text());
    assert_eq!(retry.headers.get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
    let reused = http.send_with("PUT", &url, None, &key, Some(b"y".to_vec())).await.unwrap();
    assert!(reused.status >= 400 && reused.text().contains("request-id-reused"), "{} {}", reused.status, reused.text());

    // The CLI sets a request id (here the caller's own) and says when an answer is a replay.
    let cli = |id: &str| {
        let out = std::process::Command::new(wasmraft_tests::cluster::binary())
            .args(["propose", "--endpoint", &cluster.endpoint(follower).address, "--request-id", id])
            .arg(r#"{"put": {"key": "c", "value": "1"}}"#)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let (once, twice) = (cli("cli-1"), cli("cli-1"));
    assert_eq!((once["index"].clone(), once.get("replayed")), (twice["index"].clone(), None), "{once} {twice}");
    assert_eq!((twice["replayed"].as_bool(), twice["output"]["written"]["version"].as_u64()), (Some(true), Some(1)));

    // Every node holds the same table: the state hashes agree.
    cluster.converged(again.index + 4, Duration::from_secs(10)).await;
}

/// One client's puts to its own key, each with its own request id, retried through the
/// next node on any failure until it is acknowledged, until `stop` is set. Returns the
/// versions acknowledged, in order.
async fn put_each_once(
    endpoints: Vec<Access>,
    client: usize,
    stop: Arc<AtomicBool>,
    retries: Arc<AtomicUsize>,
) -> Vec<u64> {
    let key = format!("once-{client}");
    let mut versions = Vec::new();
    let mut turn = client;
    let mut connected: Option<Client> = None;
    for n in 1.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let id = format!("c{client}-put{n}");
        let started = Instant::now();
        loop {
            assert!(started.elapsed() < Duration::from_secs(60), "{id} not acknowledged within 60 s");
            let attempt = match connected.as_mut() {
                Some(c) => propose_once(c, put_command(&key, &n.to_string()), &id, Duration::from_secs(1)).await,
                None => match endpoints[turn % endpoints.len()].connect().await {
                    Ok(c) => {
                        connected = Some(c);
                        continue;
                    }
                    Err(status) => Err(status),
                },
            };
            match attempt {
                Ok(response) => {
                    versions.push(written_version(&response));
                    break;
                }
                Err(_) => {
                    retries.fetch_add(1, Ordering::Relaxed);
                    connected = None;
                    turn += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
    versions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_while_clients_retry_applies_every_command_once() {
    const CLIENTS: usize = 8;
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let (stop, retries) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(put_each_once(cluster.endpoints(), c, stop.clone(), retries.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.kill(leader);
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.spawn(leader);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for client in clients {
        acked.push(client.await.unwrap());
    }
    assert!(retries.load(Ordering::Relaxed) > 0, "the kill must have cut some requests off");
    // Each put applied exactly once: client c's key went through versions 1, 2, ..., n,
    // each acknowledged to the put that made it, retries or not.
    for (c, versions) in acked.iter().enumerate() {
        if let Some((n, v)) = versions.iter().enumerate().find(|&(n, &v)| v != n as u64 + 1) {
            panic!("client {c}: put {} was acknowledged with version {v}: a put applied twice or not at all", n + 1);
        }
    }
    let (applied, _) = cluster.converged(0, Duration::from_secs(20)).await;
    let mut client = cluster.client(leader).await.unwrap();
    for (c, versions) in acked.iter().enumerate() {
        let entry = query(&mut client, serde_json::json!({ "get": { "key": format!("once-{c}") } })).await.unwrap();
        assert_eq!(entry["entry"]["version"].as_u64(), Some(versions.len() as u64), "{entry}");
    }
    let puts: usize = acked.iter().map(Vec::len).sum();
    eprintln!(
        "{puts} puts acknowledged exactly once, {} retries, applied index {applied}",
        retries.load(Ordering::Relaxed)
    );
}

/// A request id is its caller's. Before, a retry whose token had expired in the meantime
/// was served as anonymous (the KV module serves anonymous callers), found no first outcome
/// in the anonymous scope, and applied again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_a_refused_token_is_not_taken_as_anonymous() {
    use std::time::{SystemTime, UNIX_EPOCH};
    use wasmraft::http::auth::{self, TokenRequest};
    use wasmraft_tests::http::{auth_flags, test_keys, token};
    let flags = auth_flags();
    let cluster = Cluster::start_with(3, "kv", true, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    cluster.leader(Duration::from_secs(10)).await;
    let http = HttpClient::default();
    let url = format!("{}/kv/once", cluster.http_url(1));
    let key = [("idempotency-key", "put-once-1")];
    let valid = token("uss1", &["kv.write"]);
    let first = http.send_with("PUT", &url, Some(&valid), &key, Some(b"x".to_vec())).await.unwrap();
    assert_eq!((first.status, first.json()["written"]["version"].as_u64()), (200, Some(1)), "{}", first.text());

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let scopes = ["kv.write".to_string()];
    let request = TokenRequest {
        subject: "uss1",
        scopes: &scopes,
        audience: "localhost",
        issuer: "wasmraft-tests",
        issued_at: now - 3_700,
        expires_at: now - 100,
    };
    let expired = auth::mint(&test_keys().keys.private_pem, &request).unwrap();
    let retry = http.send_with("PUT", &url, Some(&expired), &key, Some(b"x".to_vec())).await.unwrap();
    assert_eq!(retry.status, 401, "{}", retry.text());
    assert!(retry.text().contains("Idempotency-Key"), "{}", retry.text());

    // With a token that verifies, the retry gets the first outcome; nothing applied twice.
    let renewed = token("uss1", &["kv.write"]);
    let retry = http.send_with("PUT", &url, Some(&renewed), &key, Some(b"x".to_vec())).await.unwrap();
    assert_eq!((retry.status, retry.json()["written"]["version"].as_u64()), (200, Some(1)), "{}", retry.text());
    assert_eq!(retry.headers.get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
}
