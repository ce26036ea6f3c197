//! Per-entry apply cost of the RID applier, wasm (rid.wasm) against native (the same crate
//! compiled for the host), through `Runtime::apply` as a node runs it. Commands are made by
//! the applier's own `handle` from HTTP requests (v2), as the node that takes a request
//! does. Run with `cargo xtask bench` (after `cargo xtask appliers`).
//!
//! - ISA create, each in a ~1 km² square of its own, no subscriptions there;
//! - ISA create over one ~1 km² spot that `WATCHERS` subscriptions watch (each create
//!   bumps every one of them), with `PREFILL` ISAs there before the first timed round;
//! - a search of that spot (on a fresh instance, as a node answers it; ns per search).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use rid_applier::Rid;
use serde_json::{Value, json};
use wasmraft::runtime::{Limits, NativeBackend, Runtime};
use wasmraft_sdk::Timestamp;
use wasmraft_sdk::contract::{Caller, Payload};
use wasmraft_sdk::http::Request;
use wasmraft_tests::apply_bench::{BATCH, ROUNDS, T0, apply_cost, entry, handled, row};
use wasmraft_tests::bench::{self, Stats};
use wasmraft_tests::{Rng, wasm_runtime};

const PREFILL: usize = 2_000;
const WATCHERS: usize = 20;
const SEARCHES: usize = 20;
const SP: &str = "rid.service_provider";
const DP: &str = "rid.display_provider";
const SPOT: (f64, f64) = (46.520, 6.560);

fn rfc3339(ns: u64) -> Value {
    json!({"value": wasmraft_tests::http::rfc3339(ns / 1_000_000_000), "format": "RFC3339"})
}

fn square(lat: f64, lng: f64) -> Vec<(f64, f64)> {
    let size = 0.009;
    vec![(lat, lng), (lat + size, lng), (lat + size, lng + size), (lat, lng + size)]
}

/// v2 extents over the square at (lat, lng), for the hour after T0.
fn extents(lat: f64, lng: f64) -> Value {
    let vertices: Vec<Value> = square(lat, lng).iter().map(|(a, b)| json!({"lat": a, "lng": b})).collect();
    let altitude = |v: u32| json!({"value": v, "reference": "W84", "units": "M"});
    json!({"volume": {"outline_polygon": {"vertices": vertices}, "altitude_lower": altitude(0), "altitude_upper": altitude(120)},
           "time_start": rfc3339(T0), "time_end": rfc3339(T0 + 3_600_000_000_000)})
}

fn id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i >> 16, i)
}

fn caller(subject: &str, scope: &str) -> Caller {
    Caller { subject: subject.into(), scopes: vec![scope.into()] }
}

/// `request` by `who` with `scope`, as the node that took it at T0 would propose or read it.
fn by(who: &str, scope: &str, request: Request) -> (Payload, Caller) {
    (handled::<Rid>(request.with_caller(who, &[scope]).with_time(Timestamp(T0))), caller(who, scope))
}

fn create_isa(i: usize, (lat, lng): (f64, f64)) -> (Payload, Caller) {
    let body = json!({"extents": extents(lat, lng), "uss_base_url": "https://sp.test"});
    let request = Request::new("PUT", &format!("/rid/v2/dss/identification_service_areas/{}", id(i)));
    by("sp", SP, request.with_body(body.to_string()))
}

/// Watcher `i`'s subscription of the spot; one owner each (an owner may have at most 10
/// subscriptions in a cell).
fn create_subscription(i: usize) -> (Payload, Caller) {
    let body = json!({"extents": extents(SPOT.0, SPOT.1), "uss_base_url": format!("https://dp{i}.test")});
    let request = Request::new("PUT", &format!("/rid/v2/dss/subscriptions/{}", id(1 << 30 | i)));
    by(&format!("dp{i}"), DP, request.with_body(body.to_string()))
}

/// Create `i` in a square of its own, 0.03° (~3 km) from the next: no two share a cell.
fn spread(i: usize) -> (Payload, Caller) {
    let (row, col) = (i / 1_000, i % 1_000);
    create_isa(i, (40.0 + row as f64 * 0.03, col as f64 * 0.03))
}

fn at_the_spot(i: usize) -> (Payload, Caller) {
    create_isa(i, SPOT)
}

/// `WATCHERS` subscriptions on the spot, then `PREFILL` ISAs there.
fn watched_spot(runtime: &mut Runtime) {
    let mut rng = Rng(3);
    let entries = (0..WATCHERS).map(create_subscription).chain((0..PREFILL).map(at_the_spot));
    for (i, (command, caller)) in entries.enumerate() {
        let (m, p) = entry(i, &mut rng, command, caller);
        runtime.apply(m, p).expect("no host failure").expect("created");
    }
}

fn search_cost(runtime: &Runtime) -> Stats {
    let area: Vec<String> = square(SPOT.0, SPOT.1).iter().map(|(a, b)| format!("{a},{b}")).collect();
    let request =
        Request::new("GET", "/rid/v2/dss/identification_service_areas").with_query(&format!("area={}", area.join(",")));
    let (query, caller) = by("dp", DP, request);
    bench::time(ROUNDS, SEARCHES, |_| {
        for _ in 0..SEARCHES {
            runtime.query(Some(caller.clone()), T0, query.clone()).expect("no host failure").expect("answered");
        }
    })
}

fn native() -> Runtime {
    Runtime::new(Box::new(NativeBackend::<Rid>::default()))
}

fn wasm() -> Runtime {
    wasm_runtime("rid", Limits::default())
}

fn main() {
    wasmraft::process::without_transparent_huge_pages();
    println!("RID apply benchmark: ns per entry, median (min–max) of {ROUNDS} rounds of {BATCH}\n");
    println!("{:<46} {:<30} {:<30} wasm/native", "", "native", "wasm");
    row("ISA create, empty area", apply_cost(&mut native(), 0, spread), apply_cost(&mut wasm(), 0, spread));
    let (mut n, mut w) = (native(), wasm());
    watched_spot(&mut n);
    watched_spot(&mut w);
    let first = WATCHERS + PREFILL;
    println!(
        "one ~1 km² spot, {WATCHERS} subscriptions on it ({PREFILL} ISAs, then {}):",
        first + (ROUNDS + 1) * BATCH
    );
    row(
        &format!("  ISA create (notifies {WATCHERS})"),
        apply_cost(&mut n, first, at_the_spot),
        apply_cost(&mut w, first, at_the_spot),
    );
    row("  search of the spot (ns per search)", search_cost(&n), search_cost(&w));
}
