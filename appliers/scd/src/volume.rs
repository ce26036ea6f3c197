//! From JSON volumes to validated, covered extents and search volumes (on the node that took
//! the request, before anything is proposed), with the reference's checks in its order:
//! each volume's altitudes, outline and times (`Volume4DFromSCDRest`), then the union of the
//! volumes with their coverings (`UnionVolumes4D`), then the union's required bounds.
//!
//! Bounds the reference does not have (docs/dss-limits.md), each a 400 ([`VolumeError::Invalid`])
//! on every route: a circle's radius, a polygon's vertices, a covering's cells and those of the
//! union ([`geo::MAX_CELLS`]), and the outline vertices of one request ([`MAX_REQUEST_VERTICES`]).

use crate::api::{Extent, Volume};
use crate::geo::{self, GeoError, LatLng, MAX_CELLS, MAX_VERTICES};
use crate::json;
use crate::rfc3339::{self, Nanos};

/// The most outline vertices one request's volumes may have together, a circle counting as
/// the 20 of the polygon it is covered as: four maximal polygons' worth of the quadratic edge
/// check, however the body splits them (the reference has no bound; no real OIR nears it).
pub const MAX_REQUEST_VERTICES: usize = 4 * MAX_VERTICES;

/// What a circle counts toward [`MAX_REQUEST_VERTICES`]: the vertices of the polygon that
/// stands for it.
const CIRCLE_VERTICES: usize = dss_geo::CIRCLE_VERTICES as usize;

/// Why a volume was refused. The routes map the kinds to different statuses.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeError {
    /// A malformed volume (units, bounds, times, both outlines).
    Invalid(String),
    /// The outline has no valid covering, or there is no outline where one is required.
    Geometry(String),
    /// The polygon's area is over the limit.
    TooLarge(String),
}

impl VolumeError {
    pub fn message(&self) -> &str {
        match self {
            VolumeError::Invalid(m) | VolumeError::Geometry(m) | VolumeError::TooLarge(m) => m,
        }
    }
}

enum Outline<'a> {
    Polygon(&'a json::Polygon),
    Circle(&'a json::Circle),
}

/// One volume, checked but not yet covered.
struct Parsed<'a> {
    start: Option<Nanos>,
    end: Option<Nanos>,
    alt_lo: Option<f32>,
    alt_hi: Option<f32>,
    outline: Option<Outline<'a>>,
}

fn altitude(a: Option<&json::Altitude>, which: &str) -> Result<Option<f32>, VolumeError> {
    let Some(a) = a else { return Ok(None) };
    if a.units != "M" {
        return Err(VolumeError::Invalid(format!("Invalid {which} altitude unit")));
    }
    if a.reference != "W84" {
        return Err(VolumeError::Invalid(format!("Invalid {which} altitude reference")));
    }
    // The reference keeps altitudes as float32 and compares them so.
    Ok(Some(a.value as f32))
}

fn time(t: Option<&json::Time>, which: &str) -> Result<Option<Nanos>, VolumeError> {
    t.map(|t| rfc3339::parse(&t.value).map_err(|e| VolumeError::Invalid(format!("Error converting {which} time: {e}"))))
        .transpose()
}

fn parse(v: &json::Volume4D) -> Result<Parsed<'_>, VolumeError> {
    let v3 = &v.volume;
    let alt_lo = altitude(v3.altitude_lower.as_ref(), "lower")?;
    let alt_hi = altitude(v3.altitude_upper.as_ref(), "upper")?;
    if let (Some(lo), Some(hi)) = (alt_lo, alt_hi)
        && lo > hi
    {
        return Err(VolumeError::Invalid("Lower altitude cannot be greater than upper altitude".into()));
    }
    let outline = match (&v3.outline_polygon, &v3.outline_circle) {
        (Some(_), Some(_)) => {
            return Err(VolumeError::Invalid("Both circle and polygon specified in outline geometry".into()));
        }
        (Some(p), None) => Some(Outline::Polygon(p)),
        (None, Some(c)) => Some(Outline::Circle(c)),
        (None, None) => None,
    };
    let start = time(v.time_start.as_ref(), "start")?;
    let end = time(v.time_end.as_ref(), "end")?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(VolumeError::Invalid("Start time cannot be after end time".into()));
    }
    Ok(Parsed { start, end, alt_lo, alt_hi, outline })
}

