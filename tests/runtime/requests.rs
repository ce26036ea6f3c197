//! Commands with request ids, on the KV applier built to wasm: a retry gets the first
//! outcome and changes nothing, and the table that remembers outcomes travels in
//! checkpoints, so a node restored from a snapshot answers retries as the others do.

use wasmraft::entry::RequestId;
use wasmraft::runtime::{Checkpoint, Once, RESET_INTERVAL, Runtime};
use wasmraft_sdk::contract::Payload;
use wasmraft_tests::{Rng, meta, wasm_backend, wasm_runtime};

const S: u64 = 1_000_000_000;

fn put(key: &str, value: &str) -> Payload {
    Payload::json(serde_json::to_vec(&serde_json::json!({ "put": { "key": key, "value": value } })).unwrap())
}

fn request(id: &str) -> RequestId {
    RequestId { id: id.into(), window_ns: 60 * S }
}

fn version(once: &Once) -> u64 {
    let output = match once {
        Once::First(result) | Once::Again { result, .. } => result.as_ref().expect("applied"),
    };
    let value: serde_json::Value = serde_json::from_slice(output).unwrap();
    value["written"]["version"].as_u64().unwrap_or_else(|| panic!("a version in {value}"))
}

#[test]
fn a_retry_gets_the_first_outcome_and_applies_nothing() {
    let mut rt = wasm_runtime("kv", Default::default());
    let mut rng = Rng(3);
    let first = rt.apply_once(None, meta(1, S, &mut rng), put("k", "a"), &request("r1")).unwrap();
    assert_eq!(version(&first), 1);
    let hash = rt.applier_hashes();
    let again = rt.apply_once(None, meta(2, 2 * S, &mut rng), put("k", "a"), &request("r1")).unwrap();
    match &again {
        Once::Again { at, .. } => assert_eq!(at.index, 1, "the first entry's position"),
        other => panic!("not a replay: {other:?}"),
    }
    assert_eq!(version(&again), 1);
    assert_eq!(rt.applier_hashes(), hash, "the applier's state is untouched");
    assert_eq!(rt.applied().index, 2);

    // The id with another command: refused, and the first outcome stays the id's.
    let Once::First(Err(e)) = rt.apply_once(None, meta(3, 3 * S, &mut rng), put("k", "b"), &request("r1")).unwrap()
    else {
        panic!("a reused id must be refused")
    };
    assert_eq!(e.code, "request-id-reused");
    let other = rt.apply_once(None, meta(4, 4 * S, &mut rng), put("k", "b"), &request("r2")).unwrap();
    assert_eq!(version(&other), 2);
    // Past the window (60 s after it applied) the id is a new request.
    let later = rt.apply_once(None, meta(5, 62 * S, &mut rng), put("k", "a"), &request("r1")).unwrap();
    assert_eq!(version(&later), 3);
}

#[test]
fn a_node_restored_from_a_checkpoint_answers_retries_alike() {
    let mut rng = Rng(9);
    let mut a = wasm_runtime("kv", Default::default());
    let mut checkpoint: Option<Checkpoint> = None;
    // 200 ids, a checkpoint at the first reset point after they applied.
    for i in 1..=RESET_INTERVAL + 1 {
        let id = format!("r{}", i % 200);
        if i == RESET_INTERVAL - 1 {
            a.request_checkpoint();
        }
        a.apply_once(None, meta(i, i * 1_000_000, &mut rng), put(&format!("k{}", i % 200), "v"), &request(&id))
            .unwrap();
        checkpoint = checkpoint.or_else(|| a.take_checkpoint());
    }
    let checkpoint = checkpoint.expect("a checkpoint at the reset point");
    assert_eq!(checkpoint.applied.index, RESET_INTERVAL - 1);
    assert!(checkpoint.requests.map().len() >= 400, "200 requests, two keys each");
    let mut bytes = Vec::new();
    checkpoint.encode(&mut bytes).unwrap();
    let mut b = Runtime::restore(wasm_backend("kv", Default::default()), Checkpoint::decode(&bytes[..]).unwrap());
    let mut rng_b = Rng(0);
    for i in RESET_INTERVAL..=RESET_INTERVAL + 1 {
        // The same entries: rebuild them (the meta's entropy does not matter to KV puts).
        let id = format!("r{}", i % 200);
        b.apply_once(None, meta(i, i * 1_000_000, &mut rng_b), put(&format!("k{}", i % 200), "v"), &request(&id))
            .unwrap();
    }
    assert_eq!(a.state_hash(), b.state_hash());
    // A retry of request r7 (applied before the checkpoint) replays on both.
    let next = RESET_INTERVAL + 2;
    let retry = |rt: &mut Runtime, rng: &mut Rng| {
        rt.apply_once(None, meta(next, next * 1_000_000, rng), put("k7", "v"), &request("r7")).unwrap()
    };
    let (ra, rb) = (retry(&mut a, &mut rng), retry(&mut b, &mut rng_b));
    assert!(matches!(ra, Once::Again { .. }), "{ra:?}");
    assert_eq!(ra, rb);
    assert_eq!(a.state_hash(), b.state_hash());
}
