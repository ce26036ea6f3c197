//! Per-entry apply cost of the SCD applier, wasm (scd.wasm) against native (the same crate
//! compiled for the host), through `Runtime::apply` as a node runs it. Commands are made by
//! the applier's own `handle` from HTTP requests, as the node that takes a request does.
//! Run with `cargo xtask bench` (after `cargo xtask appliers`).
//!
//! - OIR create, empty area: each intent in a ~1 km² square of its own.
//! - OIR create in a congested area: every intent on the same ~1 km² square (6 cells), each
//!   in an altitude band of its own, with `PREFILL` intents there before the first timed
//!   round; all in the same window, or staggered in time (20-minute flights, one every 15 s).
//! - A query there of one intent's band and window (a query runs on a fresh instance, as a
//!   node answers it; ns per query).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use scd_applier::{Command, Query, Scd};
use serde_json::{Value, json};
use wasmraft::runtime::{Limits, NativeBackend, Runtime};
use wasmraft_sdk::contract::{Caller, Encoding, Meta, Payload};
use wasmraft_sdk::http::{Handled, Request};
use wasmraft_sdk::{Applier, Timestamp, codec};
use wasmraft_tests::bench::{self, Stats};
use wasmraft_tests::{Rng, meta, wasm_runtime};

const ROUNDS: usize = 5;
const BATCH: usize = 2_000;
const PREFILL: usize = 2_000;
const QUERIES: usize = 200;
/// 2030-01-01T00:00:00Z, the entries' clock.
const T0: u64 = 1_893_456_000 * 1_000_000_000;
const SC: &str = "utm.strategic_coordination";

fn rfc3339(ns: u64) -> String {
    wasmraft_tests::http::rfc3339(ns / 1_000_000_000)
}

/// A 4D volume over a ~1 km² square at (lat, lng), in altitude band `band`, from `from` to
/// `to` ns after T0.
fn volume(lat: f64, lng: f64, band: usize, (from, to): (u64, u64)) -> Value {
    let (size, lower) = (0.009, band as f64 * 2.0);
    json!({
        "volume": {
            "outline_polygon": {"vertices": [
                {"lat": lat, "lng": lng}, {"lat": lat + size, "lng": lng},
                {"lat": lat + size, "lng": lng + size}, {"lat": lat, "lng": lng + size}
            ]},
            "altitude_lower": {"value": lower, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": lower + 1.0, "reference": "W84", "units": "M"}
        },
        "time_start": {"value": rfc3339(T0 + from), "format": "RFC3339"},
        "time_end": {"value": rfc3339(T0 + to), "format": "RFC3339"}
    })
}

const MINUTE: u64 = 60_000_000_000;
/// From 10 minutes to 3 hours after T0.
const SAME_WINDOW: (u64, u64) = (10 * MINUTE, 180 * MINUTE);

/// Flight `i` of a busy spot: 20 minutes long, one taking off every 15 seconds.
fn staggered_window(i: usize) -> (u64, u64) {
    let start = 10 * MINUTE + i as u64 * MINUTE / 4;
    (start, start + 20 * MINUTE)
}

fn id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i >> 16, i)
}

/// What the node that took the request would propose or read, postcard-encoded.
fn handled(request: Request) -> Payload {
    let request = request.with_caller("uss1", &[SC]).with_time(Timestamp(T0));
    let bytes = match <Scd as Applier>::handle(request) {
        Handled::Propose(command) => codec::encode::<Command>(Encoding::Postcard, &command),
        Handled::Read(query) => codec::encode::<Query>(Encoding::Postcard, &query),
        Handled::Respond(response) => {
            panic!("refused at handle: {} {:?}", response.status, String::from_utf8_lossy(&response.body))
        }
    };
    Payload { encoding: Encoding::Postcard, bytes: bytes.expect("encodes") }
}

fn create(i: usize, volume: Value) -> Payload {
    let body = json!({"extents": [volume], "state": "Accepted", "uss_base_url": "https://uss1.test"});
    handled(
        Request::new("PUT", &format!("/dss/v1/operational_intent_references/{}", id(i))).with_body(body.to_string()),
    )
}

/// The caller `handled` names; `apply` checks its scopes again.
fn uss1() -> Caller {
    Caller { subject: "uss1".into(), scopes: vec![SC.into()] }
}

