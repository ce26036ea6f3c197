//! From request extents and `area=` strings to covered extents (on the node that took the
//! request, before anything is proposed), with the reference's checks in its order
//! (`pkg/rid/models/api/v{1,2}/conversions.go`, `common/conversions.go`; docs/rid.md).

use crate::api::Extent;
use crate::json::{V1Polygon, V1Volume4D};
use dss_common::json::{Altitude, Circle, LatLngPoint, Time, Volume4D};
use dss_common::rfc3339::{self, Nanos};
use dss_geo::{GeoError, LatLng};

/// Why an extent or area was refused: writes answer 400 either way, searches 413 for an
/// area over the limit.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtentError {
    Invalid(String),
    TooLarge(String),
}

impl ExtentError {
    pub fn message(&self) -> &str {
        match self {
            ExtentError::Invalid(m) | ExtentError::TooLarge(m) => m,
        }
    }
}

fn invalid(message: impl Into<String>) -> ExtentError {
    ExtentError::Invalid(message.into())
}

fn geometry(e: GeoError) -> ExtentError {
    match e {
        GeoError::AreaTooLarge { .. } => ExtentError::TooLarge(format!("Area is too large: {e}")),
        e => invalid(format!("Bad area: {e}")),
    }
}

fn cover_polygon(vertices: &[LatLngPoint]) -> Result<Vec<u64>, ExtentError> {
    let points: Vec<LatLng> = vertices.iter().map(|p| LatLng { lat: p.lat, lng: p.lng }).collect();
    dss_geo::cover_polygon(&points).map_err(geometry)
}

fn time(raw: &str, which: &str) -> Result<Nanos, ExtentError> {
    rfc3339::parse(raw).map_err(|e| invalid(format!("Error parsing {which} time of Volume4D: {e}")))
}

/// A v1 `Volume4D`: a footprint polygon, bare RFC 3339 times (its altitudes are not used).
pub fn v1(v: &V1Volume4D) -> Result<Extent, ExtentError> {
    let spatial = v.spatial_volume.as_ref().ok_or_else(|| invalid("Missing required spatial_volume"))?;
    let footprint = spatial.footprint.as_ref().map_or(&[][..], |V1Polygon { vertices }| vertices);
    let cells = cover_polygon(footprint)?;
    let start = v.time_start.as_deref().map(|t| time(t, "start")).transpose()?;
    let end = v.time_end.as_deref().map(|t| time(t, "end")).transpose()?;
    Ok(Extent { start, end, cells })
}

fn v2_altitude(a: Option<&Altitude>, which: &str) -> Result<(), ExtentError> {
    let Some(a) = a else { return Ok(()) };
    if a.reference != "W84" {
        return Err(invalid(format!(
            "Error parsing {which} altitude of Volume3D: Invalid altitude reference '{}'; expected 'W84'",
            a.reference
        )));
    }
    if a.units != "M" {
        return Err(invalid(format!(
            "Error parsing {which} altitude of Volume3D: Invalid units '{}'; expected 'M'",
            a.units
        )));
    }
    Ok(())
}

fn v2_time(t: Option<&Time>, which: &str) -> Result<Option<Nanos>, ExtentError> {
    let Some(t) = t else { return Ok(None) };
    if t.format != "RFC3339" {
        return Err(invalid(format!(
            "Error parsing {which} time of Volume4D: Invalid time format '{}'; expected 'RFC3339'",
            t.format
        )));
    }
    if t.value.is_empty() {
        return Err(invalid(format!(
            "Error parsing {which} time of Volume4D: Time structure specified, but `value` was missing"
        )));
    }
    time(&t.value, which).map(Some)
}

fn v2_circle(c: &Circle) -> Result<Vec<u64>, ExtentError> {
    let why = |m: &str| invalid(format!("Error parsing outline_circle for Volume3D: {m}"));
    let center = c.center.as_ref().ok_or_else(|| why("Missing `center` from circle"))?;
    let radius = c.radius.as_ref().ok_or_else(|| why("Missing `radius` from circle"))?;
    if radius.units != "M" {
        return Err(why("Only circle radius units of 'M' are acceptable for UTM"));
    }
    // The reference keeps the radius as float32.
    dss_geo::cover_circle(LatLng { lat: center.lat, lng: center.lng }, f64::from(radius.value)).map_err(geometry)
}

/// A v2 `Volume4D`: altitudes W84 in meters (not used further), one outline (polygon or
/// circle with its radius in meters), times `{value, format: "RFC3339"}`.
pub fn v2(v: &Volume4D) -> Result<Extent, ExtentError> {
    let volume = &v.volume;
    v2_altitude(volume.altitude_lower.as_ref(), "lower")?;
    v2_altitude(volume.altitude_upper.as_ref(), "upper")?;
    let cells = match (&volume.outline_polygon, &volume.outline_circle) {
        (Some(_), Some(_)) => return Err(invalid("Only one of outline_circle or outline_polygon may be specified")),
        (Some(polygon), None) => cover_polygon(&polygon.vertices)?,
        (None, Some(circle)) => v2_circle(circle)?,
        (None, None) => return Err(invalid("Neither outline_polygon nor outline_circle were specified in volume")),
    };
    let start = v2_time(v.time_start.as_ref(), "start")?;
    let end = v2_time(v.time_end.as_ref(), "end")?;
    Ok(Extent { start, end, cells })
}

/// The covering of a search's `area=lat0,lng0,lat1,lng1,...` (both versions).
pub fn area(raw: &str) -> Result<Vec<u64>, ExtentError> {
    let numbers: Vec<&str> = raw.split(',').collect();
    if numbers.len() % 2 == 1 {
        return Err(invalid("Bad area: odd number of coordinates in area string"));
    }
    if numbers.len() / 2 < 3 {
        return Err(invalid("Bad area: not enough points in polygon"));
    }
    let mut vertices = Vec::with_capacity(numbers.len() / 2);
    for pair in numbers.chunks(2) {
        let number =
            |s: &str| s.trim().parse::<f64>().map_err(|_| invalid(format!("Bad area: `{}` is not a number", s.trim())));
        vertices.push(LatLngPoint { lat: number(pair[0])?, lng: number(pair[1])? });
    }
    cover_polygon(&vertices)
}
