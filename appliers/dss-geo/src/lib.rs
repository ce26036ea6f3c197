//! S2 level-13 coverings of DSS volumes (polygons, circles), computed bit for
//! bit alike on every target.
//!
//! A small port of the parts of S2 (golang/geo `s2`, as used by the `InterUSS` DSS
//! in `pkg/geo/s2.go`) that turn a polygon or circle into the sorted list of
//! level-13 cell ids that intersect it.
//!
//! # Determinism
//!
//! Every operation is either IEEE-754 exact (`+ - * /`, `sqrt`, `abs`, `floor`,
//! comparisons) or goes through the pure-Rust `libm` crate (`sin`, `cos`, `tan`,
//! `atan`, `atan2`), never through std's `f64` transcendental methods, which
//! call the platform's C library natively but a compiled-in one on
//! `wasm32-wasip2`. No fused multiply-add is used (Rust never fuses `a * b + c`),
//! no hash-map iteration order reaches a result, and no `unsafe` is used.
//! A test (`tests/determinism.rs`) scans the sources for std's transcendental
//! calls.
//!
//! # Compared with the DSS (Go)
//!
//! - The coverings agree with an independent S2 port (`s2rst`, tested here) on
//!   every one of thousands of random polygons and circles. Go's own `math`
//!   functions may still round a coordinate's last bit differently from `libm`;
//!   that changes a covering only if an edge passes within about 1e-15 of a cell
//!   boundary.
//! - NaN coordinates are rejected (Go's range checks let them through).
//! - The DSS stores a circle's radius as an `f32`: pass `f64::from(r as f32)` to
//!   reproduce its coverings exactly.
//! - Bounds the DSS does not have (docs/dss-limits.md): a circle's radius is at
//!   most [`MAX_RADIUS_M`] (the covering of a 1000 km radius circle has about
//!   2.8 million cells, 22 MB), a polygon has at most [`MAX_VERTICES`]
//!   vertices (its edge check is quadratic), and a covering at most
//!   [`MAX_CELLS`] cells (a thin, long polygon under the area limit can touch
//!   millions). Within them, every covering is the DSS's.
//! - Polygon edges are geodesics (shortest paths), as in S2.

#![forbid(unsafe_code)]

mod cell;
mod cellid;
mod clip;
mod coords;
mod coverer;
mod crossings;
mod exact;
mod loops;
mod measures;
mod point;
mod predicates;
#[cfg(test)]
mod reference_tests;
mod sets;

use core::f64::consts::PI;
use core::fmt;

use crate::crossings::{Crossing, crossing_sign};
use crate::loops::Loop;
use crate::point::Point;

pub use crate::sets::{contains_all, intersects, union};

/// The S2 level of every cell this crate produces.
pub const LEVEL: u8 = coverer::LEVEL;

/// The largest polygon area accepted by [`cover_polygon`], in km² (the DSS's
/// `maxAllowedAreaKm2`; it does not apply to circles).
pub const MAX_AREA_KM2: f64 = 2500.0;

/// The largest circle radius accepted by [`cover_circle`], in meters. The DSS has
/// no limit; 50 km keeps every circle the applier took before (its tests cover a
/// 30 km one, over the polygons' area limit) while a covering stays near 10,500
/// cells at most, within [`MAX_CELLS`] anywhere on Earth.
pub const MAX_RADIUS_M: f64 = 50_000.0;

/// The most vertices [`cover_polygon`] accepts. The DSS has no limit; its edge
/// check is quadratic, and no real outline needs a thousand vertices.
pub const MAX_VERTICES: usize = 1_000;

/// The most cells a covering may have: about six times the ~3,300 cells of the
/// largest compact area accepted (2,500 km² over the smallest level-13 cells,
/// ~0.76 km²); the DSS has no such limit (docs/dss-limits.md).
pub const MAX_CELLS: usize = 20_000;

/// The Earth's area in km², as the DSS computes areas from steradians.
const EARTH_AREA_KM2: f64 = 510_072_000.0;
/// The Earth's radius in meters, as the DSS converts circle radii to angles.
const EARTH_RADIUS_M: f64 = 6_371_010.0;
/// The number of vertices of the polygon that stands for a circle.
pub const CIRCLE_VERTICES: u32 = 20;

/// A position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

