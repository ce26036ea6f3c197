//! `Runtime::upgrade` with kv 1.0.0 -> kv 2.0.0 (appliers/kv2): all or nothing, the same on
//! two engines, and carried by a checkpoint.

use wasmraft::runtime::{Checkpoint, Limits, RESET_INTERVAL, Runtime};
use wasmraft_sdk::contract::{Encoding, Payload};
use wasmraft_tests::{Rng, meta, wasm_backend, wasm_runtime};

fn json(value: serde_json::Value) -> Payload {
    Payload { encoding: Encoding::Json, bytes: serde_json::to_vec(&value).unwrap() }
}

/// Applies `command` at the next index; the output as JSON, or the refusal's code.
fn apply(rt: &mut Runtime, rng: &mut Rng, command: serde_json::Value) -> Result<serde_json::Value, String> {
    let index = rt.applied().index + 1;
    let outcome = rt.apply(meta(index, 1_000 + index, rng), json(command)).expect("applies here");
    outcome.map(|o| serde_json::from_slice(&o).unwrap()).map_err(|e| e.code)
}

fn upgrade_to(rt: &mut Runtime, rng: &mut Rng, name: &str, allow_downgrade: bool) -> Result<(), String> {
    let index = rt.applied().index + 1;
    let next = wasm_backend(name, Limits::default());
    rt.upgrade(meta(index, 1_000 + index, rng), next, allow_downgrade).expect("applies here").map_err(|e| e.message)
}

/// The same script on a runtime: puts, a refused upgrade, a successful one, more puts.
fn script(rt: &mut Runtime) -> Vec<Result<serde_json::Value, String>> {
    let mut rng = Rng(7);
    let mut outputs = Vec::new();
    for i in 0..20 {
        outputs.push(apply(rt, &mut rng, serde_json::json!({ "put": { "key": format!("k{i}"), "value": "v" } })));
    }
    outputs.push(apply(rt, &mut rng, serde_json::json!({ "put": { "key": "fail-migration", "value": "yes" } })));
    let digest = rt.state().digest();
    let refused = upgrade_to(rt, &mut rng, "kv2", false).expect_err("migrate refuses");
    assert!(refused.contains("fail-migration"), "{refused}");
    // Nothing of the failed migrate landed, and v1 still applies.
    assert_eq!(rt.state().digest(), digest);
    assert_eq!((rt.module().version.as_str(), rt.module().since_index), ("1.0.0", 0));
    assert_eq!(
        apply(rt, &mut rng, serde_json::json!({ "append": { "key": "k1", "suffix": "x" } })),
        Err("bad-request".into())
    );

    outputs.push(apply(rt, &mut rng, serde_json::json!({ "delete": { "key": "fail-migration" } })));
    upgrade_to(rt, &mut rng, "kv2", false).expect("migrates");
    let switch = rt.applied().index;
    assert_eq!((rt.module().version.as_str(), rt.module().since_index), ("2.0.0", switch));
    for i in 0..20 {
        outputs.push(apply(rt, &mut rng, serde_json::json!({ "append": { "key": format!("k{i}"), "suffix": "!" } })));
    }
    let older = upgrade_to(rt, &mut rng, "kv", false).expect_err("a downgrade must be asked for");
    assert!(older.contains("not newer"), "{older}");
    let history: Vec<_> = rt.upgrades().iter().map(|u| (u.version.as_str(), u.refused.is_some())).collect();
    assert_eq!(history, [("2.0.0", true), ("2.0.0", false), ("1.0.0", true)]);
    outputs
}

#[test]
fn an_upgrade_is_all_or_nothing_and_the_same_everywhere() {
    let mut a = wasm_runtime("kv", Limits::default());
    let mut b = wasm_runtime("kv", Limits::default());
    let outputs = script(&mut a);
    assert_eq!(script(&mut b), outputs);
    assert_eq!(a.state_hash(), b.state_hash());
    // v2's outputs after the switch, v1's before.
    assert!(outputs[..20].iter().all(|o| o.as_ref().unwrap()["written"].get("by").is_none()));
    assert!(outputs[22..].iter().all(|o| o.as_ref().unwrap()["written"]["by"] == "kv 2.0.0"));
    let migrated = a.state().iter().find(|(k, _)| k.windows(8).any(|w| w == b"migrated")).map(|(_, v)| v.clone());
    assert!(migrated.is_some_and(|v| String::from_utf8_lossy(&v).contains("from 1.0.0")));
}

#[test]
fn a_checkpoint_carries_the_active_module_and_the_history() {
    let mut a = wasm_runtime("kv", Limits::default());
    script(&mut a);
    a.request_checkpoint();
    // Captured at the next point where the apply instance is fresh (a block boundary).
    let mut rng = Rng(99);
    let checkpoint = loop {
        apply(&mut a, &mut rng, serde_json::json!({ "put": { "key": "x", "value": "y" } })).unwrap();
        if let Some(c) = a.take_checkpoint() {
            break c;
        }
        assert!(a.applied().index <= RESET_INTERVAL + 1, "no checkpoint by index {}", a.applied().index);
    };
    let mut bytes = Vec::new();
    checkpoint.encode(&mut bytes).unwrap();
    let restored = Runtime::restore(wasm_backend("kv2", Limits::default()), Checkpoint::decode(&bytes[..]).unwrap());
    assert_eq!(restored.module(), a.module());
    assert_eq!(restored.upgrades(), a.upgrades());
    assert_eq!(restored.applied(), checkpoint.applied);
}
