//! The apply benchmarks' common steps (`benches/dss_apply.rs`, `benches/rid_apply.rs`): a
//! request made into what its applier's `handle` would propose or read, entries timed
//! through `Runtime::apply` as a node runs them, and the rows they print.

use crate::bench::{self, Stats};
use crate::{Rng, meta};
use wasmraft::runtime::Runtime;
use wasmraft_sdk::contract::{Caller, Encoding, Meta, Payload};
use wasmraft_sdk::http::{Handled, Request};
use wasmraft_sdk::{Applier, codec};

/// Rounds of each figure (after a warm-up round), and entries per round.
pub const ROUNDS: usize = 5;
pub const BATCH: usize = 2_000;
/// 2030-01-01T00:00:00Z, the entries' clock.
pub const T0: u64 = 1_893_456_000 * 1_000_000_000;

/// What the node that took `request` would propose or read, postcard-encoded; a request
/// `handle` answers itself is a mistake of the benchmark.
pub fn handled<A: Applier>(request: Request) -> Payload {
    let bytes = match A::handle(request) {
        Handled::Propose(command) => codec::encode::<A::Command>(Encoding::Postcard, &command),
        Handled::Read(query) => codec::encode::<A::Query>(Encoding::Postcard, &query),
        Handled::Respond(response) => {
            panic!("refused at handle: {} {:?}", response.status, String::from_utf8_lossy(&response.body))
        }
    };
    Payload { encoding: Encoding::Postcard, bytes: bytes.expect("encodes") }
}

/// Entry `i` (numbered across rounds, a microsecond apart) of `command` by `caller`.
pub fn entry(i: usize, rng: &mut Rng, command: Payload, caller: Caller) -> (Meta, Payload) {
    let index = i as u64 + 1;
    (Meta { caller: Some(caller), ..meta(index, T0 + index * 1_000, rng) }, command)
}

/// ns per entry of applying `BATCH` entries of `make` per round, after `first` entries.
pub fn apply_cost(runtime: &mut Runtime, first: usize, make: impl Fn(usize) -> (Payload, Caller)) -> Stats {
    let mut rng = Rng(7);
    let batches: Vec<Vec<_>> = (0..=ROUNDS)
        .map(|round| {
            (0..BATCH)
                .map(|k| first + round * BATCH + k)
                .map(|i| {
                    let (command, caller) = make(i);
                    entry(i, &mut rng, command, caller)
                })
                .collect()
        })
        .collect();
    let mut batches = batches.into_iter();
    bench::time(ROUNDS, BATCH, |_| {
        for (m, p) in batches.next().expect("a batch per round") {
            runtime.apply(m, p).expect("no host failure").expect("applied");
        }
    })
}

/// One figure, native against wasm.
pub fn row(what: &str, native: Stats, wasm: Stats) {
    println!("{what:<46} {native}   {wasm}   {:>5.2}x", wasm.median / native.median);
}