fn geometry(e: GeoError) -> VolumeError {
    match e {
        GeoError::AreaTooLarge { .. } => VolumeError::TooLarge(format!("Area too large: {e}")),
        // Bounds of ours, not the reference's: a 400 wherever they arise.
        GeoError::TooManyVertices { .. } => VolumeError::Invalid(format!("Too many vertices: {e}")),
        GeoError::RadiusTooLarge { .. } => VolumeError::Invalid(format!("Circle too large: {e}")),
        GeoError::TooManyCells => too_many_cells(),
        e => VolumeError::Geometry(format!("Coordinates did not create a well-formed area: {e}")),
    }
}

fn point(p: &json::LatLngPoint) -> LatLng {
    LatLng { lat: p.lat, lng: p.lng }
}

fn cover(outline: &Outline) -> Result<Vec<u64>, VolumeError> {
    match outline {
        Outline::Polygon(p) => geo::cover_polygon(&p.vertices.iter().map(point).collect::<Vec<_>>()).map_err(geometry),
        // The reference dereferences a missing center or radius (a panic); refuse it instead.
        Outline::Circle(c) => match (&c.center, &c.radius) {
            (Some(center), Some(radius)) => geo::cover_circle(point(center), f64::from(radius.value)).map_err(geometry),
            _ => Err(VolumeError::Invalid("A circle needs a center and a radius".into())),
        },
    }
}

fn too_many_cells() -> VolumeError {
    VolumeError::Invalid(format!("Area too large: {}", GeoError::TooManyCells))
}

/// The outline vertices of `volumes`, each circle counting [`CIRCLE_VERTICES`], at most
/// [`MAX_REQUEST_VERTICES`]: checked before any covering.
fn check_request_vertices(volumes: &[Parsed]) -> Result<(), VolumeError> {
    let total: usize = volumes
        .iter()
        .filter_map(|p| p.outline.as_ref())
        .map(|o| match o {
            Outline::Polygon(p) => p.vertices.len(),
            Outline::Circle(_) => CIRCLE_VERTICES,
        })
        .sum();
    if total > MAX_REQUEST_VERTICES {
        return Err(VolumeError::Invalid(format!(
            "Too many vertices: the volumes' outlines may have at most {MAX_REQUEST_VERTICES} vertices together \
             (a circle counting {CIRCLE_VERTICES}), these have {total}"
        )));
    }
    Ok(())
}

fn missing_footprint() -> VolumeError {
    VolumeError::Geometry("Missing footprint".into())
}

/// What an OIR or constraint requires of the union of its volumes.
pub struct Required {
    pub altitudes: bool,
    /// The end may not be before this (the request's time).
    pub end_after: Nanos,
}

/// The widest of `values` by `pick`; `None` (unbounded) if any is, or if there are none.
fn widest<T: Copy>(values: impl Iterator<Item = Option<T>>, pick: fn(T, T) -> T) -> Option<T> {
    let mut acc = None;
    for v in values {
        let v = v?;
        acc = Some(acc.map_or(v, |a| pick(a, v)));
    }
    acc
}

