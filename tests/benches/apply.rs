//! Per-entry apply cost of the KV applier, wasm against native, and where the wasm time goes.
//!
//! Run with `cargo xtask bench`. Each figure is the median (min–max) over rounds of 20,000
//! entries, in nanoseconds per entry, through `Runtime::apply` (staging, commit and digest
//! included), on a state of 10,000 keys with 256-byte values.

// Same allocator as the `wasmraft` binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bytes::Bytes;
use kv_applier::{Command, Kv};
use testkit_applier::{Command as TkCommand, Testkit};
use wasmraft::runtime::state::WriteSet;
use wasmraft::runtime::{Limits, NativeBackend, Runtime, StateMap, Txn};
use wasmraft_sdk::codec;
use wasmraft_sdk::contract::{Encoding, Meta, Payload};
use wasmraft_tests::bench::{self, Stats};
use wasmraft_tests::{Rng, meta, wasm_runtime};

const BATCH: usize = 20_000;
const ROUNDS: usize = 7;
const KEYS: u64 = 10_000;
const VALUE: usize = 256;

/// Times `per_round` (which runs `BATCH` operations) over `ROUNDS` rounds after one warm-up.
fn time(per_round: impl FnMut(usize)) -> Stats {
    bench::time(ROUNDS, BATCH, per_round)
}

fn entries<C: serde::Serialize>(
    round: usize,
    encoding: Encoding,
    mut command: impl FnMut(&mut Rng) -> C,
) -> Vec<(Meta, Payload)> {
    let mut rng = Rng(round as u64);
    (0..BATCH)
        .map(|i| {
            // Indexes 1..=9 are left for set-up entries.
            let index = (round * BATCH + i + 10) as u64;
            let payload = Payload { encoding, bytes: codec::encode(encoding, &command(&mut rng)).unwrap() };
            (meta(index, index, &mut rng), payload)
        })
        .collect()
}

fn kv_put(rng: &mut Rng) -> Command {
    Command::Put { key: format!("key-{:05}", rng.below(KEYS)), value: "v".repeat(VALUE) }
}

/// ns per entry of applying `make(round)` on `runtime`.
fn apply_cost(mut runtime: Runtime, make: impl Fn(usize) -> Vec<(Meta, Payload)>) -> Stats {
    let batches: Vec<_> = (0..=ROUNDS).map(&make).collect();
    let mut batches = batches.into_iter();
    time(|_| {
        for (m, p) in batches.next().unwrap() {
            runtime.apply(m, p).unwrap().unwrap();
        }
    })
}

fn query_cost(runtime: &Runtime, query: &Payload) -> Stats {
    time(|_| {
        for _ in 0..BATCH {
            runtime.query(None, 0, query.clone()).unwrap().unwrap();
        }
    })
}

fn kv_native() -> Runtime {
    Runtime::new(Box::new(NativeBackend::<Kv>::default()))
}

fn kv_wasm() -> Runtime {
    wasm_runtime("kv", Limits::default())
}

fn row(what: &str, native: Stats, wasm: Stats) {
    println!("{what:<34} {native}   {wasm}   {:>5.2}x", wasm.median / native.median);
}

