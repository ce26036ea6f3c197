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
//! - The busy cell (`wasmraft_tests::busy_cell`): `CLIENTS` clients in turn, each keeping its
//!   own key, one create per millisecond of entry time (1,000 writes/s), `WASMRAFT_BUSY_WRITES`
//!   of them (100,000 unless set); µs per entry by block, native and wasm fed the same
//!   entries and giving the same outcomes, with wasm's µs per create and per 409, the share
//!   of 409s, the clients' mean key length, the subscriptions a create notified on average
//!   and wasm's µs to render a create's response (`render`, on the node that took the
//!   request). Only with the argument
//!   `busy-cell` (`cargo xtask bench-busy-apply [WRITES]`), alone: it runs for minutes.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use scd_applier::{AirspaceConflict, MISSING_OVNS, Output, Scd};
use serde_json::{Value, json};
use wasmraft::runtime::{Limits, NativeBackend, OutsideCall, Runtime};
use wasmraft_sdk::contract::{ApplierError, Caller, Encoding, HttpOutcome, Meta, Payload};
use wasmraft_sdk::http::Request;
use wasmraft_sdk::{Timestamp, codec};
use wasmraft_tests::apply_bench::{self, BATCH, ROUNDS, T0, entry, row};
use wasmraft_tests::bench::{self, Stats};
use wasmraft_tests::{Rng, busy_cell, meta, wasm_runtime};

const PREFILL: usize = 2_000;
const QUERIES: usize = 200;
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
    handled_at(request, T0)
}

