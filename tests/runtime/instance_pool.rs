//! Calls outside the log (handle, render, housekeeping, queries) share the node's pool of
//! wasm instances with the apply path, but can never take the instances the apply path
//! needs: however many run at once, entries keep applying (before, ~30 slow calls left the
//! apply thread without an instance, and the node halted), and an outside call over its
//! limit is refused as busy at once. Nor can new requests take the instances that answer
//! what the cluster already did: `render` of an applied write still runs (before, it was
//! refused as busy, and the gateway answered a write that had applied with 503, "retry").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use testkit_applier::{Command, Query};
use wasmraft::runtime::{HostError, Limits, OutsideCall, RESET_INTERVAL};
use wasmraft_sdk::contract::{ApplierError, HttpOutcome, Payload};
use wasmraft_sdk::{Encoding, codec};
use wasmraft_tests::{Rng, meta, wasm_runtime};

const T0: u64 = 1_700_000_000_000_000_000;

#[test]
fn outside_calls_cannot_take_the_apply_paths_instances() {
    // Each spinning query holds its instance for ~20M instructions.
    let mut runtime = wasm_runtime("testkit", Limits { fuel_per_call: 20_000_000, memory_bytes: 16 << 20 });
    let spin = Payload::postcard(codec::encode(Encoding::Postcard, &Query::Spin).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, busy) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // More callers than the pool has instances, each calling back to back.
    let callers: Vec<_> = (0..48)
        .map(|_| {
            let reader = runtime.reader();
            let (stop, answered, busy, spin) = (stop.clone(), answered.clone(), busy.clone(), spin.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match reader.query(None, T0, spin.clone()) {
                        Ok(outcome) => {
                            assert_eq!(outcome.expect_err("spins until its fuel runs out").code, "out-of-fuel");
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(HostError::Busy { .. }) => {
                            busy.fetch_add(1, Ordering::Relaxed);
                            std::thread::yield_now();
                        }
                        Err(e) => panic!("an outside call failed otherwise: {e}"),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Every entry opens a new block of indexes, so each needs a fresh instance.
    let mut rng = Rng(3);
    let noop = Payload::postcard(codec::encode(Encoding::Postcard, &Command::Noop).unwrap());
    let applied: Vec<_> =
        (1..=30).map(|block| runtime.apply(meta(block * RESET_INTERVAL, T0, &mut rng), noop.clone())).collect();
    let front = runtime.front();
    let rendered: Vec<_> = (0..30)
        .map(|_| {
            let outcome = HttpOutcome::Failed(ApplierError::new("conflict", "rendered while the pool is full"));
            front.render(OutsideCall::Finish, Encoding::Postcard, outcome, Default::default()).map(|_| ())
        })
        .collect();
    // On a busy machine the 48 callers may not all be calling yet: give them time to go over
    // the limit (the assertion below still fails if they never do).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while busy.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.join().expect("a caller failed");
    }
    for (block, result) in applied.into_iter().enumerate() {
        assert!(matches!(result, Ok(Ok(_))), "entry of block {} did not apply: {result:?}", block + 1);
    }
    assert!(rendered.iter().all(Result::is_ok), "a render was refused: {rendered:?}");
    assert!(busy.load(Ordering::Relaxed) > 0, "the outside calls were never over their limit");
    assert!(answered.load(Ordering::Relaxed) > 0, "no outside call ran");
}
