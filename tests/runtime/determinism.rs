//! The same entries give the same outputs and the same state hash: wasm on two independent
//! engines, and wasm against the native build of the same applier.

use kv_applier::{Command, Kv};
use wasmraft::runtime::{Limits, NativeBackend, Runtime};
use wasmraft_sdk::codec;
use wasmraft_sdk::contract::{Encoding, Payload};
use wasmraft_tests::{Rng, meta, wasm_runtime};

const ENTRIES: u64 = 10_000;

/// Random KV traffic over a small key space, so that keys are overwritten, deleted and
/// compared-and-swapped often; both encodings; timestamps that sometimes go backwards.
fn workload(seed: u64) -> Vec<(wasmraft_sdk::Meta, Payload)> {
    let mut rng = Rng(seed);
    let mut clock = 1_700_000_000_000_000_000u64;
    (1..=ENTRIES)
        .map(|index| {
            let key = format!("key-{:03}", rng.below(200));
            let value: String = (0..rng.below(300)).map(|_| (b'a' + rng.below(26) as u8) as char).collect();
            let command = match rng.below(10) {
                0..=5 => Command::Put { key, value },
                6..=7 => Command::Cas { key, expected_version: rng.below(4), value },
                _ => Command::Delete { key },
            };
            let encoding = if rng.below(2) == 0 { Encoding::Postcard } else { Encoding::Json };
            let bytes = codec::encode(encoding, &command).unwrap();
            // Mostly forward, sometimes a proposer with a slow clock.
            clock = if rng.below(10) == 0 { clock - 5_000_000 } else { clock + rng.below(3_000_000) };
            (meta(index, clock, &mut rng), Payload { encoding, bytes })
        })
        .collect()
}

fn run(
    runtime: &mut Runtime,
    entries: &[(wasmraft_sdk::Meta, Payload)],
) -> Vec<Result<Vec<u8>, wasmraft_sdk::contract::ApplierError>> {
    entries.iter().map(|(m, p)| runtime.apply(m.clone(), p.clone()).expect("no host failure")).collect()
}

fn assert_same(a: &mut Runtime, b: &mut Runtime) {
    let entries = workload(42);
    let out_a = run(a, &entries);
    let out_b = run(b, &entries);
    for (i, (x, y)) in out_a.iter().zip(&out_b).enumerate() {
        assert_eq!(x, y, "outputs differ at entry {}", i + 1);
    }
    // The workload must exercise every outcome, or the comparison proves little.
    assert!(out_a.iter().filter(|o| o.is_ok()).count() > 5000);
    for code in ["not-found", "version-mismatch"] {
        assert!(out_a.iter().any(|o| matches!(o, Err(e) if e.code == code)), "no {code} in the workload");
    }
    assert!(a.state().len() > 100);
    assert_eq!(a.applied(), b.applied());
    assert_eq!(a.state_hash(), b.state_hash());
}

#[test]
fn wasm_against_wasm() {
    let mut a = wasm_runtime("kv", Limits::default());
    let mut b = wasm_runtime("kv", Limits::default());
    assert_same(&mut a, &mut b);
}

#[test]
fn wasm_against_native() {
    let mut wasm = wasm_runtime("kv", Limits::default());
    let mut native = Runtime::new(Box::new(NativeBackend::<Kv>::default()));
    assert_same(&mut wasm, &mut native);
}

#[test]
fn different_entries_give_different_hashes() {
    let mut a = wasm_runtime("kv", Limits::default());
    let mut b = wasm_runtime("kv", Limits::default());
    run(&mut a, &workload(1)[..100]);
    run(&mut b, &workload(2)[..100]);
    assert_ne!(a.state_hash(), b.state_hash());
}