fn main() {
    wasmraft::process::without_transparent_huge_pages();
    println!("wasmraft apply benchmark: ns per entry, median (min–max) of {ROUNDS} rounds of {BATCH}\n");
    println!("{:<34} {:<30} {:<30} wasm/native", "", "native", "wasm");

    let put = |enc| move |r| entries(r, enc, kv_put);
    let put_native = apply_cost(kv_native(), put(Encoding::Postcard));
    let put_wasm = apply_cost(kv_wasm(), put(Encoding::Postcard));
    row("KV put, 256 B value, postcard", put_native, put_wasm);
    row(
        "KV put, 256 B value, JSON",
        apply_cost(kv_native(), put(Encoding::Json)),
        apply_cost(kv_wasm(), put(Encoding::Json)),
    );

    let get = Payload::postcard(
        codec::encode(Encoding::Postcard, &kv_applier::Query::Get { key: "key-00042".into() }).unwrap(),
    );
    let mut warm_native = kv_native();
    let mut warm_wasm = kv_wasm();
    for (m, p) in entries(0, Encoding::Postcard, kv_put) {
        warm_native.apply(m.clone(), p.clone()).unwrap().unwrap();
        warm_wasm.apply(m, p).unwrap().unwrap();
    }
    row("KV get query (fresh instance)", query_cost(&warm_native, &get), query_cost(&warm_wasm, &get));

    let tk = |c: fn(&mut Rng) -> TkCommand| move |r| entries(r, Encoding::Postcard, c);
    let testkit_native = || Runtime::new(Box::new(NativeBackend::<Testkit>::default()));
    let testkit_wasm = || wasm_runtime("testkit", Limits::default());
    let noop = |_: &mut Rng| TkCommand::Noop;
    let noop_native = apply_cost(testkit_native(), tk(noop));
    let noop_wasm = apply_cost(testkit_wasm(), tk(noop));
    row("no-op apply (testkit)", noop_native, noop_wasm);
    // 100 `get`s of a 256-byte value per entry; per get = (that - no-op) / 100.
    let reads = |_: &mut Rng| TkCommand::Read { key: "key-00042".into(), times: 100 };
    let seed = |mut runtime: Runtime| {
        let value = TkCommand::Put { key: "key-00042".into(), value: "v".repeat(VALUE) };
        let mut batch = entries(0, Encoding::Postcard, |_| value.clone());
        let (m, p) = batch.remove(0);
        runtime.apply(Meta { index: 1, ..m }, p).unwrap().unwrap();
        runtime
    };
    // A difference of two medians; its range pairs the extremes of both.
    let per_get = |reads: Stats, noop: Stats| {
        let f = |r: f64, n: f64| (r - n) / 100.0;
        Stats { median: f(reads.median, noop.median), min: f(reads.min, noop.max), max: f(reads.max, noop.min) }
    };
    let get_native = per_get(apply_cost(seed(testkit_native()), tk(reads)), noop_native);
    let get_wasm = per_get(apply_cost(seed(testkit_wasm()), tk(reads)), noop_wasm);
    row("one get import, 256 B value", get_native, get_wasm);
    let fresh = query_cost(
        &testkit_wasm(),
        &Payload::postcard(
            codec::encode(Encoding::Postcard, &testkit_applier::Query::Get { key: "x".into() }).unwrap(),
        ),
    );

    // Host-side pieces, timed alone on the same kind of state.
    let state =
        StateMap::from_entries((0..KEYS).map(|k| (Bytes::from(format!("key-{k:05}")), Bytes::from(vec![b'v'; VALUE]))));
    let command = codec::encode(Encoding::Postcard, &kv_put(&mut Rng(1))).unwrap();
    let decode = time(|_| {
        for _ in 0..BATCH {
            std::hint::black_box(codec::decode::<Command>(Encoding::Postcard, std::hint::black_box(&command)).unwrap());
        }
    });
    let value = vec![b'w'; VALUE];
    let staging = time(|round| {
        for i in 0..BATCH {
            let key = format!("key-{:05}", (i + round) as u64 % KEYS);
            let mut txn = Txn::new(state.clone());
            std::hint::black_box(txn.get(key.as_bytes()));

            // As the imports hand them over: owned buffers copied out of guest memory.
            txn.put(key.into_bytes(), value.clone()).unwrap();
            std::hint::black_box(txn.into_writes());
        }
    });
    let mut committed = state.clone();
    let commit = time(|round| {
        for i in 0..BATCH {
            let key = Bytes::from(format!("key-{:05}", (i + round) as u64 % KEYS));
            committed.commit(WriteSet::from([(key, Some(Bytes::from(value.clone())))]));
        }
    });

    let reset = fresh.median / wasmraft::runtime::RESET_INTERVAL as f64;
    let parts = [
        ("the call: meta and payload across, enter and leave", noop_wasm.median - noop_native.median),
        ("2 host imports (get, put), boundary only", 2.0 * (get_wasm.median - get_native.median)),
        ("staging: txn, get, put (host side)", staging.median),
        ("commit: map insert and digest", commit.median),
        ("instance reset, 1 per 1024 entries", reset),
    ];
    println!("\nwhere a wasm KV put goes ({:.0} ns; native {:.0} ns):", put_wasm.median, put_native.median);
    let mut accounted = 0.0;
    for (what, ns) in parts {
        println!("  {what:<52} {ns:>7.0} ns");
        accounted += ns;
    }
    println!("  {:<52} {:>7.0} ns", "guest code: decode, logic, encode (in wasm)", put_wasm.median - accounted);
    println!("  (decoding the same command natively: {:.0} ns)", decode.median);
    println!("\nfresh instance + query call (testkit): {fresh}");
}
