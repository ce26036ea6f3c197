//! Every way a polygon or circle is rejected, as the DSS rejects it.

use dss_geo::{
    GeoError, LatLng, MAX_AREA_KM2, MAX_CELLS, MAX_RADIUS_M, MAX_VERTICES, check_cell_count, cover_circle,
    cover_polygon, polygon_area_km2,
};

fn ll(lat: f64, lng: f64) -> LatLng {
    LatLng { lat, lng }
}

/// A small valid triangle near Zürich.
fn triangle() -> Vec<LatLng> {
    vec![ll(47.0, 8.0), ll(47.0, 8.01), ll(47.01, 8.0)]
}

#[test]
fn out_of_range_coordinates_name_the_vertex() {
    for (index, bad) in [(0, ll(90.0001, 8.0)), (1, ll(-91.0, 8.0)), (2, ll(47.0, 180.5)), (1, ll(47.0, -181.0))] {
        let mut v = triangle();
        v[index] = bad;
        assert_eq!(cover_polygon(&v), Err(GeoError::BadCoordinates { index, lat: bad.lat, lng: bad.lng }));
    }
    // The limits themselves are fine.
    assert!(cover_polygon(&[ll(89.99, 180.0), ll(89.99, -179.99), ll(90.0, 0.0)]).is_ok());
}

#[test]
fn non_finite_coordinates_are_rejected() {
    for bad in [ll(f64::NAN, 8.0), ll(47.0, f64::NAN), ll(f64::INFINITY, 8.0), ll(47.0, f64::NEG_INFINITY)] {
        let mut v = triangle();
        v[2] = bad;
        assert!(matches!(cover_polygon(&v), Err(GeoError::BadCoordinates { index: 2, .. })));
    }
}

#[test]
fn fewer_than_three_vertices() {
    assert_eq!(cover_polygon(&triangle()[..2]), Err(GeoError::TooFewVertices { count: 2 }));
    assert_eq!(cover_polygon(&[]), Err(GeoError::TooFewVertices { count: 0 }));
    assert_eq!(polygon_area_km2(&triangle()[..1]), Err(GeoError::TooFewVertices { count: 1 }));
}

#[test]
fn bow_tie_is_self_intersecting() {
    // Edges 0 (A-B) and 2 (C-D) are the crossing diagonals.
    let bow_tie = [ll(0.0, 0.0), ll(0.01, 0.01), ll(0.01, 0.0), ll(0.0, 0.01)];
    assert_eq!(cover_polygon(&bow_tie), Err(GeoError::SelfIntersecting { edge_a: 0, edge_b: 2 }));
}

#[test]
fn repeated_closing_vertex_is_rejected() {
    // With 4+ vertices the last edge comes back to vertex 0, touching edge 0.
    let mut v = triangle();
    v.push(v[0]);
    assert_eq!(cover_polygon(&v), Err(GeoError::SelfIntersecting { edge_a: 0, edge_b: 2 }));
    let square = [ll(47.0, 8.0), ll(47.0, 8.01), ll(47.01, 8.01), ll(47.01, 8.0), ll(47.0, 8.0)];
    assert_eq!(cover_polygon(&square), Err(GeoError::SelfIntersecting { edge_a: 0, edge_b: 3 }));
    // With 3 there are no non-adjacent edges: the loop check finds the duplicate.
    let closed_segment = [ll(47.0, 8.0), ll(47.0, 8.01), ll(47.0, 8.0)];
    assert!(matches!(cover_polygon(&closed_segment), Err(GeoError::InvalidLoop(_))));
}

#[test]
fn duplicate_adjacent_vertices() {
    let v = [ll(47.0, 8.0), ll(47.0, 8.0), ll(47.01, 8.0)];
    assert_eq!(cover_polygon(&v), Err(GeoError::InvalidLoop("vertices 0 and 1 are identical".to_string())));
    // With more vertices, the edges around the duplicate touch first.
    let v = [ll(47.0, 8.0), ll(47.0, 8.0), ll(47.01, 8.01), ll(47.01, 8.0)];
    assert_eq!(cover_polygon(&v), Err(GeoError::SelfIntersecting { edge_a: 1, edge_b: 3 }));
}

#[test]
fn touching_non_adjacent_edges() {
    // Vertex 3 repeats vertex 1, pinching the polygon: edges 0 and 2 meet there.
    let v = [ll(47.0, 8.0), ll(47.0, 8.01), ll(47.01, 8.02), ll(47.0, 8.01), ll(47.01, 8.0)];
    assert_eq!(cover_polygon(&v), Err(GeoError::SelfIntersecting { edge_a: 0, edge_b: 2 }));
}

/// A square centered at (45, 10) whose area in km² is roughly `scale`² * 2500.
fn square(scale: f64) -> Vec<LatLng> {
    let h = 0.2249 * scale; // ~25 km of latitude
    let w = h / libm::cos(45f64.to_radians());
    vec![ll(45.0 - h, 10.0 - w), ll(45.0 - h, 10.0 + w), ll(45.0 + h, 10.0 + w), ll(45.0 + h, 10.0 - w)]
}

