//! Cross-checks against `s2rst`, an independent Rust port of the C++ S2 library
//! (whose coverer and `S2Loop::MayIntersect` golang/geo mirrors).
//!
//! For deterministic pseudo-random polygons and circles all over the globe
//! (poles, antimeridian, cube-face edges and corners), the DSS pipeline is run
//! on both sides and the level-13 coverings compared. Each polygon is tried
//! twice: with the same vertex coordinates on both sides (comparing the
//! geometry only), and with each library converting lat/lng itself (ours
//! through `libm`, s2rst through std, so the last bit of a coordinate may
//! differ).

use core::f64::consts::PI;

use s2rst::r3::Vector;
use s2rst::s1::Angle;
use s2rst::s2::edge_crossings::{Crossing as RefCrossing, crossing_sign as ref_crossing_sign};
use s2rst::s2::polyline::Polyline;
use s2rst::s2::region_coverer::RegionCoverer;
use s2rst::s2::{CellId, Level, Loop as RefLoop, Point as RefPoint, Region};

use crate::point::Point;
use crate::{EARTH_AREA_KM2, EARTH_RADIUS_M, LatLng, MAX_AREA_KM2, cover_circle, cover_polygon};

/// splitmix64: a tiny deterministic generator, enough for test inputs.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A center somewhere interesting: anywhere, near a pole, near the
/// antimeridian, on a cube-face edge or near a cube corner.
fn center(rng: &mut Rng) -> LatLng {
    let corner_lat = libm::atan(1.0 / 2f64.sqrt()) * 180.0 / PI; // 35.26°
    let jitter = |rng: &mut Rng| rng.range(-0.05, 0.05);
    match rng.below(6) {
        0 | 1 => LatLng { lat: libm::asin(rng.range(-1.0, 1.0)) * 180.0 / PI, lng: rng.range(-180.0, 180.0) },
        2 => {
            let lat = if rng.below(2) == 0 { 89.9 } else { -89.9 } + jitter(rng) * 1.5;
            LatLng { lat: lat.clamp(-90.0, 90.0), lng: rng.range(-180.0, 180.0) }
        }
        3 => {
            let lng = if rng.below(2) == 0 { 179.95 } else { -179.95 } + jitter(rng);
            LatLng { lat: rng.range(-80.0, 80.0), lng: lng.clamp(-180.0, 180.0) }
        }
        4 => {
            let edges = [45.0, 135.0, -45.0, -135.0];
            let lng = edges[usize::try_from(rng.below(4)).unwrap()] + jitter(rng);
            LatLng { lat: rng.range(-40.0, 40.0), lng }
        }
        _ => {
            let lat = if rng.below(2) == 0 { corner_lat } else { -corner_lat } + jitter(rng);
            let lng = [45.0, 135.0, -45.0, -135.0][usize::try_from(rng.below(4)).unwrap()] + jitter(rng);
            LatLng { lat, lng }
        }
    }
}

/// The point at `distance` (radians) from `from` in direction `bearing`.
fn destination(from: LatLng, bearing: f64, distance: f64) -> LatLng {
    let (lat1, lng1) = (from.lat * PI / 180.0, from.lng * PI / 180.0);
    let lat2 =
        libm::asin(libm::sin(lat1) * libm::cos(distance) + libm::cos(lat1) * libm::sin(distance) * libm::cos(bearing));
    let lng2 = lng1
        + libm::atan2(
            libm::sin(bearing) * libm::sin(distance) * libm::cos(lat1),
            libm::cos(distance) - libm::sin(lat1) * libm::sin(lat2),
        );
    let mut lng = lng2 * 180.0 / PI;
    if lng > 180.0 {
        lng -= 360.0;
    } else if lng < -180.0 {
        lng += 360.0;
    }
    LatLng { lat: lat2 * 180.0 / PI, lng }
}

/// A star-shaped (hence simple) polygon of 3 to 12 vertices, 0.5 to 40 km
/// across, in either winding order.
fn random_polygon(rng: &mut Rng) -> Vec<LatLng> {
    let c = center(rng);
    let n = 3 + rng.below(10);
    let radius_km = libm::exp(rng.range(libm::log(0.25), libm::log(20.0)));
    let mut bearings: Vec<f64> = (0..n).map(|_| rng.range(0.0, 2.0 * PI)).collect();
    bearings.sort_by(f64::total_cmp);
    let mut vertices: Vec<LatLng> = bearings
        .iter()
        .map(|&b| destination(c, b, radius_km * rng.range(0.3, 1.0) * 1000.0 / EARTH_RADIUS_M))
        .collect();
    if rng.below(2) == 0 {
        vertices.reverse();
    }
    vertices
}

fn ref_point(p: Point) -> RefPoint {
    RefPoint::new(Vector { x: p.x, y: p.y, z: p.z })
}

fn ref_covering(region: &dyn Region) -> Vec<u64> {
    let coverer = RegionCoverer::new().min_level(Level::new(13)).max_level(Level::new(13)).max_cells(1 << 30);
    coverer.covering(region).cell_ids().iter().map(|c| c.id()).collect()
}

/// The DSS's `Covering` on s2rst: `None` where the DSS rejects the polygon.
fn ref_cover_polygon(points: Vec<RefPoint>) -> Option<Vec<u64>> {
    let n = points.len();
    for i in 0..n - 2 {
        let end = if i == 0 { n - 1 } else { n };
        for j in i + 2..end {
            if ref_crossing_sign(points[i], points[i + 1], points[j], points[(j + 1) % n]) != RefCrossing::DoNotCross {
                return None;
            }
        }
    }
    let mut lp = RefLoop::new(points);
    lp.normalize();
    lp.validate().ok()?;
    let km2 = lp.area() * EARTH_AREA_KM2 / (4.0 * PI);
    if km2 > MAX_AREA_KM2 {
        return None;
    }
    if km2 <= 0.0 {
        return Some(ref_covering(&Polyline::new(lp.vertices().to_vec())));
    }
    Some(ref_covering(&lp))
}

