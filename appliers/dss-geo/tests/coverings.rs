//! Properties of the coverings, through the public API only.

use core::f64::consts::PI;

use dss_geo::{
    LEVEL, LatLng, cell_id_from_latlng, contains_all, cover_circle, cover_polygon, intersects, is_level13,
    polygon_area_km2, union,
};

fn ll(lat: f64, lng: f64) -> LatLng {
    LatLng { lat, lng }
}

/// Great-circle distance in meters, on the DSS's Earth radius.
fn distance_m(a: LatLng, b: LatLng) -> f64 {
    let rad = PI / 180.0;
    let (dlat, dlng) = ((b.lat - a.lat) * rad, (b.lng - a.lng) * rad);
    let h = libm::sin(dlat / 2.0) * libm::sin(dlat / 2.0)
        + libm::cos(a.lat * rad) * libm::cos(b.lat * rad) * libm::sin(dlng / 2.0) * libm::sin(dlng / 2.0);
    2.0 * 6_371_010.0 * libm::asin(h.sqrt())
}

/// The sorted cells of the points of a grid (`step_m` apart) within
/// `radius_m` of `center`.
fn grid_cells(center: LatLng, radius_m: f64, step_m: f64) -> Vec<u64> {
    let dlat = step_m / 6_371_010.0 * 180.0 / PI;
    let dlng = dlat / libm::cos(center.lat * PI / 180.0);
    // Truncation of a small positive count.
    #[allow(clippy::cast_possible_truncation)]
    let k = (radius_m / step_m).ceil() as i32 + 1;
    let mut cells: Vec<u64> = (-k..=k)
        .flat_map(|a| (-k..=k).map(move |b| ll(center.lat + f64::from(a) * dlat, center.lng + f64::from(b) * dlng)))
        .filter(|p| distance_m(center, *p) <= radius_m)
        .map(cell_id_from_latlng)
        .collect();
    cells.sort_unstable();
    cells.dedup();
    cells
}

fn assert_sorted_level13(cells: &[u64]) {
    assert!(cells.windows(2).all(|w| w[0] < w[1]), "not sorted and deduplicated");
    assert!(cells.iter().all(|&c| is_level13(c)));
}

#[test]
fn cell_ids_of_known_points() {
    // lat/lng (0, 0) is the center of face 0; its leaf cell is 0x1000000000000001
    // (the first leaf of the third quarter of face 0's Hilbert curve), whose
    // level-13 ancestor keeps the top 3 + 26 bits and sets bit 34.
    assert_eq!(cell_id_from_latlng(ll(0.0, 0.0)), 0x1000_0004_0000_0000);
    // The north pole is the center of face 2.
    assert_eq!(cell_id_from_latlng(ll(90.0, 0.0)) >> 61, 2);
    assert_eq!(cell_id_from_latlng(ll(0.0, 90.0)) >> 61, 1);
    assert_eq!(cell_id_from_latlng(ll(0.0, 180.0)) >> 61, 3);
    assert_eq!(cell_id_from_latlng(ll(-90.0, 0.0)) >> 61, 5);
    assert!(is_level13(cell_id_from_latlng(ll(47.37, 8.54))));
}

#[test]
fn level13_ids() {
    assert_eq!(LEVEL, 13);
    assert!(is_level13(0x1000_0004_0000_0000));
    assert!(!is_level13(0x1000_0000_0000_0001)); // a leaf
    assert!(!is_level13(0x1000_0000_0000_0000)); // the face cell
    assert!(!is_level13(0x1000_0002_0000_0000)); // odd: no level
    assert!(!is_level13(0));
    assert!(!is_level13(0xD000_0004_0000_0000)); // face 6
}

#[test]
fn winding_order_does_not_matter() {
    let polygons = [
        vec![ll(47.0, 8.0), ll(47.0, 8.1), ll(47.1, 8.12), ll(47.15, 8.02)],
        vec![ll(-33.9, 151.1), ll(-33.85, 151.3), ll(-33.7, 151.2)],
        vec![ll(89.95, 0.0), ll(89.95, 120.0), ll(89.95, -120.0)], // around the pole
        vec![ll(10.0, 179.98), ll(10.0, -179.95), ll(10.05, -179.97), ll(10.04, 179.96)], // antimeridian
    ];
    for p in polygons {
        let forward = cover_polygon(&p).unwrap();
        assert!(!forward.is_empty());
        assert_sorted_level13(&forward);
        let mut reversed = p.clone();
        reversed.reverse();
        assert_eq!(cover_polygon(&reversed).unwrap(), forward);
        let mut rotated = p.clone();
        rotated.rotate_left(1);
        assert_eq!(cover_polygon(&rotated).unwrap(), forward);
        let area = polygon_area_km2(&p).unwrap();
        assert!((polygon_area_km2(&reversed).unwrap() - area).abs() < 1e-9 * area.max(1.0));
    }
}