#[test]
fn area_limit() {
    // Bisect the scale at which the area crosses the limit.
    let (mut lo, mut hi) = (0.8, 1.2);
    assert!(polygon_area_km2(&square(lo)).unwrap() < MAX_AREA_KM2);
    assert!(polygon_area_km2(&square(hi)).unwrap() > MAX_AREA_KM2);
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if polygon_area_km2(&square(mid)).unwrap() > MAX_AREA_KM2 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let just_below = square(lo * (1.0 - 1e-6));
    let just_above = square(hi * (1.0 + 1e-6));
    let below = polygon_area_km2(&just_below).unwrap();
    let above = polygon_area_km2(&just_above).unwrap();
    assert!(below < MAX_AREA_KM2 && below > MAX_AREA_KM2 - 0.1, "{below}");
    assert!(above > MAX_AREA_KM2 && above < MAX_AREA_KM2 + 0.1, "{above}");

    let cells = cover_polygon(&just_below).unwrap();
    assert!(cells.len() > 1500, "{}", cells.len());
    assert_eq!(cover_polygon(&just_above), Err(GeoError::AreaTooLarge { km2: above }));
    // The winding order does not matter to the limit either.
    let mut reversed = just_above.clone();
    reversed.reverse();
    assert!(matches!(cover_polygon(&reversed), Err(GeoError::AreaTooLarge { .. })));
}

#[test]
fn bad_radius() {
    let c = ll(47.0, 8.0);
    for meters in [0.0, -0.0, -5.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        match cover_circle(c, meters) {
            Err(GeoError::BadRadius { meters: m }) => assert!(m.to_bits() == meters.to_bits()),
            other => panic!("radius {meters}: {other:?}"),
        }
    }
    assert!(cover_circle(c, 1e-3).is_ok());
}

#[test]
fn bad_circle_center() {
    assert_eq!(cover_circle(ll(95.0, 8.0), 100.0), Err(GeoError::BadCoordinates { index: 0, lat: 95.0, lng: 8.0 }));
    assert!(matches!(cover_circle(ll(47.0, f64::NAN), 100.0), Err(GeoError::BadCoordinates { index: 0, .. })));
}

/// A convex `n`-gon of radius ~1 km around (47, 8).
fn ngon(n: usize) -> Vec<LatLng> {
    (0..n)
        .map(|i| {
            let a = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            ll(47.0 + 0.009 * libm::sin(a), 8.0 + 0.013 * libm::cos(a))
        })
        .collect()
}

#[test]
fn vertex_limit() {
    assert!(cover_polygon(&ngon(MAX_VERTICES)).is_ok());
    let over = ngon(MAX_VERTICES + 1);
    assert_eq!(cover_polygon(&over), Err(GeoError::TooManyVertices { count: MAX_VERTICES + 1 }));
    assert_eq!(polygon_area_km2(&over), Err(GeoError::TooManyVertices { count: MAX_VERTICES + 1 }));
    // Checked first, before the coordinates.
    let mut bad = over;
    bad[0] = ll(95.0, 8.0);
    assert!(matches!(cover_polygon(&bad), Err(GeoError::TooManyVertices { .. })));
}

#[test]
fn circle_radius_limit() {
    let c = ll(47.0, 8.0);
    // Over the polygons' area limit (π 50² = 7854 km²), but a circle has none.
    let cells = cover_circle(c, MAX_RADIUS_M).unwrap();
    assert!(cells.len() > 5000 && cells.len() <= MAX_CELLS, "{}", cells.len());
    for meters in [MAX_RADIUS_M + 0.001, 200_000.0, 1_000_000.0, 1e300] {
        assert_eq!(cover_circle(c, meters), Err(GeoError::RadiusTooLarge { meters }));
    }
}

#[test]
fn cell_limit() {
    // 160° of the equator, 11 m wide (~1000 km² as the top edge bulges): under the area
    // limit, but the equator is a cell boundary, so two rows of cells, ~30,000 of them.
    let strip = [ll(0.0, -80.0), ll(0.0, 80.0), ll(0.0001, 80.0), ll(0.0001, -80.0)];
    let km2 = polygon_area_km2(&strip).unwrap();
    assert!(km2 > 0.0 && km2 < MAX_AREA_KM2, "{km2}");
    assert_eq!(cover_polygon(&strip), Err(GeoError::TooManyCells));
    // A shorter strip is covered (3,660 cells).
    let short = [ll(0.0, 0.0), ll(0.0, 20.0), ll(0.0001, 20.0), ll(0.0001, 0.0)];
    assert!(cover_polygon(&short).is_ok_and(|c| c.len() > 3000 && c.len() <= MAX_CELLS));
    assert_eq!(check_cell_count(&vec![0; MAX_CELLS]), Ok(()));
    assert_eq!(check_cell_count(&vec![0; MAX_CELLS + 1]), Err(GeoError::TooManyCells));
}

#[test]
fn messages_are_readable() {
    let msg = |e: GeoError| e.to_string();
    assert_eq!(msg(GeoError::SelfIntersecting { edge_a: 0, edge_b: 2 }), "the polygon's edges 0 and 2 cross or touch");
    assert_eq!(msg(GeoError::AreaTooLarge { km2: 3120.46 }), "the area is 3120.5 km², over the 2500 km² limit");
    assert_eq!(msg(GeoError::TooFewVertices { count: 2 }), "a polygon needs at least 3 vertices, this one has 2");
    assert!(msg(GeoError::BadCoordinates { index: 3, lat: 91.0, lng: 0.0 }).starts_with("point 3 (lat 91, lng 0)"));
    assert!(msg(GeoError::BadRadius { meters: -1.0 }).contains("not -1"));
    assert_eq!(msg(GeoError::InvalidLoop("x".into())), "invalid polygon: x");
    assert_eq!(
        msg(GeoError::TooManyVertices { count: 1001 }),
        "a polygon may have at most 1000 vertices, this one has 1001"
    );
    assert_eq!(msg(GeoError::RadiusTooLarge { meters: 50_000.5 }), "the radius is 50000.5 m, over the 50000 m limit");
    assert_eq!(msg(GeoError::TooManyCells), "the area's covering has more than 20000 level-13 cells");
    let as_error: &dyn std::error::Error = &GeoError::TooFewVertices { count: 0 };
    assert!(as_error.source().is_none());
}
