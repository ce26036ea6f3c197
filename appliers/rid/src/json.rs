//! The JSON bodies of F3411 v1 (rid-v1.yaml) and v2 (rid-v2.yaml), field for field as the
//! reference's generated Go types read and write them (unknown fields ignored, `null` or an
//! absent plain field at its zero value). v2's geometry and times are the ASTM shapes SCD
//! shares (`dss_common::json`); v1 has a footprint polygon, plain altitudes and bare RFC 3339
//! strings.

use crate::api::{IsaView, Subscriber, SubscriptionView};
use dss_common::json::{LatLngPoint, Time, Volume4D, or_zero};
use dss_common::rfc3339;
use serde::{Deserialize, Serialize};

// ---- Requests, v1 ----

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1Polygon {
    #[serde(default, deserialize_with = "or_zero")]
    pub vertices: Vec<LatLngPoint>,
}

/// Its altitudes (`altitude_lo`, `altitude_hi`) are not used: the reference stores them
/// but never reads them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1Volume3D {
    pub footprint: Option<V1Polygon>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1Volume4D {
    pub spatial_volume: Option<V1Volume3D>,
    pub time_start: Option<String>,
    pub time_end: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1IsaParameters {
    pub extents: Option<V1Volume4D>,
    #[serde(default, deserialize_with = "or_zero")]
    pub flights_url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1Callbacks {
    pub identification_service_area_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1SubscriptionParameters {
    pub extents: Option<V1Volume4D>,
    pub callbacks: Option<V1Callbacks>,
}

// ---- Requests, v2 ----

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V2Parameters {
    pub extents: Option<Volume4D>,
    #[serde(default, deserialize_with = "or_zero")]
    pub uss_base_url: String,
}

// ---- Responses ----

/// A time as each version writes it: v1 a bare RFC 3339 string, v2 `{value, format}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum TimeOut {
    V1(String),
    V2(Time),
}

#[derive(Debug, Serialize)]
pub struct Isa<'a> {
    pub id: String,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flights_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uss_base_url: Option<&'a str>,
    pub time_start: TimeOut,
    pub time_end: TimeOut,
    pub version: &'a str,
}

fn time(v2: bool, t: i64) -> TimeOut {
    match v2 {
        true => TimeOut::V2(Time::at(t)),
        false => TimeOut::V1(rfc3339::format(t)),
    }
}

impl<'a> Isa<'a> {
    pub fn new(isa: &'a IsaView, v2: bool) -> Self {
        Isa {
            id: isa.id.to_string(),
            owner: &isa.owner,
            flights_url: (!v2).then_some(isa.url.as_str()),
            uss_base_url: v2.then_some(isa.url.as_str()),
            time_start: time(v2, isa.start),
            time_end: time(v2, isa.end),
            version: &isa.version,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Callbacks<'a> {
    pub identification_service_area_url: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Subscription<'a> {
    pub id: String,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callbacks: Option<Callbacks<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uss_base_url: Option<&'a str>,
    pub notification_index: i32,
    pub time_start: TimeOut,
    pub time_end: TimeOut,
    pub version: &'a str,
}

impl<'a> Subscription<'a> {
    pub fn new(s: &'a SubscriptionView, v2: bool) -> Self {
        Subscription {
            id: s.id.to_string(),
            owner: &s.owner,
            callbacks: (!v2).then_some(Callbacks { identification_service_area_url: &s.url }),
            uss_base_url: v2.then_some(s.url.as_str()),
            notification_index: s.notification_index,
            time_start: time(v2, s.start),
            time_end: time(v2, s.end),
            version: &s.version,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SubscriptionState {
    pub subscription_id: String,
    pub notification_index: i32,
}

#[derive(Debug, Serialize)]
pub struct SubscriberToNotify<'a> {
    pub url: &'a str,
    pub subscriptions: Vec<SubscriptionState>,
}

impl<'a> SubscriberToNotify<'a> {
    pub fn new(s: &'a Subscriber) -> Self {
        let subscriptions = s
            .subscriptions
            .iter()
            .map(|(id, index)| SubscriptionState { subscription_id: id.to_string(), notification_index: *index })
            .collect();
        SubscriberToNotify { url: &s.url, subscriptions }
    }
}

/// Put and delete of an ISA answer alike.
#[derive(Debug, Serialize)]
pub struct IsaChangeResponse<'a> {
    pub service_area: Isa<'a>,
    pub subscribers: Vec<SubscriberToNotify<'a>>,
}

#[derive(Debug, Serialize)]
pub struct IsaResponse<'a> {
    pub service_area: Isa<'a>,
}

#[derive(Debug, Serialize)]
pub struct IsasResponse<'a> {
    pub service_areas: Vec<Isa<'a>>,
}

#[derive(Debug, Serialize)]
pub struct PutSubscriptionResponse<'a> {
    pub subscription: Subscription<'a>,
    pub service_areas: Vec<Isa<'a>>,
}

#[derive(Debug, Serialize)]
pub struct SubscriptionResponse<'a> {
    pub subscription: Subscription<'a>,
}

#[derive(Debug, Serialize)]
pub struct SubscriptionsResponse<'a> {
    pub subscriptions: Vec<Subscription<'a>>,
}
