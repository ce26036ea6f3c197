//! The DSS scenarios (`wasmraft_tests::dss_scenario` for scd, `rid_scenario` for rid)
//! replayed in-process on each applier's wasm build and on its native build, with the same
//! request metas (a fixed clock, seeded entropy): the same responses, byte for byte, and the
//! same applied index and state hash.
//! Requests go the way the node's HTTP gateway takes them (`handle`, then propose or read,
//! then `render`), with the caller handed over directly where the node would verify a token.

use rid_applier::Rid;
use scd_applier::Scd;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use wasmraft::runtime::{Front, Limits, LogPosition, NativeBackend, OutsideCall, Runtime, StateHash};
use wasmraft_sdk::contract::{Action, Caller, Encoding, HttpOutcome, HttpRequest, HttpResponse, Meta};
use wasmraft_tests::dss_scenario::{self, Dss};
use wasmraft_tests::http::Reply;
use wasmraft_tests::rid_scenario;
use wasmraft_tests::{Rng, wasm_runtime};

/// 2030-01-01T00:00:00Z: the DSS's now, whatever the day the test runs.
const NOW_SECS: u64 = 1_893_456_000;
/// Each request arrives a millisecond after the one before.
const STEP_NS: u64 = 1_000_000;
const ROUNDS: u32 = 3;

/// One request and the response it got.
type Exchange = (String, HttpResponse);

/// A node without consensus: every proposal is the next entry, every read sees them all.
struct Node {
    runtime: Runtime,
    front: Arc<dyn Front>,
    clock_ns: u64,
    rng: Rng,
    transcript: Vec<Exchange>,
}

impl Node {
    fn meta(&mut self, index: u64, term: u64, caller: Option<&Caller>) -> Meta {
        let entropy = self.rng.bytes(32).try_into().expect("32 bytes");
        Meta { index, term, timestamp_ns: self.clock_ns, caller: caller.cloned(), entropy }
    }

    /// As `http::gateway` serves a request whose token named `caller`.
    fn serve(&mut self, caller: Option<&Caller>, method: &str, path: &str, body: Vec<u8>) -> HttpResponse {
        self.clock_ns += STEP_NS;
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let request = HttpRequest {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            body,
            auth_error: None,
            // The scenario's USSs are at http:// base URLs.
            settings: vec![("allow-http-base-urls".into(), "true".into())],
        };
        let applied = self.runtime.applied().index;
        // Outside the log, as `request_meta`: term 0.
        let meta = self.meta(applied, 0, caller);
        let (encoding, outcome) = match self.front.handle(meta, request).expect("no host failure") {
            Ok(Action::Respond(response)) => return response,
            Ok(Action::Propose(command)) => {
                let meta = self.meta(applied + 1, 1, caller);
                let result = self.runtime.apply(meta, command.clone()).expect("no host failure");
                (command.encoding, result.map_or_else(HttpOutcome::Failed, HttpOutcome::Applied))
            }
            Ok(Action::Read(query)) => {
                let result =
                    self.runtime.query(caller.cloned(), self.clock_ns, query.clone()).expect("no host failure");
                (query.encoding, result.map_or_else(HttpOutcome::Failed, HttpOutcome::Answered))
            }
            Err(trap) => (Encoding::Postcard, HttpOutcome::Failed(trap.into_error())),
        };
        // As the gateway renders: from the state the outcome came from, none for a failure.
        let state = match outcome {
            HttpOutcome::Failed(_) => Default::default(),
            _ => self.runtime.state_of(None).expect("the primary applier"),
        };
        self.front
            .render(OutsideCall::Finish, encoding, outcome, state)
            .expect("no host failure")
            .expect("render does not trap")
    }
}

struct InProcess(Mutex<Node>);

impl Dss for InProcess {
    fn now_secs(&self) -> u64 {
        NOW_SECS
    }

    async fn call(&self, caller: Option<&Caller>, method: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| serde_json::to_vec(&b).expect("JSON")).unwrap_or_default();
        let mut node = self.0.lock().unwrap();
        let response = node.serve(caller, method, path, body);
        node.transcript.push((format!("{method} {path}"), response.clone()));
        Reply { status: response.status, body: response.body, headers: Default::default() }
    }
}

#[derive(Clone, Copy)]
enum Scenario {
    Scd,
    Rid,
}

/// The scenario's rounds on `runtime`: every exchange, where the log ended, the state hash.
async fn replay(runtime: Runtime, scenario: Scenario) -> (Vec<Exchange>, LogPosition, StateHash) {
    let front = runtime.front();
    let dss = InProcess(Mutex::new(Node {
        runtime,
        front,
        clock_ns: NOW_SECS * 1_000_000_000,
        rng: Rng(7),
        transcript: Vec::new(),
    }));
    for n in 0..ROUNDS {
        match scenario {
            Scenario::Scd => dss_scenario::session(&dss, n).await,
            Scenario::Rid => rid_scenario::session(&dss, n).await,
        }
    }
    let node = dss.0.into_inner().unwrap();
    (node.transcript, node.runtime.applied(), node.runtime.state_hash())
}

fn show((request, response): &Exchange) -> String {
    format!("{request} -> {} {:?} {}", response.status, response.headers, String::from_utf8_lossy(&response.body))
}

/// `scenario` on `name`'s wasm build and on `native`: the same exchanges and state.
async fn alike(name: &str, native: Runtime, scenario: Scenario) {
    let (wasm, wasm_applied, wasm_hash) = replay(wasm_runtime(name, Limits::default()), scenario).await;
    let (native, native_applied, native_hash) = replay(native, scenario).await;
    assert_eq!(wasm.len(), native.len());
    for (i, (w, n)) in wasm.iter().zip(&native).enumerate() {
        assert!(w == n, "exchange {i} differs:\nwasm:   {}\nnative: {}", show(w), show(n));
    }
    // Every round writes: its entries, ids and versions are in the comparison.
    assert!(wasm_applied.index > u64::from(ROUNDS) * 10, "{wasm_applied:?}");
    assert_eq!(wasm_applied, native_applied);
    assert_eq!(wasm_hash, native_hash);
}

#[tokio::test]
async fn the_dss_scenario_answers_alike_on_wasm_and_native() {
    alike("scd", Runtime::new(Box::new(NativeBackend::<Scd>::default())), Scenario::Scd).await;
}

#[tokio::test]
async fn the_rid_scenario_answers_alike_on_wasm_and_native() {
    alike("rid", Runtime::new(Box::new(NativeBackend::<Rid>::default())), Scenario::Rid).await;
}
