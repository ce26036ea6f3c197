//! Remote ID over HTTP on the whole DSS (scd and rid hosted side by side) on a local 3-node
//! cluster (real processes, loopback, fsync on, real RS256 tokens), in a city as USS
//! clients load it:
//! - 20 display providers, each with a subscription over its ~1 km² view of the city;
//! - 50 service providers announce their flights: identification service areas of ~300 m
//!   squares at random places in a ~6 km × 6 km city, an hour long (every write notifies
//!   the subscriptions whose cells it touches, as the reference does);
//! - display providers search their views for identification service areas, as they poll
//!   while a user watches the map.
//!
//! Then the reference's heavy-traffic case: a burst of 100 ISAs at once over one ~1 km²
//! spot that all 20 display providers watch. Half of each goes through F3411 v1
//! (`/v1/dss`), half through v2 (`/rid/v2/dss`): one store.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p wasmraft-tests --bench rid`);
//! `WASMRAFT_BENCH_DELAY=16.5,7.5` puts the reference's netem delay between the nodes
//! (`cargo xtask bench-delay` runs it so).

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use wasmraft_tests::Rng;
use wasmraft_tests::cluster::Cluster;
use wasmraft_tests::delay::{self, Delay, DelayedCluster};
use wasmraft_tests::http::{auth_flags, now_secs, rfc3339, token};
use wasmraft_tests::load::{Request, drive, ms, report, report_by_role};

const CLIENTS: usize = 64;
const DISPLAY_PROVIDERS: usize = 20;
const SERVICE_PROVIDERS: usize = 50;
const ISAS: usize = 2_000;
const SEARCHES: usize = 4_000;
/// ISAs written at once over one spot, as in the reference's heavy-traffic case.
const BURST: usize = 100;
/// The city's south-west corner and size (degrees), and the sides of a view and of an area.
const CITY: (f64, f64) = (47.35, 8.50);
const CITY_SIZE: (f64, f64) = (0.054, 0.080);
const VIEW: (f64, f64) = (0.009, 0.013);
const ISA_SIDE: (f64, f64) = (0.0027, 0.004);

/// A square of `side` at a random place in the city.
fn square(rng: &mut Rng, side: (f64, f64)) -> Vec<(f64, f64)> {
    let fraction = |rng: &mut Rng| rng.below(1_000_000) as f64 / 1e6;
    let lat = CITY.0 + fraction(rng) * (CITY_SIZE.0 - side.0);
    let lng = CITY.1 + fraction(rng) * (CITY_SIZE.1 - side.1);
    vec![(lat, lng), (lat, lng + side.1), (lat + side.0, lng + side.1), (lat + side.0, lng)]
}

fn area(square: &[(f64, f64)]) -> String {
    square.iter().map(|(lat, lng)| format!("{lat:.6},{lng:.6}")).collect::<Vec<_>>().join(",")
}

/// Extents over `square` from `start` to `end`, as version 1 (`v2` false) or 2 writes them.
fn extents(square: &[(f64, f64)], v2: bool, start: u64, end: u64) -> Value {
    let vertices: Vec<Value> = square.iter().map(|(lat, lng)| json!({"lat": lat, "lng": lng})).collect();
    if !v2 {
        return json!({
            "spatial_volume": {"footprint": {"vertices": vertices}, "altitude_lo": 0.0, "altitude_hi": 120.0},
            "time_start": rfc3339(start),
            "time_end": rfc3339(end)
        });
    }
    let altitude = |v: u32| json!({"value": v, "reference": "W84", "units": "M"});
    let time = |t: u64| json!({"value": rfc3339(t), "format": "RFC3339"});
    json!({
        "volume": {"outline_polygon": {"vertices": vertices}, "altitude_lower": altitude(0), "altitude_upper": altitude(120)},
        "time_start": time(start),
        "time_end": time(end)
    })
}

fn prefix(v2: bool) -> &'static str {
    if v2 { "/rid/v2/dss" } else { "/v1/dss" }
}

fn isa(n: usize, square: &[(f64, f64)], start: u64, end: u64) -> Request {
    let v2 = n % 2 == 1;
    let mut body = json!({"extents": extents(square, v2, start, end)});
    match v2 {
        true => body["uss_base_url"] = json!(format!("https://sp{}.test", n % SERVICE_PROVIDERS)),
        false => body["flights_url"] = json!(format!("https://sp{}.test/flights", n % SERVICE_PROVIDERS)),
    }
    ("PUT", format!("{}/identification_service_areas/{}", prefix(v2), id(n)), Some(body))
}

fn id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", 0x51d0_0000 | (i >> 16), i)
}

/// Tokens of `owners` USSs, named `{who}{n}`, with every RID scope.
fn tokens(who: &str, owners: usize) -> Arc<Vec<String>> {
    let scopes = [
        "dss.read.identification_service_areas",
        "dss.write.identification_service_areas",
        "rid.display_provider",
        "rid.service_provider",
    ];
    Arc::new((0..owners).map(|n| token(&format!("{who}{n}"), &scopes)).collect())
}

