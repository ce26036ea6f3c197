//! A call that misbehaves (loops, hogs memory, overflows its stack, panics or fails after
//! writing) ends with a deterministic error and leaves the state exactly as it was; the next
//! entry runs normally.

use testkit_applier::{Command, Output, Query, Testkit};
use wasmraft::runtime::{Limits, NativeBackend, Runtime};
use wasmraft_sdk::codec;
use wasmraft_sdk::contract::{ApplierError, Encoding, Payload};
use wasmraft_tests::{Rng, meta, wasm_runtime};

const T0: u64 = 1_700_000_000_000_000_000;

/// Small limits, so the hostile commands hit them quickly.
fn limits() -> Limits {
    Limits { fuel_per_call: 50_000_000, memory_bytes: 16 << 20 }
}

struct Harness {
    runtime: Runtime,
    rng: Rng,
}

impl Harness {
    fn wasm() -> Self {
        Harness { runtime: wasm_runtime("testkit", limits()), rng: Rng(7) }
    }

    fn apply(&mut self, command: &Command) -> Result<Output, ApplierError> {
        let index = self.runtime.applied().index + 1;
        let meta = meta(index, T0 + index, &mut self.rng);
        let payload = Payload::postcard(codec::encode(Encoding::Postcard, command).unwrap());
        let out = self.runtime.apply(meta, payload).expect("no host failure")?;
        Ok(codec::decode(Encoding::Postcard, &out).unwrap())
    }

    fn get(&self, key: &str) -> Option<String> {
        let q = Payload::postcard(codec::encode(Encoding::Postcard, &Query::Get { key: key.into() }).unwrap());
        let out = self.runtime.query(None, T0, q).unwrap().unwrap();
        codec::decode(Encoding::Postcard, &out).unwrap()
    }

    fn put(&mut self, key: &str) {
        assert_eq!(self.apply(&Command::Put { key: key.into(), value: "v".into() }), Ok(Output::Done));
    }

    /// Applies `command`, expects it to fail with `code`, and checks that it changed nothing
    /// and that the runtime carries on.
    fn contained(&mut self, command: Command, code: &str) -> ApplierError {
        self.put("before");
        let hash = self.runtime.state_hash();
        let keys = self.runtime.state().len();
        let err = self.apply(&command).expect_err("the command must fail");
        assert_eq!(err.code, code, "{command:?}: {err}");
        assert_eq!(self.runtime.state_hash(), hash, "{command:?} changed the state");
        assert_eq!(self.runtime.state().len(), keys);
        assert_eq!(self.get("doomed-0"), None);
        self.put("after");
        assert_eq!(self.get("after").as_deref(), Some("v"));
        err
    }
}

#[test]
fn a_loop_that_never_ends_runs_out_of_fuel() {
    let err = Harness::wasm().contained(Command::Spin, "out-of-fuel");
    assert!(err.message.contains("50000000"), "{}", err.message);
}

/// WASI calls cost fuel like the store's: 300,000 clock reads (~200 units each) overrun a
/// budget of 50M that the guest's own instructions for them stay well under (before, a
/// WASI call cost only those instructions, and the same command applied).
#[test]
fn wasi_calls_cost_fuel() {
    let mut h = Harness::wasm();
    assert_eq!(h.apply(&Command::Clock { times: 1_000 }), Ok(Output::Done));
    h.contained(Command::Clock { times: 300_000 }, "out-of-fuel");
}

#[test]
fn unbounded_memory_growth_stops_at_the_limit() {
    let err = Harness::wasm().contained(Command::Hog { chunk_kib: 256 }, "out-of-memory");
    assert!(err.message.contains(&(16usize << 20).to_string()), "{}", err.message);
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let mut h = Harness::wasm();
    // Shallow recursion works ...
    let expected = (1..=100u64).fold(0u64, |acc, d| acc.rotate_left(1) ^ d);
    assert_eq!(h.apply(&Command::Recurse { depth: 100 }), Ok(Output::Depth(expected)));
    // ... deep recursion traps instead of crashing the node.
    h.contained(Command::Recurse { depth: 10_000_000 }, "stack-overflow");
}

#[test]
fn a_panic_after_puts_lands_none_of_them() {
    let err = Harness::wasm().contained(Command::PutThenPanic { count: 50 }, "panic");
    assert!(err.message.contains("testkit panics on purpose after 50 puts"), "{}", err.message);
}