/// Why a shape has no covering.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoError {
    /// A latitude outside [-90, 90] or longitude outside [-180, 180], or a
    /// non-finite one. `index` is the vertex's (0 for a circle's center).
    BadCoordinates { index: usize, lat: f64, lng: f64 },
    /// A polygon with fewer than 3 vertices.
    TooFewVertices { count: usize },
    /// A polygon with more than [`MAX_VERTICES`] vertices.
    TooManyVertices { count: usize },
    /// Two non-adjacent edges cross or touch (edge i runs from vertex i to
    /// vertex i + 1, the last one back to vertex 0). A repeated closing vertex
    /// is reported this way too, with 4 or more vertices.
    SelfIntersecting { edge_a: usize, edge_b: usize },
    /// Adjacent vertices that are identical or antipodal.
    InvalidLoop(String),
    /// The polygon's area exceeds [`MAX_AREA_KM2`].
    AreaTooLarge { km2: f64 },
    /// A circle radius that is not a finite number of meters above 0.
    BadRadius { meters: f64 },
    /// A circle radius over [`MAX_RADIUS_M`].
    RadiusTooLarge { meters: f64 },
    /// The covering would have more than [`MAX_CELLS`] cells.
    TooManyCells,
}

impl fmt::Display for GeoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeoError::BadCoordinates { index, lat, lng } => write!(
                f,
                "point {index} (lat {lat}, lng {lng}) is not on Earth: latitude must be within \
                 [-90, 90] and longitude within [-180, 180] degrees"
            ),
            GeoError::TooFewVertices { count } => {
                write!(f, "a polygon needs at least 3 vertices, this one has {count}")
            }
            GeoError::TooManyVertices { count } => {
                write!(f, "a polygon may have at most {MAX_VERTICES} vertices, this one has {count}")
            }
            GeoError::SelfIntersecting { edge_a, edge_b } => {
                write!(f, "the polygon's edges {edge_a} and {edge_b} cross or touch")
            }
            GeoError::InvalidLoop(reason) => write!(f, "invalid polygon: {reason}"),
            GeoError::AreaTooLarge { km2 } => {
                write!(f, "the area is {km2:.1} km², over the {MAX_AREA_KM2} km² limit")
            }
            GeoError::BadRadius { meters } => {
                write!(f, "the radius must be a finite number of meters above 0, not {meters}")
            }
            GeoError::RadiusTooLarge { meters } => {
                write!(f, "the radius is {meters} m, over the {MAX_RADIUS_M} m limit")
            }
            GeoError::TooManyCells => {
                write!(f, "the area's covering has more than {MAX_CELLS} level-{LEVEL} cells")
            }
        }
    }
}

impl std::error::Error for GeoError {}

/// The sorted, deduplicated level-13 S2 cell ids of the cells that intersect
/// the polygon (its interior or boundary).
///
/// The winding order does not matter: the polygon is the smaller of the two
/// regions its boundary delimits. A polygon of zero area (collinear vertices)
/// is covered as the line through its vertices.
///
/// # Errors
///
/// [`GeoError::TooManyVertices`], [`GeoError::BadCoordinates`],
/// [`GeoError::TooFewVertices`], [`GeoError::SelfIntersecting`],
/// [`GeoError::InvalidLoop`], [`GeoError::AreaTooLarge`] or
/// [`GeoError::TooManyCells`], checked in that order.
pub fn cover_polygon(vertices: &[LatLng]) -> Result<Vec<u64>, GeoError> {
    let (lp, km2) = validated_loop(vertices)?;
    if km2 > MAX_AREA_KM2 {
        return Err(GeoError::AreaTooLarge { km2 });
    }
    let cells = if km2 <= 0.0 {
        // As the DSS does: without area, the vertices make a polyline (not closed).
        coverer::cover_polyline(&lp.into_vertices(), MAX_CELLS)
    } else {
        coverer::cover_loop(&lp, MAX_CELLS)
    };
    cells.ok_or(GeoError::TooManyCells)
}

/// The sorted, deduplicated level-13 S2 cell ids of the regular 20-gon
/// inscribed in the circle, as the DSS covers circles. Unlike the DSS, the
/// radius may not exceed [`MAX_RADIUS_M`] (and there is no area limit).
///
/// # Errors
///
/// [`GeoError::BadCoordinates`] (index 0) for the center, [`GeoError::BadRadius`],
/// [`GeoError::RadiusTooLarge`], [`GeoError::TooManyCells`].
pub fn cover_circle(center: LatLng, radius_m: f64) -> Result<Vec<u64>, GeoError> {
    let center = checked_point(0, center)?;
    if !(radius_m.is_finite() && radius_m > 0.0) {
        return Err(GeoError::BadRadius { meters: radius_m });
    }
    if radius_m > MAX_RADIUS_M {
        return Err(GeoError::RadiusTooLarge { meters: radius_m });
    }
    let lp = Loop::regular(center, radius_m / EARTH_RADIUS_M, CIRCLE_VERTICES);
    coverer::cover_loop(&lp, MAX_CELLS).ok_or(GeoError::TooManyCells)
}