/// Entry `i` (numbered across rounds) and its meta.
fn entry(i: usize, rng: &mut Rng, command: Payload) -> (Meta, Payload) {
    let index = i as u64 + 1;
    (Meta { caller: Some(uss1()), ..meta(index, T0 + index * 1_000, rng) }, command)
}

/// Create `i` in a square of its own, 0.03° (~3 km) from the next: no two share a cell.
fn spread(i: usize) -> Payload {
    let (row, col) = (i / 1_000, i % 1_000);
    create(i, volume(40.0 + row as f64 * 0.03, col as f64 * 0.03, 0, SAME_WINDOW))
}

const CONGESTED: (f64, f64) = (46.520, 6.560);

/// Every intent on the same square at the same time, each in its own altitude band: the
/// index's worst case (its keys are ordered by time, so a search reads all the cells' keys).
fn congested(i: usize) -> Payload {
    create(i, volume(CONGESTED.0, CONGESTED.1, i, SAME_WINDOW))
}

/// Every intent on the same square, staggered in time, each in its own band.
fn busy_spot(i: usize) -> Payload {
    create(i, volume(CONGESTED.0, CONGESTED.1, i, staggered_window(i)))
}

/// ns per entry of applying `BATCH` entries of `make` per round, after `first` entries.
fn apply_cost(runtime: &mut Runtime, first: usize, make: impl Fn(usize) -> Payload) -> Stats {
    let mut rng = Rng(7);
    let batches: Vec<Vec<_>> = (0..=ROUNDS)
        .map(|round| (0..BATCH).map(|k| first + round * BATCH + k).map(|i| entry(i, &mut rng, make(i))).collect())
        .collect();
    let mut batches = batches.into_iter();
    bench::time(ROUNDS, BATCH, |_| {
        for (m, p) in batches.next().expect("a batch per round") {
            runtime.apply(m, p).expect("no host failure").expect("created");
        }
    })
}

fn prefill(runtime: &mut Runtime, make: impl Fn(usize) -> Payload) {
    let mut rng = Rng(3);
    for i in 0..PREFILL {
        let (m, p) = entry(i, &mut rng, make(i));
        runtime.apply(m, p).expect("no host failure").expect("created");
    }
}

fn query_cost(runtime: &Runtime, band: usize, window: (u64, u64)) -> Stats {
    let body = json!({"area_of_interest": volume(CONGESTED.0, CONGESTED.1, band, window)});
    let query =
        handled(Request::new("POST", "/dss/v1/operational_intent_references/query").with_body(body.to_string()));
    let caller = uss1();
    bench::time(ROUNDS, QUERIES, |_| {
        for _ in 0..QUERIES {
            runtime.query(Some(caller.clone()), T0, query.clone()).expect("no host failure").expect("answered");
        }
    })
}

fn native() -> Runtime {
    Runtime::new(Box::new(NativeBackend::<Scd>::default()))
}

fn wasm() -> Runtime {
    wasm_runtime("scd", Limits::default())
}

fn row(what: &str, native: Stats, wasm: Stats) {
    println!("{what:<46} {native}   {wasm}   {:>5.2}x", wasm.median / native.median);
}

fn main() {
    println!("SCD apply benchmark: ns per entry, median (min–max) of {ROUNDS} rounds of {BATCH}\n");
    println!("{:<46} {:<30} {:<30} wasm/native", "", "native", "wasm");
    row("OIR create, empty area", apply_cost(&mut native(), 0, spread), apply_cost(&mut wasm(), 0, spread));

    let total = PREFILL + (ROUNDS + 1) * BATCH;
    /// A congested area: how to make intent `i`, and its window.
    type Case = (&'static str, fn(usize) -> Payload, fn(usize) -> (u64, u64));
    let cases: [Case; 2] = [
        ("same window, own bands", congested, |_| SAME_WINDOW),
        ("staggered windows, own bands", busy_spot, staggered_window),
    ];
    for (what, make, window) in cases {
        let (mut n, mut w) = (native(), wasm());
        prefill(&mut n, make);
        prefill(&mut w, make);
        println!("one ~1 km² square, {what} ({PREFILL} intents, then {total}):");
        row("  OIR create", apply_cost(&mut n, PREFILL, make), apply_cost(&mut w, PREFILL, make));
        let band = total / 2;
        row(
            "  query of one intent's band and window",
            query_cost(&n, band, window(band)),
            query_cost(&w, band, window(band)),
        );
    }
}
