//! Guards for the crate's promise that native and wasm builds compute the same
//! cells: no std transcendental functions in the sources, and golden values
//! that any target must reproduce. To compare targets, build the tests with
//! `cargo test -p dss-geo --target wasm32-wasip2 --no-run` and run the test
//! binaries with a component runner (e.g. `wasmtime`, or `jco run` on Node).

use std::fs;
use std::path::Path;

use dss_geo::{LatLng, cover_circle, cover_polygon, polygon_area_km2};

/// std `f64` methods whose results may differ between platforms (they call the
/// platform's libm natively), plus `mul_add`, which rounds differently from
/// `a * b + c`. Hash maps are banned so that no iteration order reaches a result.
const FORBIDDEN: &[&str] = &[
    ".sin(",
    ".cos(",
    ".tan(",
    ".asin(",
    ".acos(",
    ".atan(",
    ".atan2(",
    ".sin_cos(",
    ".sinh(",
    ".cosh(",
    ".tanh(",
    ".asinh(",
    ".acosh(",
    ".atanh(",
    ".exp(",
    ".exp2(",
    ".exp_m1(",
    ".ln(",
    ".log(",
    ".log2(",
    ".log10(",
    ".ln_1p(",
    ".powi(",
    ".powf(",
    ".hypot(",
    ".cbrt(",
    ".mul_add(",
    ".to_radians(",
    ".to_degrees(",
    "HashMap",
    "HashSet",
    "unsafe ",
];

#[test]
#[cfg_attr(target_family = "wasm", ignore = "the sources are not readable from a wasm sandbox")]
fn sources_use_only_libm_for_transcendental_functions() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for pattern in FORBIDDEN {
                assert!(!code.contains(pattern), "{}:{}: uses `{pattern}`: {line}", path.display(), n + 1);
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} source files found");
}

/// FNV-1a over the ids, to pin a whole covering in one number.
fn fingerprint(cells: &[u64]) -> u64 {
    cells
        .iter()
        .flat_map(|c| c.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn ll(lat: f64, lng: f64) -> LatLng {
    LatLng { lat, lng }
}

#[test]
fn golden_coverings() {
    let polygon = [ll(47.0, 8.0), ll(46.95, 8.3), ll(47.2, 8.45), ll(47.31, 8.1), ll(47.12, 7.9)];
    let cells = cover_polygon(&polygon).unwrap();
    assert_eq!((cells.len(), fingerprint(&cells)), (1146, 15_209_128_025_045_705_646));
    // 1030.6861643380203 km², to the last bit.
    assert_eq!(polygon_area_km2(&polygon).unwrap().to_bits(), 0x4090_1abe_a1dd_3dea);

    let polar = [ll(89.9, 0.0), ll(89.9, 90.0), ll(89.9, 180.0), ll(89.9, -90.0)];
    let cells = cover_polygon(&polar).unwrap();
    assert_eq!((cells.len(), fingerprint(&cells)), (264, 13_918_723_619_303_767_709));

    let circle = cover_circle(ll(-33.8688, 151.2093), 3210.5).unwrap();
    assert_eq!((circle.len(), fingerprint(&circle)), (36, 14_114_138_747_259_674_077));

    let antimeridian = cover_circle(ll(-16.5, 179.999), 2500.0).unwrap();
    assert_eq!((antimeridian.len(), fingerprint(&antimeridian)), (23, 16_559_684_425_859_378_020));
}
