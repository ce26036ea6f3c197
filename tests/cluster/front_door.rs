//! The HTTP front door over a real cluster: requests to any node reach the module, writes
//! go through the leader, reads are linearizable, tokens are verified at the edge, and what
//! the node refuses (a body over the limit) changes nothing.

use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasmraft::http::auth::{self, TokenRequest};
use wasmraft_tests::cluster::{Cluster, Code, propose, put_command};
use wasmraft_tests::http::{HttpClient, auth_flags, test_keys, token, token_signed_with};

fn flags() -> Vec<String> {
    let mut flags = auth_flags();
    flags.extend(["--http-max-body-kib".to_string(), "64".to_string()]);
    flags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_serves_the_modules_routes() {
    let flags = flags();
    let cluster = Cluster::start_with(3, "kv", true, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let http = HttpClient::default();
    for id in cluster.ids() {
        let health = http.send("GET", &format!("{}/healthy", cluster.http_url(id)), None, None).await.unwrap();
        assert_eq!((health.status, health.text().as_str()), (200, "ok"), "node {id}");
    }
    // Writes through every node, followers included; each is read back from another node.
    let t = token("uss1", &["kv.write"]);
    for (i, id) in cluster.ids().into_iter().enumerate() {
        let url = format!("{}/kv/key-{i}", cluster.http_url(id));
        let put = http.send("PUT", &url, Some(&t), Some(format!("value-{i}").into_bytes())).await.unwrap();
        assert_eq!(put.status, 200, "through node {id} (leader {leader}): {}", put.text());
        assert_eq!(put.json()["written"]["version"], 1);
        let other = 1 + id % 3;
        let got = http.send("GET", &format!("{}/kv/key-{i}", cluster.http_url(other)), None, None).await.unwrap();
        assert_eq!(got.json()["entry"]["value"], format!("value-{i}"), "read at once from node {other}");
    }
    let missing = http.send("GET", &format!("{}/kv/nothing", cluster.http_url(2)), None, None).await.unwrap();
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("nothing"), "{}", missing.text());
    let (applied, _) = cluster.converged(4, Duration::from_secs(10)).await;

    // A body over the node's limit is refused before the module sees it, in the module's words.
    let big = vec![b'x'; 65 << 10];
    let refused = http.send("PUT", &format!("{}/kv/big", cluster.http_url(1)), None, Some(big)).await.unwrap();
    assert_eq!(refused.status, 413, "{}", refused.text());
    assert!(refused.text().contains("limit"), "{}", refused.text());
    let (after, _) = cluster.converged(applied, Duration::from_secs(10)).await;
    assert_eq!(after, applied, "nothing was proposed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_verified_at_the_edge() {
    let flags = flags();
    let cluster = Cluster::start_with(1, "kv", true, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    cluster.leader(Duration::from_secs(10)).await;
    let (http, url) = (HttpClient::default(), format!("{}/whoami", cluster.http_url(1)));
    let whoami = |token: Option<String>| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let reply = http.send("GET", &url, token.as_deref(), None).await.unwrap();
            assert_eq!(reply.status, 200, "{}", reply.text());
            reply.json()
        }
    };
    let me = whoami(Some(token("uss1", &["utm.strategic_coordination", "utm.constraint_management"]))).await;
    assert_eq!(me["subject"], "uss1");
    assert_eq!(me["scopes"], serde_json::json!(["utm.strategic_coordination", "utm.constraint_management"]));
    assert_eq!(me["auth_error"], Value::Null);
    assert_eq!(whoami(None).await, serde_json::json!({"subject": null, "scopes": [], "auth_error": null}));

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let scopes = vec!["utm.strategic_coordination".to_string()];
    let mint = |audience: &str, issued_at: u64, expires_at: u64| {
        let request =
            TokenRequest { subject: "uss1", scopes: &scopes, audience, issuer: "tests", issued_at, expires_at };
        auth::mint(&test_keys().keys.private_pem, &request).unwrap()
    };
    let other_key = auth::generate_keys().unwrap();
    let forged_alg_none = {
        let good = token("uss1", &["utm.strategic_coordination"]);
        let mut parts = good.split('.');
        let (_, payload) = (parts.next(), parts.next().unwrap());
        // {"alg":"none","typ":"JWT"}, the payload kept, no signature.
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
    };
    let refused = [
        ("another key", token_signed_with(&other_key.private_pem, "uss1", &["utm.strategic_coordination"])),
        ("another audience", mint("dss.example.com", now, now + 600)),
        ("expired", mint("localhost", now - 7200, now - 3600)),
        ("longer than an hour", mint("localhost", now, now + 7200)),
        ("alg none", forged_alg_none),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, token) in refused {
        let me = whoami(Some(token)).await;
        assert_eq!(me["subject"], Value::Null, "{what}: {me}");
        let why = me["auth_error"].as_str().unwrap_or_else(|| panic!("{what}: no reason given: {me}"));
        assert!(!why.is_empty(), "{what}");
    }
}

/// Slow clients hold nothing for long: a request head that trickles in is cut off after
/// the header timeout, and a body that does not arrive within the request deadline gets
/// 408; meanwhile everyone else is served (before, neither had a timer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    use std::io::{Read, Write};
    let mut flags = flags();
    flags.extend(["--request-timeout".to_string(), "2s".to_string()]);
    let cluster = Cluster::start_with(1, "kv", true, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    cluster.leader(Duration::from_secs(10)).await;
    let address = cluster.http_url(1).trim_start_matches("http://").to_string();
    let connect = || {
        let stream = std::net::TcpStream::connect(&address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream
    };
    let started = std::time::Instant::now();
    let mut head = connect();
    head.write_all(b"GET /kv/a HTTP/1.1\r\nHost: localhost\r\n").unwrap();
    let mut body = connect();
    body.write_all(b"PUT /kv/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nonly a little").unwrap();

    let mut answer = String::new();
    body.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let healthy =
        HttpClient::default().send("GET", &format!("{}/healthy", cluster.http_url(1)), None, None).await.unwrap();
    assert_eq!(healthy.status, 200, "others are served meanwhile");

    let mut rest = Vec::new();
    let _ = head.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(19),
        "the head was cut off after {waited:?}"
    );
}

/// `/livez` and `/readyz`, as orchestrators probe a node: every node of a healthy cluster
/// is live and ready; one cut off from a quorum stays live but says it is not ready, and
/// why, until the others come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_whether_a_node_can_serve_and_why_not() {
    let cluster = Cluster::start_with(3, "kv", true, &[]);
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let http = HttpClient::default();
    let probe = async |id: u64, path: &str| {
        let reply = http.send("GET", &format!("{}{path}", cluster.http_url(id)), None, None).await.unwrap();
        (reply.status, reply.text())
    };
    for id in cluster.ids() {
        assert_eq!(probe(id, "/livez").await, (200, "ok".to_string()), "node {id}");
        assert_eq!(probe(id, "/readyz").await, (200, "ok".to_string()), "node {id}");
    }
    let lonely = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let others: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != lonely).collect();
    for &id in &others {
        cluster.pause(id, true);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let why = loop {
        let (status, why) = probe(lonely, "/readyz").await;
        if status == 503 {
            break why;
        }
        assert!(Instant::now() < deadline, "node {lonely} stayed ready without a quorum");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(why.contains("no leader known") || why.contains("no word from leader"), "{why}");
    assert_eq!(probe(lonely, "/livez").await, (200, "ok".to_string()));
    for &id in &others {
        cluster.pause(id, false);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while probe(lonely, "/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "node {lonely} did not become ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A command is at most 8 MiB at either door. Before, only the gRPC door checked: a 9 MiB
/// body the HTTP door took (its limit raised) became a 9 MiB entry on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_over_the_limit_is_refused_at_both_doors() {
    let mut flags = auth_flags();
    flags.extend(["--http-max-body-kib".to_string(), "16384".to_string()]);
    let cluster = Cluster::start_with(3, "kv", true, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    cluster.leader(Duration::from_secs(10)).await;
    let mut client = cluster.client(1).await.unwrap();
    let first = propose(&mut client, put_command("k", "v"), Duration::from_secs(5)).await.unwrap();
    let (applied, _) = cluster.converged(first.index, Duration::from_secs(10)).await;

    let http = HttpClient::default();
    let t = token("uss1", &["kv.write"]);
    let big = vec![b'x'; 9 << 20];
    let refused = http.send("PUT", &format!("{}/kv/big", cluster.http_url(2)), Some(&t), Some(big)).await.unwrap();
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("the limit is 8388608"), "{}", refused.text());

    let command = put_command("big", &"x".repeat(9 << 20));
    let refused = propose(&mut client, command, Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("the limit is 8388608"), "{refused:?}");

    let (after, _) = cluster.converged(applied, Duration::from_secs(10)).await;
    assert_eq!(after, applied, "nothing was proposed");
}
