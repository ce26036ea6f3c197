//! The DSS scenario over HTTP: [`Dss`] on a cluster's nodes, each request to the next node
//! in turn, callers as RS256 tokens signed with the tests' key pair.

use crate::cluster::Cluster;
use crate::dss_scenario::Dss;
use crate::http::{HttpClient, Reply, auth_flags, now_secs, token};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmraft_sdk::contract::Caller;

/// Starts `n` nodes of the whole DSS (scd: SCD and aux, the primary; rid: remote ID v1 and
/// v2) serving HTTP, as an operator runs it, with extra `serve` flags: tokens of the tests'
/// key pair, http:// base URLs (the SCD scenario's USSs are at `http://uss1.test`); TLS
/// between the nodes and on the gRPC API, HTTP in the clear (as `cargo xtask dss`), so that
/// the tests can speak raw HTTP to the front door.
/// How long a new DSS cluster may take to elect a leader: each node compiles scd and rid
/// first (its compile cache is empty), two cores shared with the other tests.
pub const DSS_START: std::time::Duration = std::time::Duration::from_secs(45);

pub fn start_dss(n: u64, extra: &[&str]) -> Cluster {
    let flags = auth_flags();
    let args: Vec<&str> = flags
        .iter()
        .map(String::as_str)
        .chain(["--allow-http-base-urls", "--http-plain"])
        .chain(extra.iter().copied())
        .collect();
    Cluster::start_hosting(n, &["scd", "rid"], true, &args)
}

pub struct HttpDss {
    urls: BTreeMap<u64, String>,
    /// The nodes that take requests (a node that is down is left out).
    targets: Mutex<Vec<u64>>,
    turn: AtomicUsize,
    http: HttpClient,
    /// One token per caller: signing costs a millisecond or so.
    tokens: Mutex<HashMap<(String, Vec<String>), String>>,
}

impl HttpDss {
    /// Every node of `cluster` that serves HTTP, in turn.
    pub fn new(cluster: &Cluster) -> HttpDss {
        let urls: BTreeMap<u64, String> =
            cluster.nodes.values().filter(|n| n.http.is_some()).map(|n| (n.id, cluster.http_url(n.id))).collect();
        HttpDss {
            targets: Mutex::new(urls.keys().copied().collect()),
            urls,
            turn: AtomicUsize::new(0),
            http: cluster.http_client(),
            tokens: Mutex::default(),
        }
    }

    /// From now on, requests go to `ids` only.
    pub fn send_to(&self, ids: &[u64]) {
        *self.targets.lock().unwrap() = ids.to_vec();
    }

    /// How many requests were sent so far.
    pub fn requests(&self) -> usize {
        self.turn.load(Ordering::Relaxed)
    }

    fn token(&self, caller: &Caller) -> String {
        let key = (caller.subject.clone(), caller.scopes.clone());
        let mut tokens = self.tokens.lock().unwrap();
        tokens
            .entry(key)
            .or_insert_with(|| token(&caller.subject, &caller.scopes.iter().map(String::as_str).collect::<Vec<_>>()))
            .clone()
    }
}

impl Dss for HttpDss {
    fn now_secs(&self) -> u64 {
        now_secs()
    }

    /// A transport error fails the test: every node asked is expected to answer.
    async fn call(&self, caller: Option<&Caller>, method: &str, path: &str, body: Option<Value>) -> Reply {
        let id = {
            let targets = self.targets.lock().unwrap();
            targets[self.turn.fetch_add(1, Ordering::Relaxed) % targets.len()]
        };
        let token = caller.map(|c| self.token(c));
        let url = format!("{}{path}", self.urls[&id]);
        let body = body.map(|b| serde_json::to_vec(&b).expect("JSON"));
        self.http.send(method, &url, token.as_deref(), body).await.unwrap_or_else(|e| panic!("node {id}: {e}"))
    }
}