/// Whether `cells` is at most [`MAX_CELLS`] long, for the cell lists a command
/// or query carries (they may come from elsewhere than this crate's coverings).
///
/// # Errors
///
/// [`GeoError::TooManyCells`].
pub fn check_cell_count(cells: &[u64]) -> Result<(), GeoError> {
    if cells.len() > MAX_CELLS { Err(GeoError::TooManyCells) } else { Ok(()) }
}

/// The polygon's area in km², after the validation and normalization of
/// [`cover_polygon`] but without its area limit.
///
/// # Errors
///
/// As [`cover_polygon`], except [`GeoError::AreaTooLarge`] and
/// [`GeoError::TooManyCells`].
pub fn polygon_area_km2(vertices: &[LatLng]) -> Result<f64, GeoError> {
    validated_loop(vertices).map(|(_, km2)| km2)
}

/// Whether `cell` is a valid S2 cell id at level 13.
#[must_use]
pub fn is_level13(cell: u64) -> bool {
    cellid::is_valid(cell) && cellid::level(cell) == LEVEL
}

/// The level-13 cell containing the point. Coordinates are not checked.
#[must_use]
pub fn cell_id_from_latlng(p: LatLng) -> u64 {
    cellid::parent(cellid::from_point(Point::from_degrees(p.lat, p.lng)), LEVEL)
}

/// Checks the polygon as the DSS does and returns its normalized loop with its
/// area in km².
fn validated_loop(vertices: &[LatLng]) -> Result<(Loop, f64), GeoError> {
    // First: every other check costs at least a pass over the vertices.
    if vertices.len() > MAX_VERTICES {
        return Err(GeoError::TooManyVertices { count: vertices.len() });
    }
    let points = vertices.iter().enumerate().map(|(i, &v)| checked_point(i, v)).collect::<Result<Vec<_>, _>>()?;
    if points.len() < 3 {
        return Err(GeoError::TooFewVertices { count: points.len() });
    }
    check_edges_do_not_cross(&points)?;
    check_adjacent_vertices(&points)?;
    let mut lp = Loop::new(points);
    lp.normalize();
    let km2 = lp.area() * EARTH_AREA_KM2 / (4.0 * PI);
    Ok((lp, km2))
}

fn checked_point(index: usize, p: LatLng) -> Result<Point, GeoError> {
    if (-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lng) {
        Ok(Point::from_degrees(p.lat, p.lng))
    } else {
        Err(GeoError::BadCoordinates { index, lat: p.lat, lng: p.lng })
    }
}

/// The DSS's `validateLoop`: no two non-adjacent edges may cross or share a
/// vertex (`CrossingSign` must say `DoNotCross`).
fn check_edges_do_not_cross(points: &[Point]) -> Result<(), GeoError> {
    let n = points.len();
    for i in 0..n - 2 {
        // Edge 0 and the closing edge n - 1 are adjacent.
        let end = if i == 0 { n - 1 } else { n };
        for j in i + 2..end {
            if crossing_sign(points[i], points[i + 1], points[j], points[(j + 1) % n]) != Crossing::DoNotCross {
                return Err(GeoError::SelfIntersecting { edge_a: i, edge_b: j });
            }
        }
    }
    Ok(())
}

/// golang/geo's `Loop.Validate`: no edge may be degenerate (identical or
/// antipodal endpoints). The DSS runs it after normalizing, which only reverses
/// the order, so checking the input order gives the same verdict with the
/// caller's indices.
fn check_adjacent_vertices(points: &[Point]) -> Result<(), GeoError> {
    let n = points.len();
    for i in 0..n {
        let j = (i + 1) % n;
        if points[i] == points[j] {
            return Err(GeoError::InvalidLoop(format!("vertices {i} and {j} are identical")));
        }
        if points[i] == -points[j] {
            return Err(GeoError::InvalidLoop(format!("vertices {i} and {j} are antipodal")));
        }
    }
    Ok(())
}
