//! Guest memory lives across entries, but never in a way that a node restored from a
//! snapshot could observe differently: instances are replaced at index-aligned points and
//! after traps, and snapshots (checkpoints) are taken only at those points.

use std::collections::BTreeMap;
use std::sync::Arc;
use testkit_applier::Command;
use wasmraft::runtime::{
    AppliedState, Backend, CallError, Checkpoint, Front, HostError, Limits, ModuleDescriptor, Outcome, RESET_INTERVAL,
    Runtime, SystemState, Txn, WasmBackend,
};
use wasmraft_sdk::contract::{ApplierError, Info, Meta, Payload};
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

/// The wasm backend, except that this machine fails the call of the entry at `fail_at`
/// once, after the guest ran (as when the OS refuses memory the guest grows into).
struct FailsOnce {
    inner: Box<WasmBackend>,
    fail_at: Option<u64>,
}

impl Backend for FailsOnce {
    fn describe(&self) -> ModuleDescriptor {
        self.inner.describe()
    }

    fn apply(&mut self, meta: Meta, command: Payload, txn: &mut Txn) -> Result<Outcome, HostError> {
        let fail = self.fail_at == Some(meta.index);
        let outcome = self.inner.apply(meta, command, txn);
        if fail {
            self.fail_at = None;
            return Err(HostError::Call("the OS refused memory (injected)".into()));
        }
        outcome
    }

    fn migrate(&mut self, meta: Meta, previous: &Info, txn: &mut Txn) -> Result<Result<(), CallError>, HostError> {
        self.inner.migrate(meta, previous, txn)
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    fn front(&self) -> Arc<dyn Front> {
        self.inner.front()
    }
}

/// Applies `entries` on a runtime whose machine fails the call at `fail_at` once, retrying
/// that entry as the apply thread does: its outcomes, or the error that stops it.
fn apply_failing_once(entries: &[(Meta, Payload)], fail_at: u64) -> Result<Outcomes, HostError> {
    let backend = FailsOnce { inner: wasm_backend("testkit", limits()), fail_at: Some(fail_at) };
    let mut runtime = Runtime::new(Box::new(backend));
    let mut outcomes = Outcomes::new();
    for (m, p) in entries {
        let outcome = match runtime.apply(m.clone(), p.clone()) {
            Err(HostError::Call(_)) if m.index == fail_at => runtime.apply(m.clone(), p.clone())?,
            other => other?,
        };
        outcomes.insert(m.index, outcome);
    }
    Ok(outcomes)
}

/// A call this machine failed is retried on a fresh instance. That is what every node had
/// at the first entry of a block, so there the retry is exact; mid-block the others run a
/// warm instance, and a retry on a fresh one answered differently (it did, silently: the
/// node diverged). There the node must stop instead.
#[test]
fn a_call_this_machine_failed_is_retried_only_where_a_fresh_instance_is_exact() {
    let all = entries();
    let few = &all[..(RESET_INTERVAL + 200) as usize];
    let mut reference = wasm_runtime("testkit", limits());
    let expected = apply_all(&mut reference, few);

    let mid_block = RESET_INTERVAL + 100;
    match apply_failing_once(few, mid_block) {
        Err(HostError::Unrepeatable(why)) => assert!(why.contains("injected"), "{why}"),
        other => {
            panic!("mid-block, the retry must be refused; outcomes as expected: {:?}", other.map(|o| o == expected))
        }
    }

    let block_start = RESET_INTERVAL;
    let retried = apply_failing_once(few, block_start).expect("retried at a block's first entry");
    assert!(retried == expected, "the retry at a block's first entry is exact");
}
