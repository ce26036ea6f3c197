//! Hostile clients at every door while the cluster commits: 200 HTTP connections that
//! trickle a request head and never finish it, floods of connections that send garbage to
//! the peer, client and HTTP ports, and of requests with forged tokens. Well-behaved writers
//! lose nothing, and the leader's heartbeats keep coming (no election). And connections that
//! say nothing, or show no credentials, never fill a door.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wasmraft_tests::cluster::{Cluster, assert_acked_present, write_load};
use wasmraft_tests::http::HttpClient;

/// A connection that sends a request head a byte at a time, slowly, until `stop`.
async fn trickle(address: String, stop: Arc<AtomicBool>) {
    let head = b"GET /healthy HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    let Ok(mut stream) = TcpStream::connect(&address).await else { return };
    for byte in head.iter().chain(std::iter::repeat(&b'a')) {
        if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Connections, one after another, that each send garbage and close; counts them.
async fn flood(address: String, stop: Arc<AtomicBool>, sent: Arc<AtomicUsize>) {
    let mut rng = wasmraft_tests::Rng(address.len() as u64);
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut stream) = TcpStream::connect(&address).await {
            let n = 1 + rng.below(4096) as usize;
            let _ = stream.write_all(&rng.bytes(n)).await;
            sent.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_garbage_clients_at_every_door_cost_no_write_and_no_election() {
    let cluster = Cluster::start_with(3, "kv", true, &[]);
    let leader = cluster.leader(Duration::from_secs(15)).await;
    let term = cluster.status(leader).await.unwrap().term;
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(write_load(cluster.endpoints(), "flood", 8, stop.clone(), None));

    let mut hostile = Vec::new();
    let sent = Arc::new(AtomicUsize::new(0));
    for id in cluster.ids() {
        let http = cluster.nodes[&id].http.clone().unwrap();
        for _ in 0..200 / 3 + 1 {
            hostile.push(tokio::spawn(trickle(http.clone(), stop.clone())));
        }
        for address in [cluster.peer_address(id).to_string(), cluster.endpoint(id).address, http] {
            hostile.push(tokio::spawn(flood(address, stop.clone(), sent.clone())));
        }
    }
    // A well-behaved HTTP client is served meanwhile.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let healthy = HttpClient::default().send("GET", &format!("{}/healthy", cluster.http_url(1)), None, None).await;
    assert_eq!(healthy.map(|r| r.status), Ok(200));
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    for task in hostile {
        let _ = task.await;
    }
    let load = load.await.unwrap();

    eprintln!(
        "{} garbage connections, {} writes acknowledged meanwhile",
        sent.load(Ordering::Relaxed),
        load.acked.len()
    );
    assert!(sent.load(Ordering::Relaxed) > 100, "the floods ran: {} connections", sent.load(Ordering::Relaxed));
    assert!(load.acked.len() > 100, "{} writes", load.acked.len());
    assert_eq!((load.abandoned, load.retries), (0, 0), "a well-behaved write failed");
    let after = cluster.status(leader).await.unwrap();
    assert_eq!((after.leader, after.term), (leader, term), "an election happened: heartbeats were late");
    cluster.converged(load.acked.iter().map(|a| a.index).max().unwrap(), Duration::from_secs(10)).await;
    assert_acked_present(&cluster, &load).await;
}

/// Opens `n` connections to `address` that each say `first` (maybe nothing), then nothing more.
async fn opened(address: &str, n: usize, first: &[u8]) -> Vec<TcpStream> {
    let mut open = Vec::new();
    for _ in 0..n {
        if let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(address)).await
            && s.write_all(first).await.is_ok()
        {
            open.push(s);
        }
    }
    open
}

/// Past the grace of connections no request vouched for (1 s), a client with `token` gets
/// in at node 1's HTTP door (a put of `key`) and at its gRPC door (a query of it), each
/// within 5 s.
async fn clients_get_in(cluster: &Cluster, key: &str, token: Option<&str>) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let url = format!("{}/kv/{key}", cluster.http_url(1));
    let put = tokio::time::timeout(
        Duration::from_secs(5),
        HttpClient::default().send("PUT", &url, token, Some(b"v".to_vec())),
    )
    .await
    .expect("the HTTP door answers within 5 s")
    .expect("an answer");
    assert_eq!(put.status, 200, "{}", put.text());
    let mut client = tokio::time::timeout(Duration::from_secs(5), cluster.client(1))
        .await
        .expect("the client door answers within 5 s")
        .expect("a client");
    let got = tokio::time::timeout(
        Duration::from_secs(5),
        wasmraft_tests::cluster::query(&mut client, serde_json::json!({ "get": { "key": key } })),
    )
    .await
    .expect("a query within 5 s");
    assert!(got.is_ok(), "{got:?}");
}

/// Connections that open and then say nothing must not fill a client's door: the HTTP and
/// gRPC doors take 1,024 at once, and held silent ones for good (hyper's protocol sniff has
/// no timer, the gRPC server no idle timeout), so an outsider with 1,100 sockets kept every
/// client out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_say_nothing_do_not_keep_clients_out() {
    let cluster = Cluster::start_with(3, "kv", true, &[]);
    cluster.leader(Duration::from_secs(10)).await;
    let mut held = opened(cluster.nodes[&1].http.as_ref().unwrap(), 1100, b"").await;
    held.extend(opened(&cluster.nodes[&1].client, 1100, b"").await);
    assert!(held.len() >= 2100, "only {} sockets opened", held.len());
    clients_get_in(&cluster, "after-silence", None).await;
    drop(held);
}