#[test]
fn polygon_around_the_pole_contains_it() {
    let cap = [ll(89.95, 0.0), ll(89.95, 120.0), ll(89.95, -120.0)];
    let cells = cover_polygon(&cap).unwrap();
    assert!(cells.contains(&cell_id_from_latlng(ll(90.0, 0.0))));
    assert!(polygon_area_km2(&cap).unwrap() < 100.0);
}

#[test]
fn collinear_polygon_is_covered_as_a_line() {
    // Three points on the equator: no area at all.
    let line = [ll(0.0, 10.0), ll(0.0, 10.05), ll(0.0, 10.1)];
    assert_eq!(polygon_area_km2(&line).unwrap(), 0.0);
    let cells = cover_polygon(&line).unwrap();
    assert_sorted_level13(&cells);
    // ~11 km of equator: about 10 cells, including those of points along it.
    assert!((8..=20).contains(&cells.len()), "{}", cells.len());
    for k in 0..=100 {
        let p = ll(0.0, 10.0 + 0.001 * f64::from(k));
        assert!(cells.contains(&cell_id_from_latlng(p)), "{p:?}");
    }
    // Points well off the line are not covered.
    assert!(!cells.contains(&cell_id_from_latlng(ll(0.05, 10.05))));
}

#[test]
fn tiny_polygon_is_one_cell() {
    let c = ll(47.3769, 8.5417);
    let d = 1e-5; // about a meter
    let tiny = [ll(c.lat, c.lng), ll(c.lat, c.lng + d), ll(c.lat + d, c.lng)];
    assert_eq!(cover_polygon(&tiny).unwrap(), vec![cell_id_from_latlng(c)]);
}

#[test]
fn one_km_circle() {
    let center = ll(40.7128, -74.0060);
    let cells = cover_circle(center, 1000.0).unwrap();
    assert_sorted_level13(&cells);
    assert!((4..=16).contains(&cells.len()), "{} cells", cells.len());
    // Complete: the inscribed 20-gon contains the disk of radius 1000 m *
    // cos(pi / 20) = 987.7 m, so every cell with a point within 980 m is in.
    assert!(contains_all(&cells, &grid_cells(center, 980.0, 10.0)));
    // Tight: every cell of the covering has points within about 1 km.
    assert!(contains_all(&grid_cells(center, 1020.0, 10.0), &cells));
}

#[test]
fn polygon_covering_is_complete_and_tight() {
    // A quadrilateral about 4 km across.
    let p = [ll(51.50, -0.15), ll(51.49, -0.10), ll(51.52, -0.08), ll(51.53, -0.13)];
    let cells = cover_polygon(&p).unwrap();
    assert_sorted_level13(&cells);
    // Every vertex and the centroid-ish interior point are covered.
    for v in p {
        assert!(cells.contains(&cell_id_from_latlng(v)));
    }
    assert!(cells.contains(&cell_id_from_latlng(ll(51.51, -0.115))));
    // All cells are near the polygon (within ~3.5 km of its middle).
    let middle = ll(51.51, -0.115);
    assert!(contains_all(&grid_cells(middle, 3500.0, 25.0), &cells));
}

#[test]
fn set_operations_on_coverings() {
    let big = cover_circle(ll(35.0, 139.0), 5000.0).unwrap();
    let small = cover_circle(ll(35.0, 139.0), 500.0).unwrap();
    let far = cover_circle(ll(35.5, 139.5), 1000.0).unwrap();
    assert!(contains_all(&big, &small));
    assert!(!contains_all(&small, &big));
    assert!(intersects(&big, &small));
    assert!(!intersects(&big, &far));
    let u = union(&big, &far);
    assert_eq!(u.len(), big.len() + far.len());
    assert_sorted_level13(&u);
    assert_eq!(union(&big, &small), big);
}

#[test]
fn large_polygon_near_a_face_corner() {
    // ~2000 km² straddling the corner of faces 0, 1 and 2 at (35.26, 45).
    let p = [ll(35.05, 44.75), ll(35.05, 45.25), ll(35.45, 45.25), ll(35.45, 44.75)];
    let area = polygon_area_km2(&p).unwrap();
    assert!(area > 1500.0 && area < 2500.0, "{area}");
    let cells = cover_polygon(&p).unwrap();
    assert_sorted_level13(&cells);
    let faces: Vec<u64> = cells.iter().map(|c| c >> 61).collect();
    for f in [0, 1, 2] {
        assert!(faces.contains(&f), "no cell on face {f}");
    }
    // Level-13 cells are about 1 km²; the covering adds a ring of boundary cells.
    #[allow(clippy::cast_precision_loss)]
    let ratio = cells.len() as f64 / area;
    assert!(ratio > 0.9 && ratio < 1.6, "{} cells for {area} km²", cells.len());
}
