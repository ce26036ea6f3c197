//! Rough timings, not run by default (no timed assertions):
//! `cargo test -p dss-geo --release --test timing -- --ignored --nocapture`

use std::hint::black_box;
use std::time::Instant;

use dss_geo::{LatLng, cover_circle, cover_polygon};

fn ll(lat: f64, lng: f64) -> LatLng {
    LatLng { lat, lng }
}

fn time(what: &str, iterations: u32, mut f: impl FnMut() -> usize) {
    let cells = f();
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    let per_call = start.elapsed() / iterations;
    eprintln!("{what}: {cells} cells, {per_call:?} per covering");
}

#[test]
#[ignore = "timing only"]
fn timings() {
    // ~2460 km², an irregular hexagon.
    let big = [ll(45.0, 9.74), ll(44.87, 10.05), ll(45.0, 10.42), ll(45.38, 10.38), ll(45.41, 10.0), ll(45.24, 9.76)];
    let km1 = [ll(47.0, 8.0), ll(47.0, 8.013), ll(47.009, 8.013), ll(47.009, 8.0)];
    // Along the equator, which is a cell boundary: exact arithmetic decides.
    let line = [ll(0.0, 10.0), ll(0.0, 10.5), ll(0.0, 11.0)];
    let meridian = [ll(10.0, 10.0), ll(10.5, 10.0), ll(11.0, 10.0)];
    eprintln!("area {:?}", dss_geo::polygon_area_km2(&big));
    time("2500 km² polygon", 200, || cover_polygon(&big).unwrap().len());
    time("1 km² polygon", 20_000, || cover_polygon(&km1).unwrap().len());
    time("1 km circle", 20_000, || cover_circle(ll(40.7, -74.0), 1000.0).unwrap().len());
    time("28 km radius circle", 200, || cover_circle(ll(40.7, -74.0), 28_000.0).unwrap().len());
    // Refused before any covering (over 50 km), unlike in the DSS.
    time("1000 km radius circle", 3, || cover_circle(ll(40.7, -74.0), 1_000_000.0).map_or(0, |c| c.len()));
    time("110 km collinear polygon on the equator", 200, || cover_polygon(&line).unwrap().len());
    time("110 km collinear polygon on a meridian", 200, || cover_polygon(&meridian).unwrap().len());
}