/// HTTP/2's connection preface and an empty SETTINGS frame: what a client sends first.
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// Bytes prove nothing: connections that open HTTP/2 and send no request, and HTTP/1.1
/// connections kept alive after a request without credentials, filled a door that verifies
/// tokens for a minute (those that had sent anything were closed for room only after 60 s
/// of silence, and HTTP/2 pings keep one from ever being silent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_with_no_credentials_do_not_keep_clients_out() {
    let flags = wasmraft_tests::http::auth_flags();
    let cluster = Cluster::start_with(3, "kv", true, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    cluster.leader(Duration::from_secs(10)).await;
    let http_door = cluster.nodes[&1].http.clone().unwrap();
    let anonymous = b"GET /kv/anyone HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut held = opened(&http_door, 550, HTTP2_PREFACE).await;
    held.extend(opened(&http_door, 550, anonymous).await);
    held.extend(opened(&cluster.nodes[&1].client, 1100, HTTP2_PREFACE).await);
    assert!(held.len() >= 2100, "only {} sockets opened", held.len());
    let token = wasmraft_tests::http::token("uss", &["wasmraft.write"]);
    clients_get_in(&cluster, "with-credentials", Some(&token)).await;
    drop(held);
}

/// A token with a forged signature costs a full RSA check each time it is seen (refusals
/// are never remembered): a flood of them at every node's HTTP door must neither stop
/// writes nor cost the leader its leadership.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_at_every_door_cost_no_write_and_no_election() {
    let flags = wasmraft_tests::http::auth_flags();
    let cluster = Cluster::start_with(3, "kv", true, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let leader = cluster.leader(Duration::from_secs(15)).await;
    let term = cluster.status(leader).await.unwrap().term;
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(write_load(cluster.endpoints(), "forged", 8, stop.clone(), None));
    let genuine = wasmraft_tests::http::token("uss", &["wasmraft.write"]);
    let (signed, signature) = genuine.rsplit_once('.').unwrap();
    // A signature of random bits but for its first 12 (so that it is below the modulus, and
    // checked in full) and its last character (whose unused bits must be zero).
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = wasmraft_tests::Rng(7);
    let middle: String = (2..signature.len() - 1).map(|_| alphabet[rng.below(64) as usize] as char).collect();
    let (head, last) = (&signature[..2], &signature[signature.len() - 1..]);
    let forged = format!("{signed}.{head}{middle}{last}");
    let refused = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for id in cluster.ids() {
        for _ in 0..16 {
            let (url, forged, stop, refused) =
                (format!("{}/whoami", cluster.http_url(id)), forged.clone(), stop.clone(), refused.clone());
            flood.push(tokio::spawn(async move {
                let client = HttpClient::default();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(reply) = client.send("GET", &url, Some(&forged), None).await {
                        // The KV module serves anyone, and says whom the node took the caller for.
                        let me = reply.json();
                        assert!(me["subject"].is_null(), "a forged token was let in: {me}");
                        let why = me["auth_error"].as_str().unwrap_or_default();
                        assert!(why.contains("signature"), "refused for its signature: {me}");
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.unwrap();
    }
    let load = load.await.unwrap();
    eprintln!(
        "{} forged requests refused, {} writes acknowledged meanwhile",
        refused.load(Ordering::Relaxed),
        load.acked.len()
    );
    assert!(refused.load(Ordering::Relaxed) > 1000, "the flood ran");
    assert!(load.acked.len() > 100, "{} writes", load.acked.len());
    assert_eq!((load.abandoned, load.retries), (0, 0), "a well-behaved write failed");
    let after = cluster.status(leader).await.unwrap();
    assert_eq!((after.leader, after.term), (leader, term), "an election happened: heartbeats were late");
}