/// The union of the extents of an OIR or constraint: the earliest start and latest end (any
/// unbounded volume makes the union unbounded), the widest altitudes (likewise), and every
/// volume's cells.
pub fn union(volumes: &[json::Volume4D], required: Required) -> Result<Extent, VolumeError> {
    let parsed = volumes.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
    check_request_vertices(&parsed)?;
    let start = widest(parsed.iter().map(|p| p.start), i64::min);
    let end = widest(parsed.iter().map(|p| p.end), i64::max);
    let alt_lo = widest(parsed.iter().map(|p| p.alt_lo), f32::min);
    let alt_hi = widest(parsed.iter().map(|p| p.alt_hi), f32::max);
    let mut cells: Option<Vec<u64>> = None;
    for outline in parsed.iter().filter_map(|p| p.outline.as_ref()) {
        let covering = cover(outline)?;
        let union = match cells {
            None => covering,
            Some(so_far) => geo::union(&so_far, &covering),
        };
        if union.len() > MAX_CELLS {
            return Err(too_many_cells());
        }
        cells = Some(union);
    }
    let (Some(start), Some(end)) = (start, end) else {
        let which = if start.is_none() { "start" } else { "end" };
        return Err(VolumeError::Invalid(format!("Missing {which} time")));
    };
    if required.altitudes {
        if alt_lo.is_none() {
            return Err(VolumeError::Invalid("Missing lower altitude".into()));
        }
        if alt_hi.is_none() {
            return Err(VolumeError::Invalid("Missing upper altitude".into()));
        }
    }
    if end < required.end_after {
        return Err(VolumeError::Invalid("End time may not be in the past".into()));
    }
    let cells = cells.ok_or_else(missing_footprint)?;
    Ok(Extent { start, end, alt_lo, alt_hi, cells })
}

