//! One runtime hosting several appliers (kv, scd and testkit, built to wasm): each keeps
//! its own state, hash and upgrade history; an upgrade replaces only the applier of its
//! name, and never one whose routes would overlap another's.

use wasmraft::runtime::{Backend, Checkpoint, HostingError, Limits, NativeBackend, Runtime, StateHash, Target};
use wasmraft_sdk::contract::{Encoding, Payload};
use wasmraft_sdk::{Applier, Ctx, Error};
use wasmraft_tests::{Rng, meta, wasm_backend};

fn json(value: serde_json::Value) -> Payload {
    Payload { encoding: Encoding::Json, bytes: serde_json::to_vec(&value).unwrap() }
}

fn hosting() -> Vec<Box<dyn Backend>> {
    ["kv", "scd", "testkit"].iter().map(|name| wasm_backend(name, Limits::default()) as Box<dyn Backend>).collect()
}

/// Applies `command` to `target` at the next index: the output, or the refusal's code.
fn apply(rt: &mut Runtime, rng: &mut Rng, target: Target, command: serde_json::Value) -> Result<Vec<u8>, String> {
    let index = rt.applied().index + 1;
    rt.apply_to(target, meta(index, 1_000 + index, rng), json(command)).expect("applies here").map_err(|e| e.code)
}

fn put(key: &str) -> serde_json::Value {
    serde_json::json!({ "put": { "key": key, "value": "v" } })
}

/// A module that calls itself `kv` and claims the SCD applier's paths.
struct Greedy;

impl Applier for Greedy {
    const NAME: &'static str = "kv";
    const VERSION: &'static str = "9.0.0";
    const ROUTES: &'static [&'static str] = &["/dss"];
    type Command = ();
    type Query = ();
    type Output = ();
    type QueryOutput = ();

    fn apply(_: &mut Ctx, (): ()) -> Result<(), Error> {
        Ok(())
    }

    fn query(_: &Ctx, (): ()) -> Result<(), Error> {
        Ok(())
    }
}

fn hashes(rt: &Runtime) -> Vec<StateHash> {
    rt.applier_hashes()
}

