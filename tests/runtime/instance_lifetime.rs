//! Guest memory lives across entries, but never in a way that a node restored from a
//! snapshot could observe differently: instances are replaced at index-aligned points and
//! after traps, and snapshots (checkpoints) are taken only at those points.

use std::collections::BTreeMap;
use testkit_applier::Command;
use wasmraft::runtime::{AppliedState, Checkpoint, Limits, RESET_INTERVAL, Runtime, SystemState};
use wasmraft_sdk::contract::{ApplierError, Meta, Payload};
use wasmraft_sdk::{Encoding, codec};
use wasmraft_tests::{Rng, meta, wasm_backend, wasm_runtime};

const T0: u64 = 1_700_000_000_000_000_000;
const ENTRIES: u64 = 3100;
const TRAP_AT: u64 = 1700;

type Outcomes = BTreeMap<u64, Result<Vec<u8>, ApplierError>>;

/// `Remember` commands, whose outputs depend on everything the instance has seen and on
/// its `HashMap` seed, with one trapping entry in the middle.
fn entries() -> Vec<(Meta, Payload)> {
    let mut rng = Rng(99);
    (1..=ENTRIES)
        .map(|index| {
            let command = if index == TRAP_AT {
                Command::PutThenPanic { count: 2 }
            } else {
                Command::Remember { word: format!("w{:02}", rng.below(40)) }
            };
            let payload = Payload::postcard(codec::encode(Encoding::Postcard, &command).unwrap());
            (meta(index, T0 + index, &mut rng), payload)
        })
        .collect()
}

fn apply_all<'a>(runtime: &mut Runtime, entries: impl IntoIterator<Item = &'a (Meta, Payload)>) -> Outcomes {
    entries.into_iter().map(|(m, p)| (m.index, runtime.apply(m.clone(), p.clone()).unwrap())).collect()
}

fn limits() -> Limits {
    Limits::default()
}

#[test]
fn a_runtime_restored_from_a_checkpoint_continues_exactly_like_one_that_ran_from_the_start() {
    let all = entries();
    let mut a = wasm_runtime("testkit", limits());
    let mut outcomes = Outcomes::new();
    let mut snapshots = Vec::new();
    for (m, p) in &all {
        outcomes.insert(m.index, a.apply(m.clone(), p.clone()).unwrap());
        if m.index % 500 == 250 {
            a.request_checkpoint();
        }
        if let Some(checkpoint) = a.take_checkpoint() {
            let mut bytes = Vec::new();
            checkpoint.encode(&mut bytes).unwrap();
            snapshots.push(bytes);
        }
    }
    assert!(matches!(&outcomes[&TRAP_AT], Err(e) if e.code == "panic"));

    let mut restored_at = Vec::new();
    for bytes in &snapshots {
        let checkpoint = Checkpoint::decode(&bytes[..]).unwrap();
        let from = checkpoint.applied.index;
        restored_at.push(from);
        let mut b = Runtime::restore(wasm_backend("testkit", limits()), checkpoint);
        let replayed = apply_all(&mut b, all.iter().filter(|(m, _)| m.index > from));
        for (index, outcome) in &replayed {
            assert_eq!(outcome, &outcomes[index], "restored at {from}, entry {index} differs");
        }
        assert_eq!(b.state_hash(), a.state_hash(), "restored at {from}");
    }
    // Checkpoints sit just before a block start, or just after the trap (requests at 250
    // and 750 share one, as do 2250 and 2750).
    assert_eq!(restored_at, vec![RESET_INTERVAL - 1, TRAP_AT, 2 * RESET_INTERVAL - 1, 3 * RESET_INTERVAL - 1]);
    // A runtime with no entry since its last reset captures at once.
    let mut fresh = Runtime::restore(wasm_backend("testkit", limits()), Checkpoint::decode(&snapshots[0][..]).unwrap());
    fresh.request_checkpoint();
    assert_eq!(fresh.take_checkpoint().map(|c| c.applied.index), Some(RESET_INTERVAL - 1));
    assert!(fresh.take_checkpoint().is_none());
}

#[test]
fn restoring_anywhere_else_would_diverge() {
    // The control for the test above: the applier really does depend on guest memory, so
    // a snapshot taken at an arbitrary index (a fresh instance where the others run a warm
    // one) gives different outputs.
    let all = entries();
    let cut = 1500;
    let mut a = wasm_runtime("testkit", limits());
    apply_all(&mut a, &all[..cut as usize]);
    let system = SystemState { clock_ns: T0 + cut, module: a.module().clone(), ..Default::default() };
    let appliers = vec![AppliedState { system, state: a.state().clone() }];
    let naive = Checkpoint { applied: a.applied(), appliers, requests: Default::default() };
    assert_ne!(naive.applied.index % RESET_INTERVAL, RESET_INTERVAL - 1, "not a reset point");
    // Up to the next reset (the trap): after it, this applier forgets, and the stores
    // reconverge.
    let later = &all[cut as usize..(TRAP_AT - 1) as usize];
    let expected = apply_all(&mut a, later);
    let mut c = Runtime::restore(wasm_backend("testkit", limits()), naive);
    let diverged = apply_all(&mut c, later);
    assert_ne!(expected, diverged);
    assert_ne!(a.state_hash(), c.state_hash());
}

#[test]
fn queries_never_touch_the_apply_instance() {
    let all = entries();
    let mut quiet = wasm_runtime("testkit", limits());
    let mut busy = wasm_runtime("testkit", limits());
    let query = Payload::json(br#"{"get":{"key":"w01"}}"#.to_vec());
    let mut busy_outcomes = Outcomes::new();
    for (m, p) in &all[..1200] {
        busy.query(None, T0, query.clone()).unwrap().unwrap();
        busy_outcomes.insert(m.index, busy.apply(m.clone(), p.clone()).unwrap());
    }
    assert_eq!(apply_all(&mut quiet, &all[..1200]), busy_outcomes);
    assert_eq!(quiet.state_hash(), busy.state_hash());
}