/// A search volume; `footprint_required`: refuse a volume without an outline (queries),
/// rather than give it no cells (a subscription).
pub fn single(v: &json::Volume4D, footprint_required: bool) -> Result<Volume, VolumeError> {
    let p = parse(v)?;
    let cells = match &p.outline {
        Some(outline) => cover(outline)?,
        None if footprint_required => return Err(missing_footprint()),
        None => Vec::new(),
    };
    Ok(Volume { start: p.start, end: p.end, alt_lo: p.alt_lo, alt_hi: p.alt_hi, cells })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(body: serde_json::Value) -> json::Volume4D {
        serde_json::from_value(body).unwrap()
    }

    fn square(lat: f64, lng: f64, d: f64) -> serde_json::Value {
        serde_json::json!({"vertices": [
            {"lat": lat, "lng": lng}, {"lat": lat + d, "lng": lng},
            {"lat": lat + d, "lng": lng + d}, {"lat": lat, "lng": lng + d}]})
    }

    fn alt(v: f64) -> serde_json::Value {
        serde_json::json!({"value": v, "reference": "W84", "units": "M"})
    }

    fn t(s: &str) -> serde_json::Value {
        serde_json::json!({"value": s, "format": "RFC3339"})
    }

    const REQUIRE_ALL: Required = Required { altitudes: true, end_after: 0 };

    #[test]
    fn union_takes_the_widest_bounds_and_all_cells() {
        let a = vol(serde_json::json!({"volume": {"outline_polygon": square(46.0, 7.0, 0.01),
            "altitude_lower": alt(10.0), "altitude_upper": alt(50.0)},
            "time_start": t("2030-01-01T10:00:00Z"), "time_end": t("2030-01-01T11:00:00Z")}));
        let b = vol(serde_json::json!({"volume": {"outline_polygon": square(46.1, 7.1, 0.01),
            "altitude_lower": alt(0.0), "altitude_upper": alt(30.0)},
            "time_start": t("2030-01-01T10:30:00Z"), "time_end": t("2030-01-01T12:00:00+01:00")}));
        let u = union(&[a.clone(), b.clone()], REQUIRE_ALL).unwrap();
        assert_eq!(u.start, rfc3339::parse("2030-01-01T10:00:00Z").unwrap());
        assert_eq!(u.end, rfc3339::parse("2030-01-01T11:00:00Z").unwrap());
        assert_eq!((u.alt_lo, u.alt_hi), (Some(0.0), Some(50.0)));
        let ua = union(&[a], REQUIRE_ALL).unwrap();
        let ub = union(&[b], REQUIRE_ALL).unwrap();
        assert_eq!(u.cells, geo::union(&ua.cells, &ub.cells));
    }

    #[test]
    fn refusals_in_the_reference_order() {
        let invalid = |body: serde_json::Value| match union(&[vol(body)], REQUIRE_ALL) {
            Err(VolumeError::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        let feet = serde_json::json!({"value": 10, "reference": "W84", "units": "FT"});
        assert_eq!(invalid(serde_json::json!({"volume": {"altitude_lower": feet}})), "Invalid lower altitude unit");
        let agl = serde_json::json!({"value": 10, "reference": "SFC", "units": "M"});
        assert_eq!(invalid(serde_json::json!({"volume": {"altitude_upper": agl}})), "Invalid upper altitude reference");
        assert!(
            invalid(serde_json::json!({"volume": {"altitude_lower": alt(5.0), "altitude_upper": alt(4.0)}}))
                .contains("Lower altitude")
        );
        assert!(
            invalid(serde_json::json!({"volume": {"outline_polygon": square(1.0, 1.0, 0.01),
            "outline_circle": {"center": {"lat": 1, "lng": 1}, "radius": {"value": 5, "units": "M"}}}}))
            .contains("Both circle and polygon")
        );
        assert!(invalid(serde_json::json!({"time_start": t("yesterday")})).contains("start time"));
        assert!(
            invalid(
                serde_json::json!({"time_start": t("2030-01-02T00:00:00Z"), "time_end": t("2030-01-01T00:00:00Z")})
            )
            .contains("Start time cannot be after end time")
        );
        assert_eq!(
            invalid(serde_json::json!({"volume": {"outline_polygon": square(1.0, 1.0, 0.01)}})),
            "Missing start time"
        );
        let no_alt = serde_json::json!({"volume": {"outline_polygon": square(1.0, 1.0, 0.01)},
            "time_start": t("2030-01-01T00:00:00Z"), "time_end": t("2030-01-01T01:00:00Z")});
        assert_eq!(invalid(no_alt.clone()), "Missing lower altitude");
        assert!(union(&[vol(no_alt.clone())], Required { altitudes: false, end_after: 0 }).is_ok());
        let late = Required { altitudes: false, end_after: rfc3339::parse("2031-01-01T00:00:00Z").unwrap() };
        assert_eq!(union(&[vol(no_alt)], late), Err(VolumeError::Invalid("End time may not be in the past".into())));
        assert_eq!(union(&[], REQUIRE_ALL), Err(VolumeError::Invalid("Missing start time".into())));
    }

    #[test]
    fn coverings_fail_before_bounds_are_required() {
        let huge = vol(serde_json::json!({"volume": {"outline_polygon": square(40.0, 7.0, 2.0)}}));
        assert!(matches!(union(std::slice::from_ref(&huge), REQUIRE_ALL), Err(VolumeError::TooLarge(_))));
        assert!(matches!(single(&huge, true), Err(VolumeError::TooLarge(_))));
        let two = vol(
            serde_json::json!({"volume": {"outline_polygon": {"vertices": [{"lat": 1, "lng": 1}, {"lat": 2, "lng": 2}]}}}),
        );
        assert!(matches!(single(&two, true), Err(VolumeError::Geometry(_))));
        let circle = vol(serde_json::json!({"volume": {"outline_circle": {"center": {"lat": 1, "lng": 1}}}}));
        assert!(matches!(single(&circle, true), Err(VolumeError::Invalid(_))));
        let nothing = vol(serde_json::json!({}));
        assert_eq!(single(&nothing, true), Err(missing_footprint()));
        assert_eq!(single(&nothing, false).unwrap().cells, Vec::<u64>::new());
    }
}
