//! From request extents and `area=` strings to covered cells, on the node that took the
//! request, with the reference's checks and messages (docs/rid.md §4). A written extent is
//! read first ([`v1`], [`v2`]: the reference's `FromVolume4D`) and covered later
//! ([`Parsed::cover`]: its `SetExtents`), as the checks of the id and URL come in between.
//!
//! Bounds the reference does not have (docs/dss-limits.md), each a 400: a circle's radius,
//! a polygon's vertices, a covering's cells.

use crate::api::Extent;
use crate::json::V1Volume4D;
use dss_common::json::{Altitude, Circle, LatLngPoint, Time, Volume4D};
use dss_common::rfc3339::{self, Nanos};
use dss_geo::{GeoError, LatLng};

/// Why a search area was refused: 400, or 413 for an area over the limit.
#[derive(Debug, Clone, PartialEq)]
pub enum AreaError {
    Invalid(String),
    TooLarge(String),
}

/// The reference's message for a shape without a covering, then what exactly is wrong.
fn geo_message(e: &GeoError) -> String {
    let reference = match e {
        GeoError::BadCoordinates { .. } => "Coordinates did not create a well-formed area",
        GeoError::TooFewVertices { .. } => "Not enough points in polygon",
        GeoError::TooManyVertices { .. } => "Too many vertices",
        GeoError::SelfIntersecting { edge_a, edge_b } => {
            return format!("Intersection found between polygon edge {edge_a} and {edge_b}");
        }
        GeoError::InvalidLoop(_) => "Error validating loop",
        GeoError::AreaTooLarge { .. } => "Area too large",
        GeoError::BadRadius { .. } => "Radius must be larger than 0",
        GeoError::RadiusTooLarge { .. } => "Radius too large",
        GeoError::TooManyCells => "Area too large",
    };
    format!("{reference}: {e}")
}

fn point(p: &LatLngPoint) -> LatLng {
    LatLng { lat: p.lat, lng: p.lng }
}

enum Outline {
    Polygon(Vec<LatLng>),
    /// The radius in meters, a float32 as in the reference.
    Circle(LatLng, f32),
}

/// A written extent, checked but not yet covered.
pub struct Parsed {
    start: Option<Nanos>,
    end: Option<Nanos>,
    outline: Outline,
}

impl Parsed {
    /// The extent with its outline's level-13 covering; a refusal is a 400's message (an
    /// area over the limit included).
    pub fn cover(self) -> Result<Extent, String> {
        let cells = match &self.outline {
            Outline::Polygon(vertices) => dss_geo::cover_polygon(vertices),
            Outline::Circle(center, radius) => dss_geo::cover_circle(*center, f64::from(*radius)),
        };
        let cells = cells.map_err(|e| geo_message(&e))?;
        Ok(Extent { start: self.start, end: self.end, cells })
    }
}

/// The reference wraps every conversion error so.
fn volume_error(root: impl std::fmt::Display) -> String {
    format!("Error parsing Volume4D: {root}")
}

fn time(value: &str) -> Result<Nanos, String> {
    rfc3339::parse(value).map_err(volume_error)
}

/// A v1 extent: its footprint (the caller checks that it has vertices) and bare RFC 3339
/// times. Its altitudes are not used, as in the reference.
pub fn v1(v: &V1Volume4D) -> Result<Parsed, String> {
    let start = v.time_start.as_deref().map(time).transpose()?;
    let end = v.time_end.as_deref().map(time).transpose()?;
    let vertices = v.spatial_volume.footprint.vertices.iter().map(point).collect();
    Ok(Parsed { start, end, outline: Outline::Polygon(vertices) })
}

fn v2_altitude(a: Option<&Altitude>) -> Result<(), String> {
    let Some(a) = a else { return Ok(()) };
    if a.reference != "W84" {
        return Err(volume_error(format!("Invalid altitude reference '{}'; expected 'W84'", a.reference)));
    }
    if a.units != "M" {
        return Err(volume_error(format!("Invalid units '{}'; expected 'M'", a.units)));
    }
    Ok(())
}

fn v2_circle(c: &Circle) -> Result<Outline, String> {
    let center = c.center.as_ref().ok_or_else(|| volume_error("Missing `center` from circle"))?;
    let radius = c.radius.as_ref().ok_or_else(|| volume_error("Missing `radius` from circle"))?;
    if radius.units != "M" {
        return Err(volume_error("Only circle radius units of 'M' are acceptable for UTM"));
    }
    Ok(Outline::Circle(point(center), radius.value))
}

fn v2_time(t: Option<&Time>) -> Result<Option<Nanos>, String> {
    let Some(t) = t else { return Ok(None) };
    if t.format != "RFC3339" {
        return Err(volume_error(format!("Invalid time format '{}'; expected 'RFC3339'", t.format)));
    }
    if t.value.is_empty() {
        return Err(volume_error("Time structure specified, but `value` was missing"));
    }
    time(&t.value).map(Some)
}

/// A v2 extent, checked in the reference's order: the lower then upper altitude (W84, in
/// meters; not used further), one outline (a polygon, or a circle with a center and a
/// radius in meters), then the start and end times (`{value, format: "RFC3339"}`).
pub fn v2(v: &Volume4D) -> Result<Parsed, String> {
    let volume = &v.volume;
    v2_altitude(volume.altitude_lower.as_ref())?;
    v2_altitude(volume.altitude_upper.as_ref())?;
    let outline = match (&volume.outline_polygon, &volume.outline_circle) {
        (Some(_), Some(_)) => {
            return Err(volume_error("Only one of outline_circle or outline_polygon may be specified"));
        }
        (Some(polygon), None) => Outline::Polygon(polygon.vertices.iter().map(point).collect()),
        (None, Some(circle)) => v2_circle(circle)?,
        (None, None) => {
            return Err(volume_error("Neither outline_polygon nor outline_circle were specified in volume"));
        }
    };
    let start = v2_time(v.time_start.as_ref())?;
    let end = v2_time(v.time_end.as_ref())?;
    Ok(Parsed { start, end, outline })
}

/// The covering of a search's `area=lat0,lng0,lat1,lng1,...` (both versions).
pub fn area(raw: &str) -> Result<Vec<u64>, AreaError> {
    let numbers: Vec<&str> = raw.split(',').collect();
    // Before parsing any number (`cover_polygon` would refuse them all the same).
    if numbers.len() / 2 > dss_geo::MAX_VERTICES {
        let e = GeoError::TooManyVertices { count: numbers.len() / 2 };
        return Err(AreaError::Invalid(geo_message(&e)));
    }
    if numbers.len() % 2 == 1 {
        return Err(AreaError::Invalid("Odd number of coordinates in area string".into()));
    }
    if numbers.len() / 2 < 3 {
        return Err(AreaError::Invalid("Not enough points in polygon".into()));
    }
    let number = |s: &str| {
        s.trim().parse::<f64>().map_err(|_| {
            AreaError::Invalid(format!("Coordinates did not create a well-formed area: `{}` is not a number", s.trim()))
        })
    };
    let vertices = numbers
        .chunks(2)
        .map(|pair| Ok(LatLng { lat: number(pair[0])?, lng: number(pair[1])? }))
        .collect::<Result<Vec<_>, AreaError>>()?;
    dss_geo::cover_polygon(&vertices).map_err(|e| match e {
        // The reference's limit, answered as it does; our bounds are 400s.
        GeoError::AreaTooLarge { .. } => AreaError::TooLarge(geo_message(&e)),
        e => AreaError::Invalid(geo_message(&e)),
    })
}
