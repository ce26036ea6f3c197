//! The geometry and time shapes of the DSS's JSON bodies (the ASTM `Volume4D` family that
//! SCD and RID v2 share), read as Go's `encoding/json` reads them: unknown fields are
//! ignored, and `null` or an absent field leaves a plain field at its zero value
//! ([`or_zero`]). These stay on the node that took the request: they never travel in an
//! entry.

use crate::rfc3339::{self, Nanos};
use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

/// A field Go would leave at its zero value when absent or `null`.
pub fn or_zero<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `{value, format}`. SCD reads `value` as RFC 3339 with any offset and ignores `format`;
/// RID v2 requires `format` "RFC3339".
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Time {
    #[serde(default, deserialize_with = "or_zero")]
    pub value: String,
    #[serde(default, deserialize_with = "or_zero")]
    pub format: String,
}

impl Time {
    pub fn at(t: Nanos) -> Time {
        Time { value: rfc3339::format(t), format: "RFC3339".to_string() }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Altitude {
    #[serde(default, deserialize_with = "or_zero")]
    pub value: f64,
    #[serde(default, deserialize_with = "or_zero")]
    pub reference: String,
    #[serde(default, deserialize_with = "or_zero")]
    pub units: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LatLngPoint {
    #[serde(default, deserialize_with = "or_zero")]
    pub lat: f64,
    #[serde(default, deserialize_with = "or_zero")]
    pub lng: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Polygon {
    #[serde(default, deserialize_with = "or_zero")]
    pub vertices: Vec<LatLngPoint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Radius {
    /// float32 in the reference.
    #[serde(default, deserialize_with = "or_zero")]
    pub value: f32,
    /// SCD ignores it; RID v2 requires "M".
    #[serde(default, deserialize_with = "or_zero")]
    pub units: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Circle {
    pub center: Option<LatLngPoint>,
    pub radius: Option<Radius>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Volume3D {
    pub outline_circle: Option<Circle>,
    pub outline_polygon: Option<Polygon>,
    pub altitude_lower: Option<Altitude>,
    pub altitude_upper: Option<Altitude>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Volume4D {
    #[serde(default, deserialize_with = "or_zero")]
    pub volume: Volume3D,
    pub time_start: Option<Time>,
    pub time_end: Option<Time>,
}