fn handled_at(request: Request, now: u64) -> Payload {
    apply_bench::handled::<Scd>(request.with_caller("uss1", &[SC]).with_time(Timestamp(now)))
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

/// ns per entry of applying `BATCH` creates of `make` by uss1 per round, after `first`.
fn apply_cost(runtime: &mut Runtime, first: usize, make: fn(usize) -> Payload) -> Stats {
    apply_bench::apply_cost(runtime, first, |i| (make(i), uss1()))
}

fn prefill(runtime: &mut Runtime, make: impl Fn(usize) -> Payload) {
    let mut rng = Rng(3);
    for i in 0..PREFILL {
        let (m, p) = entry(i, &mut rng, make(i), uss1());
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

const CLIENTS: usize = 64;
/// Writes per reported block of the busy cell.
const BLOCK: usize = 10_000;

/// One busy-cell client: its generator and every OVN it has received.
struct Client {
    rng: Rng,
    key: Vec<String>,
}

/// What a create's outcome gave its client: the subscriptions it notified and its OVN,
/// or (`None`) the OVNs a 409 named.
/// Whether `outcome` is a create, and the OVNs its client learns from it.
fn received(outcome: &Result<Vec<u8>, ApplierError>) -> (bool, Vec<String>) {
    match outcome {
        Ok(bytes) => match codec::decode::<Output>(Encoding::Postcard, bytes).expect("an output") {
            Output::OirChanged { oir, .. } | Output::OirChangedNotifying { oir, .. } => (true, vec![oir.ovn]),
            other => panic!("not a create: {other:?}"),
        },
        Err(e) if e.code == MISSING_OVNS => {
            let body = e.body.as_deref().expect("a conflict lists what is missing");
            let conflict: AirspaceConflict = codec::decode(Encoding::Postcard, body).expect("a conflict");
            (false, conflict.missing_oirs.into_iter().map(|o| o.ovn).collect())
        }
        Err(e) => panic!("refused: {e:?}"),
    }
}

/// The subscriptions a change's response lists.
fn notified_in(body: &[u8]) -> usize {
    let response: Value = serde_json::from_slice(body).expect("a JSON response");
    let subscribers = response["subscribers"].as_array().expect("a list of subscribers");
    subscribers.iter().map(|s| s["subscriptions"].as_array().map_or(0, Vec::len)).sum()
}

/// The busy cell on both runtimes at once; prints a line per `BLOCK` writes.
fn busy_cell(native: &mut Runtime, wasm: &mut Runtime, writes: usize) {
    let mut rng = Rng(11);
    let now_secs = |i: usize| (T0 + i as u64 * 1_000_000) / 1_000_000_000;
    let at = |i: usize| T0 + i as u64 * 1_000_000;
    let subscription = handled_at(
        Request::new("PUT", &format!("/dss/v1/subscriptions/{}", busy_cell::uuid4_hex(&mut rng)))
            .with_body(busy_cell::circle_subscription(now_secs(0)).to_string()),
        at(0),
    );
    let first = entry(0, &mut rng, subscription, uss1());
    native.apply(first.0.clone(), first.1.clone()).expect("no host failure").expect("subscribed");
    wasm.apply(first.0, first.1).expect("no host failure").expect("subscribed");
    let mut clients: Vec<Client> = (0..CLIENTS).map(|c| Client { rng: Rng(100 + c as u64), key: Vec::new() }).collect();
    let time_based = busy_cell::time_based_index();
    let indices = if time_based { "time-based notification indices" } else { "counted notification indices" };
    println!("the busy cell, {CLIENTS} clients, one create per ms of entry time, {indices} (µs per entry):");
    println!(
        "{:<16} {:>9} {:>9} {:>11} {:>12} {:>9} {:>6} {:>9} {:>9} {:>12}",
        "writes",
        "native",
        "wasm",
        "wasm/native",
        "wasm create",
        "wasm 409",
        "409s",
        "key OVNs",
        "notified",
        "wasm render"
    );
    let zero = std::time::Duration::ZERO;
    // Native and wasm's totals, then wasm's on creates and on 409s, then wasm's rendering of
    // the creates' responses (on the node that took the request).
    let (mut spent, mut by_outcome, mut conflicts, mut key_len, mut notified) = ([zero; 2], [zero; 2], 0, 0, 0);
    let (front, mut rendering) = (wasm.front(), zero);
    for i in 1..=writes {
        let client = &mut clients[i % CLIENTS];
        let body = busy_cell::intent(busy_cell::flight(&mut client.rng, now_secs(i)), &client.key);
        let path = format!("/dss/v1/operational_intent_references/{}", busy_cell::uuid4_hex(&mut client.rng));
        let mut request = Request::new("PUT", &path).with_body(body);
        if time_based {
            request = request.with_setting(busy_cell::TIME_BASED_SETTING, "true");
        }
        let command = handled_at(request, at(i));
        let meta = Meta { caller: Some(uss1()), ..meta(i as u64 + 1, at(i), &mut rng) };
        let outcomes = [&mut *native, &mut *wasm].map(|runtime| {
            let t = std::time::Instant::now();
            let outcome = runtime.apply(meta.clone(), command.clone()).expect("no host failure");
            (t.elapsed(), outcome)
        });
        for (k, (took, _)) in outcomes.iter().enumerate() {
            spent[k] += *took;
        }
        assert_eq!(outcomes[0].1, outcomes[1].1, "native and wasm differ at write {i}");
        let (created, ovns) = received(&outcomes[0].1);
        conflicts += usize::from(!created);
        by_outcome[usize::from(!created)] += outcomes[1].0;
        if let (true, Ok(output)) = (created, &outcomes[1].1) {
            // As the node that took the request renders: from the state after the entry.
            let state = wasm.state_of(None).expect("the primary applier");
            let t = std::time::Instant::now();
            let response =
                front.render(OutsideCall::Finish, Encoding::Postcard, HttpOutcome::Applied(output.clone()), state);
            rendering += t.elapsed();
            let response = response.expect("no host failure").expect("rendered");
            assert_eq!(response.status, 201);
            notified += notified_in(&response.body);
        }
        client.key.extend(ovns);
        key_len += client.key.len();
        if i % BLOCK == 0 {
            let [n, w] = spent.map(|d| d.as_secs_f64() * 1e6 / BLOCK as f64);
            let writes = format!("{}-{}", i - BLOCK, i);
            let share = format!("{:.0}%", conflicts as f64 * 100.0 / BLOCK as f64);
            let per_create = notified / (BLOCK - conflicts).max(1);
            let render = rendering.as_secs_f64() * 1e6 / (BLOCK - conflicts).max(1) as f64;
            let [create, conflict] = [(by_outcome[0], BLOCK - conflicts), (by_outcome[1], conflicts)]
                .map(|(d, n)| d.as_secs_f64() * 1e6 / n.max(1) as f64);
            println!(
                "{writes:<16} {n:>9.1} {w:>9.1} {:>10.2}x {create:>12.1} {conflict:>9.1} {share:>6} {:>9} {per_create:>9} {render:>12.1}",
                w / n,
                key_len / BLOCK
            );
            (spent, by_outcome, conflicts, key_len, notified, rendering) = ([zero; 2], [zero; 2], 0, 0, 0, zero);
        }
    }
}

fn native() -> Runtime {
    Runtime::new(Box::new(NativeBackend::<Scd>::default()))
}

fn wasm() -> Runtime {
    wasm_runtime("scd", Limits::default())
}

fn main() {
    wasmraft::process::without_transparent_huge_pages();
    if std::env::args().any(|a| a == "busy-cell") {
        let writes = std::env::var("WASMRAFT_BUSY_WRITES").map_or(100_000, |w| w.parse().expect("a number of writes"));
        return busy_cell(&mut native(), &mut wasm(), writes);
    }
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