/// `DISPLAY_PROVIDERS` subscriptions, one per display provider (ids from `first`), over
/// `view(i)`, half through each version.
async fn subscribe(
    cluster: &Cluster,
    dps: &Arc<Vec<String>>,
    first: usize,
    view: impl Fn(usize) -> Vec<(f64, f64)> + Send + Sync + 'static,
    (start, end): (u64, u64),
) {
    let tokens = dps.clone();
    let (latencies, elapsed) = drive(
        cluster,
        DISPLAY_PROVIDERS,
        move |i| tokens[i].clone(),
        DISPLAY_PROVIDERS,
        200,
        move |i| {
            let v2 = i % 2 == 1;
            let extents = extents(&view(i), v2, start, end);
            let body = match v2 {
                true => json!({"extents": extents, "uss_base_url": format!("https://dp{i}.test")}),
                false => json!({"extents": extents,
                    "callbacks": {"identification_service_area_url": format!("https://dp{i}.test/isa")}}),
            };
            ("PUT", format!("{}/subscriptions/{}", prefix(v2), id(first + i)), Some(body))
        },
    )
    .await;
    report(&format!("  subscription creates ({DISPLAY_PROVIDERS})"), times(latencies), elapsed);
}

fn times(tagged: Vec<(u64, Duration)>) -> Vec<Duration> {
    tagged.into_iter().map(|(_, d)| d).collect()
}

/// `count` ISAs (ids from `first`) over `square(i)` from `CLIENTS` clients, as the service
/// providers write them.
async fn write_isas(
    cluster: &Cluster,
    sps: &Arc<Vec<String>>,
    first: usize,
    count: usize,
    square: impl Fn(usize) -> Vec<(f64, f64)> + Send + Sync + 'static,
    (start, end): (u64, u64),
    leader: Option<u64>,
) {
    let tokens = sps.clone();
    let (latencies, elapsed) = drive(
        cluster,
        CLIENTS.min(count),
        move |i| tokens[i % SERVICE_PROVIDERS].clone(),
        count,
        200,
        move |i| isa(first + i, &square(i), start, end),
    )
    .await;
    if let Some(leader) = leader {
        report_by_role(leader, &latencies);
    }
    report(&format!("  ISA creates ({count})"), times(latencies), elapsed);
}

/// `SEARCHES` searches of `view(i)` by the display providers.
async fn search(
    cluster: &Cluster,
    dps: &Arc<Vec<String>>,
    view: impl Fn(usize) -> Vec<(f64, f64)> + Send + Sync + 'static,
    leader: Option<u64>,
) {
    let tokens = dps.clone();
    let (latencies, elapsed) = drive(
        cluster,
        CLIENTS,
        move |i| tokens[i % DISPLAY_PROVIDERS].clone(),
        SEARCHES,
        200,
        move |i| ("GET", format!("{}/identification_service_areas?area={}", prefix(i % 2 == 1), area(&view(i))), None),
    )
    .await;
    if let Some(leader) = leader {
        report_by_role(leader, &latencies);
    }
    report("  ISA searches of a view", times(latencies), elapsed);
}

async fn bench(delay: Option<Delay>) {
    let mut flags = auth_flags();
    flags.push("--allow-http-base-urls".into());
    let DelayedCluster { cluster, proxy: _proxy, .. } =
        delay::start_cluster(delay, &["scd", "rid"], &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let leader = cluster.leader(Duration::from_secs(if delay.is_some() { 30 } else { 10 })).await;
    let by_role = delay.map(|_| leader);
    let (dps, sps) = (tokens("dp", DISPLAY_PROVIDERS), tokens("sp", SERVICE_PROVIDERS));
    let window = (now_secs() + 60, now_secs() + 3600);
    let mut rng = Rng(0x51d);
    let views: Arc<Vec<_>> = Arc::new((0..DISPLAY_PROVIDERS).map(|_| square(&mut rng, VIEW)).collect());
    let squares: Arc<Vec<_>> = Arc::new((0..ISAS).map(|_| square(&mut rng, ISA_SIDE)).collect());
    match delay {
        None => println!(
            "RID over HTTP on the whole DSS (scd + rid), 3 nodes, {CLIENTS} clients over all nodes, half v1 and half v2:"
        ),
        Some(d) => println!(
            "RID over HTTP on the whole DSS (scd + rid), 3 nodes {:.1} ± {:.1} ms apart one way (a userspace delay \
             proxy standing in for netem), {CLIENTS} clients over all nodes (no delay to them), half v1 and half v2:",
            ms(d.mean),
            ms(d.jitter)
        ),
    }

    println!(
        "(a) a 6 km × 6 km city: {DISPLAY_PROVIDERS} display providers' views (~1 km²), {ISAS} ISAs of ~300 m × 300 m:"
    );
    let v = views.clone();
    subscribe(&cluster, &dps, ISAS, move |i| v[i].clone(), window).await;
    let s = squares.clone();
    write_isas(&cluster, &sps, 0, ISAS, move |i| s[i].clone(), window, by_role).await;
    search(&cluster, &dps, move |i| views[i % DISPLAY_PROVIDERS].clone(), by_role).await;

    // The reference's heavy-traffic case: a burst of ISAs at once in one small area that
    // several display providers watch (each write notifies every subscription).
    println!("(b) a burst of {BURST} ISAs at once over one ~1 km² spot, {DISPLAY_PROVIDERS} subscriptions on it:");
    let mut rng = Rng(0xb0257);
    let spot = square(&mut rng, VIEW);
    let first = ISAS + DISPLAY_PROVIDERS;
    let watched = spot.clone();
    subscribe(&cluster, &dps, first, move |_| watched.clone(), window).await;
    let written = spot.clone();
    write_isas(&cluster, &sps, first + DISPLAY_PROVIDERS, BURST, move |_| written.clone(), window, by_role).await;
    search(&cluster, &dps, move |_| spot.clone(), by_role).await;

    let applied = cluster.status(leader).await.expect("status").applied_index;
    cluster.converged(applied, Duration::from_secs(30)).await;
}

fn main() {
    delay::bench_main(bench);
}