#[test]
fn each_applier_keeps_its_own_state_and_hash() {
    let mut rt = Runtime::restore_all(hosting(), Checkpoint::default()).unwrap();
    let mut rng = Rng(3);
    let names: Vec<_> = rt.appliers().into_iter().map(|a| (a.module.name, a.routes)).collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names,
        [
            ("kv".to_string(), s(&["/kv", "/whoami"])),
            ("scd".into(), s(&["/aux/v1", "/dss/v1", "/versions"])),
            ("testkit".into(), vec![])
        ]
    );

    apply(&mut rt, &mut rng, None, put("a")).unwrap();
    let before = hashes(&rt);
    // testkit's entries change testkit's hash only, and the whole state's.
    let whole = rt.state_hash();
    apply(&mut rt, &mut rng, Some("testkit"), put("a")).unwrap();
    apply(&mut rt, &mut rng, Some("testkit"), put("b")).unwrap();
    let after = hashes(&rt);
    assert_eq!((after[0], after[1]), (before[0], before[1]));
    assert_ne!(after[2], before[2]);
    assert_ne!(rt.state_hash(), whole);
    // Each reads its own state: kv has only its own key.
    let keys = |rt: &Runtime, target| {
        let reader = rt.reader_of(target).unwrap();
        let out =
            reader.query(None, 0, json(serde_json::json!({ "range": { "start": "", "end": null, "limit": 10 } })));
        serde_json::from_slice::<serde_json::Value>(&out.unwrap().unwrap()).unwrap()["range"]["entries"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(keys(&rt, Some("kv")), 1);
    assert_eq!(rt.appliers()[2].keys, 2);

    // An entry to no hosted applier is refused alike everywhere, and changes nothing.
    let (hashes_before, whole) = (hashes(&rt), rt.state_hash());
    assert_eq!(apply(&mut rt, &mut rng, Some("rid"), put("x")), Err("no-such-applier".into()));
    assert_eq!((hashes(&rt), rt.state_hash()), (hashes_before, whole));
    assert!(rt.reader_of(Some("rid")).is_err());
}

#[test]
fn an_upgrade_replaces_only_the_applier_of_its_name() {
    let mut rt = Runtime::restore_all(hosting(), Checkpoint::default()).unwrap();
    let mut rng = Rng(5);
    apply(&mut rt, &mut rng, None, put("a")).unwrap();
    apply(&mut rt, &mut rng, Some("testkit"), put("t")).unwrap();
    let upgrade = |rt: &mut Runtime, rng: &mut Rng, next: Box<dyn Backend>| {
        let index = rt.applied().index + 1;
        rt.upgrade(meta(index, 5_000 + index, rng), next, false).expect("applies here").map_err(|e| e.message)
    };
    let before = rt.appliers();
    let others = |rt: &Runtime| (rt.appliers()[1..].to_vec(), hashes(rt)[1..].to_vec());
    let untouched = others(&rt);

    // Claims scd's paths: refused, recorded in kv's history, and nothing else changes.
    let why = upgrade(&mut rt, &mut rng, Box::<NativeBackend<Greedy>>::default()).unwrap_err();
    assert!(why.contains("`/dss`") && why.contains("scd"), "{why}");
    assert_eq!(rt.appliers()[0].module, before[0].module);
    assert_eq!(others(&rt), untouched);

    // An applier the cluster does not host: refused, in no history.
    let why = upgrade(&mut rt, &mut rng, Box::<NativeBackend<Stranger>>::default()).unwrap_err();
    assert!(why.contains("no applier `stranger`"), "{why}");
    assert_eq!(others(&rt), untouched);

    upgrade(&mut rt, &mut rng, wasm_backend("kv2", Limits::default())).expect("kv 2.0.0 takes over");
    assert_eq!(rt.appliers()[0].module.version, "2.0.0");
    assert_eq!(rt.appliers()[0].upgrades.len(), 2);
    assert_eq!(others(&rt), untouched, "scd's and testkit's module, history and hash are untouched");
}

/// A module of an applier no cluster here hosts.
struct Stranger;

impl Applier for Stranger {
    const NAME: &'static str = "stranger";
    const VERSION: &'static str = "1.0.0";
    type Command = ();
    type Query = ();
    type Output = ();
    type QueryOutput = ();

    fn apply(_: &mut Ctx, (): ()) -> Result<(), Error> {
        Ok(())
    }

    fn query(_: &Ctx, (): ()) -> Result<(), Error> {
        Ok(())
    }
}

#[test]
fn a_checkpoint_carries_every_applier_and_restores_only_onto_the_same_ones() {
    let mut rt = Runtime::restore_all(hosting(), Checkpoint::default()).unwrap();
    let mut rng = Rng(9);
    for i in 0..5 {
        apply(&mut rt, &mut rng, None, put(&format!("k{i}"))).unwrap();
        apply(&mut rt, &mut rng, Some("testkit"), put(&format!("t{i}"))).unwrap();
    }
    // Past a reset point, where a checkpoint is taken.
    let index = wasmraft::runtime::RESET_INTERVAL + 1;
    rt.request_checkpoint();
    rt.apply_to(Some("testkit"), meta(index, 9_000, &mut rng), json(put("last"))).unwrap().unwrap();
    let checkpoint = rt.take_checkpoint().expect("captured at the reset point");
    let mut bytes = Vec::new();
    checkpoint.encode(&mut bytes).unwrap();
    let decoded = Checkpoint::decode(&bytes[..]).unwrap();
    assert_eq!(decoded.appliers.len(), 3);
    let restored = Runtime::restore_all(hosting(), decoded).unwrap();
    assert_eq!(restored.applied(), checkpoint.applied);
    assert_eq!(restored.state_hash(), checkpoint.state_hash());

    let mut reordered = hosting();
    reordered.swap(0, 1);
    let decoded = Checkpoint::decode(&bytes[..]).unwrap();
    assert!(matches!(Runtime::restore_all(reordered, decoded), Err(HostingError::Mismatch { .. })));
    let twice = vec![wasm_backend("kv", Limits::default()) as Box<dyn Backend>, wasm_backend("kv2", Limits::default())];
    assert_eq!(Runtime::restore_all(twice, Checkpoint::default()).err(), Some(HostingError::SameName("kv".into())));
    let greedy =
        vec![wasm_backend("scd", Limits::default()) as Box<dyn Backend>, Box::new(NativeBackend::<Greedy>::default())];
    assert!(matches!(Runtime::restore_all(greedy, Checkpoint::default()), Err(HostingError::Routes(_))));
}