#[test]
fn an_error_after_puts_lands_none_of_them() {
    let err = Harness::wasm().contained(Command::PutThenFail { count: 50 }, "conflict");
    assert_eq!(err.message, "testkit refuses on purpose after 50 puts");
}

#[test]
fn writes_beyond_the_host_limits_trap() {
    let huge = "x".repeat(wasmraft::runtime::state::limits::MAX_KEY_BYTES + 1);
    let err = Harness::wasm().contained(Command::Put { key: huge, value: "v".into() }, "limit-exceeded");
    assert!(err.message.contains("key"), "{}", err.message);
}

#[test]
fn a_command_that_does_not_decode_is_the_applier_s_error() {
    let mut h = Harness::wasm();
    for (payload, what) in [
        (Payload::postcard(vec![0xFF, 0xFF, 0xFF]), "postcard"),
        (Payload::json(b"{\"spin\": 3".to_vec()), "json"),
        (Payload::json(b"[1,2,3]".to_vec()), "json"),
    ] {
        let meta = meta(h.runtime.applied().index + 1, T0, &mut h.rng);
        let err = h.runtime.apply(meta, payload.clone()).unwrap().unwrap_err();
        assert_eq!(err.code, "bad-request");
        assert!(err.message.starts_with(&format!("command does not decode as {what}")), "{}", err.message);
    }
    assert!(h.runtime.state().is_empty());
}

#[test]
fn failures_are_the_same_on_every_node() {
    let script = [
        Command::Put { key: "a".into(), value: "1".into() },
        Command::Spin,
        Command::Hog { chunk_kib: 64 },
        Command::PutThenPanic { count: 3 },
        Command::Recurse { depth: 10_000_000 },
        Command::Put { key: "b".into(), value: "2".into() },
    ];
    let run = || {
        let mut h = Harness::wasm();
        let outcomes: Vec<_> = script.iter().map(|c| h.apply(c)).collect();
        (outcomes, h.runtime.state_hash())
    };
    let (a, hash_a) = run();
    let (b, hash_b) = run();
    assert_eq!(a, b);
    assert_eq!(hash_a, hash_b);
    assert_eq!(a.iter().filter(|o| o.is_err()).count(), 4);
}

#[test]
fn the_guest_sees_time_and_randomness_only_from_the_entry() {
    let mut h = Harness::wasm();
    let mut other = Harness::wasm();
    let a = h.apply(&Command::Observe).unwrap();
    let b = other.apply(&Command::Observe).unwrap();
    assert_eq!(a, b, "two nodes observe the same entry alike");
    let Output::Observed { now_ns, wasi_now_ns, index, ids } = a else { panic!("{a:?}") };
    assert_eq!(index, 1);
    assert_eq!(now_ns, T0 + 1);
    assert_eq!(wasi_now_ns, now_ns, "std's SystemTime is the entry's time");
    assert!(ids[0].is_v4() && ids[1].is_v4() && ids[0] != ids[1]);
}

#[test]
fn entry_time_never_goes_backwards() {
    let mut h = Harness::wasm();
    let observe = Payload::postcard(codec::encode(Encoding::Postcard, &Command::Observe).unwrap());
    let at = |index: u64, ts: u64, h: &mut Harness| {
        let meta = meta(index, ts, &mut h.rng);
        let out = h.runtime.apply(meta, observe.clone()).unwrap().unwrap();
        match codec::decode(Encoding::Postcard, &out).unwrap() {
            Output::Observed { now_ns, .. } => now_ns,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(at(1, T0 + 500, &mut h), T0 + 500);
    assert_eq!(at(2, T0 + 100, &mut h), T0 + 500, "a late proposer's clock is lifted");
    assert_eq!(at(3, T0 + 900, &mut h), T0 + 900);
}

#[test]
fn native_panics_are_contained_too() {
    let mut runtime = Runtime::new(Box::new(NativeBackend::<Testkit>::default()));
    let payload = Payload::json(serde_json::to_vec(&Command::PutThenPanic { count: 5 }).unwrap());
    let err = runtime.apply(meta(1, T0, &mut Rng(1)), payload).unwrap().unwrap_err();
    assert_eq!(err.code, "panic");
    assert!(runtime.state().is_empty());
}