/// Counts agreements, printing the first few disagreements for diagnosis.
#[derive(Default)]
struct Tally {
    same: usize,
    different: usize,
}

impl Tally {
    fn record(&mut self, what: &str, ours: &Option<Vec<u64>>, theirs: &Option<Vec<u64>>) {
        if ours == theirs {
            self.same += 1;
            return;
        }
        self.different += 1;
        if self.different <= 5 {
            let len = |c: &Option<Vec<u64>>| c.as_ref().map(Vec::len);
            eprintln!("{what}: ours {:?} cells, s2rst {:?} cells", len(ours), len(theirs));
            if let (Some(a), Some(b)) = (ours, theirs) {
                let only_ours: Vec<_> = a.iter().filter(|c| !b.contains(c)).collect();
                let only_theirs: Vec<_> = b.iter().filter(|c| !a.contains(c)).collect();
                eprintln!("  only ours: {only_ours:x?}\n  only s2rst: {only_theirs:x?}");
            }
        }
    }

    /// Asserts at least `percent` agreement and returns a summary.
    #[allow(clippy::cast_precision_loss)]
    fn check(&self, what: &str, percent: f64) -> String {
        let total = self.same + self.different;
        let rate = 100.0 * self.same as f64 / total as f64;
        assert!(rate >= percent, "{what}: {} of {total} agree ({rate:.2}%)", self.same);
        format!("{what}: {} of {total} agree", self.same)
    }
}

#[test]
fn polygon_coverings_match_s2rst() {
    let mut rng = Rng(0x5EED_0001);
    let (mut same_points, mut own_points) = (Tally::default(), Tally::default());
    let mut accepted = 0;
    for case in 0..400 {
        let vertices = random_polygon(&mut rng);
        let ours = cover_polygon(&vertices).ok();
        accepted += usize::from(ours.is_some());
        let shared: Vec<RefPoint> = vertices.iter().map(|v| ref_point(Point::from_degrees(v.lat, v.lng))).collect();
        same_points.record(&format!("polygon {case} {vertices:?}"), &ours, &ref_cover_polygon(shared));
        let theirs: Vec<RefPoint> =
            vertices.iter().map(|v| s2rst::s2::LatLng::from_degrees(v.lat, v.lng).to_point()).collect();
        own_points.record(&format!("polygon {case} (s2rst's lat/lng conversion)"), &ours, &ref_cover_polygon(theirs));
    }
    assert!(accepted >= 390, "only {accepted} of 400 random polygons were valid");
    eprintln!("{}", same_points.check("polygons, same vertices", 99.0));
    eprintln!("{}", own_points.check("polygons, each library's own lat/lng conversion", 99.0));
}

#[test]
fn degenerate_polygon_coverings_match_s2rst() {
    // Collinear vertices along a meridian or the equator have no area: both
    // sides must fall back to covering them as a polyline.
    let mut rng = Rng(0x5EED_0002);
    let mut tally = Tally::default();
    for case in 0..40 {
        let lng = rng.range(-179.0, 179.0);
        let lat = rng.range(-60.0, 60.0);
        let step = rng.range(0.001, 0.05);
        let vertices: Vec<LatLng> = if case % 2 == 0 {
            (0..3).map(|k| LatLng { lat: lat + step * f64::from(k), lng }).collect()
        } else {
            (0..3).map(|k| LatLng { lat: 0.0, lng: lng + step * f64::from(k) }).collect()
        };
        let ours = cover_polygon(&vertices).ok();
        let shared: Vec<RefPoint> = vertices.iter().map(|v| ref_point(Point::from_degrees(v.lat, v.lng))).collect();
        tally.record(&format!("degenerate {case} {vertices:?}"), &ours, &ref_cover_polygon(shared));
    }
    eprintln!("{}", tally.check("degenerate polygons", 100.0));
}

#[test]
fn circle_coverings_match_s2rst() {
    let mut rng = Rng(0x5EED_0003);
    let mut tally = Tally::default();
    for case in 0..150 {
        let c = center(&mut rng);
        let radius_m = libm::exp(rng.range(libm::log(50.0), libm::log(15_000.0)));
        let ours = cover_circle(c, radius_m).ok();
        let center = s2rst::s2::LatLng::from_degrees(c.lat, c.lng).to_point();
        let lp = RefLoop::make_regular(center, Angle::from_radians(radius_m / EARTH_RADIUS_M), 20);
        tally.record(&format!("circle {case} {c:?} r={radius_m}"), &ours, &Some(ref_covering(&lp)));
    }
    eprintln!("{}", tally.check("circles", 99.0));
}

#[test]
fn cell_of_point_matches_s2rst() {
    let mut rng = Rng(0x5EED_0004);
    for _ in 0..20_000 {
        let c = if rng.below(2) == 0 {
            center(&mut rng)
        } else {
            LatLng { lat: rng.range(-90.0, 90.0), lng: rng.range(-180.0, 180.0) }
        };
        let ours = crate::cell_id_from_latlng(c);
        // The cell logic alone, from the same point...
        let p = Point::from_degrees(c.lat, c.lng);
        let same_point = CellId::from_point(&ref_point(p)).parent_at_level(Level::new(13)).id();
        assert_eq!(ours, same_point, "{c:?}");
        // ...and end to end from lat/lng.
        let theirs =
            CellId::from_lat_lng(&s2rst::s2::LatLng::from_degrees(c.lat, c.lng)).parent_at_level(Level::new(13)).id();
        assert_eq!(ours, theirs, "{c:?}");
    }
}
