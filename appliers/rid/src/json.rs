//! The JSON bodies of F3411 v1 (rid-v1.yaml) and v2 (rid-v2.yaml), field for field as the
//! reference's generated Go types read and write them (docs/rid.md §9): unknown fields are
//! ignored, `null` or an absent plain field is its zero value. v2's geometry and times are
//! the ASTM shapes SCD shares (`dss_common::json`); v1 has a footprint polygon, plain
//! altitudes and bare RFC 3339 strings. Each version shows an entity's URL and times its
//! own way, whichever version wrote it.

use crate::api::{self, Subscriber};
use dss_common::json::{Polygon, Time, Volume4D, or_zero};
use dss_common::rfc3339::{self, Nanos};
use serde::{Deserialize, Serialize};
use wasmraft_sdk::Id;

// ---- Requests ----

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1Volume3D {
    #[serde(default, deserialize_with = "or_zero")]
    pub footprint: Polygon,
    /// Decoded only to refuse a body whose altitudes are not numbers, as Go does: the
    /// reference never uses them.
    #[serde(default, rename = "altitude_lo")]
    _altitude_lo: Option<f32>,
    #[serde(default, rename = "altitude_hi")]
    _altitude_hi: Option<f32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1Volume4D {
    #[serde(default, deserialize_with = "or_zero")]
    pub spatial_volume: V1Volume3D,
    pub time_start: Option<String>,
    pub time_end: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1IsaParameters {
    #[serde(default, deserialize_with = "or_zero")]
    pub extents: V1Volume4D,
    #[serde(default, deserialize_with = "or_zero")]
    pub flights_url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1Callbacks {
    pub identification_service_area_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct V1SubscriptionParameters {
    #[serde(default, deserialize_with = "or_zero")]
    pub extents: V1Volume4D,
    #[serde(default, deserialize_with = "or_zero")]
    pub callbacks: V1Callbacks,
}

/// v2 ISAs and subscriptions take the same body.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct V2Parameters {
    #[serde(default, deserialize_with = "or_zero")]
    pub extents: Volume4D,
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

impl TimeOut {
    fn at(v2: bool, t: Nanos) -> Self {
        if v2 { TimeOut::V2(Time::at(t)) } else { TimeOut::V1(rfc3339::format(t)) }
    }
}

/// v1 shows the URL as `flights_url`, v2 as `uss_base_url`.
#[derive(Debug, Serialize)]
pub struct IdentificationServiceArea<'a> {
    id: Id,
    owner: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    flights_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uss_base_url: Option<&'a str>,
    time_start: TimeOut,
    time_end: TimeOut,
    version: &'a str,
}

impl<'a> IdentificationServiceArea<'a> {
    pub fn new(v2: bool, id: Id, isa: &'a api::Isa) -> Self {
        IdentificationServiceArea {
            id,
            owner: &isa.owner,
            flights_url: (!v2).then_some(isa.url.as_str()),
            uss_base_url: v2.then_some(isa.url.as_str()),
            time_start: TimeOut::at(v2, isa.start),
            time_end: TimeOut::at(v2, isa.end),
            version: &isa.version,
        }
    }

    pub fn list(v2: bool, isas: &'a [(Id, api::Isa)]) -> Vec<Self> {
        isas.iter().map(|(id, isa)| IdentificationServiceArea::new(v2, *id, isa)).collect()
    }
}

#[derive(Debug, Serialize)]
pub struct Callbacks<'a> {
    identification_service_area_url: &'a str,
}

/// v1 shows the URL as `callbacks.identification_service_area_url`, v2 as `uss_base_url`.
#[derive(Debug, Serialize)]
pub struct Subscription<'a> {
    id: Id,
    owner: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    callbacks: Option<Callbacks<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uss_base_url: Option<&'a str>,
    notification_index: i32,
    time_start: TimeOut,
    time_end: TimeOut,
    version: &'a str,
}

impl<'a> Subscription<'a> {
    pub fn new(v2: bool, id: Id, s: &'a api::Subscription) -> Self {
        Subscription {
            id,
            owner: &s.owner,
            callbacks: (!v2).then_some(Callbacks { identification_service_area_url: &s.url }),
            uss_base_url: v2.then_some(s.url.as_str()),
            notification_index: s.notification_index,
            time_start: TimeOut::at(v2, s.start),
            time_end: TimeOut::at(v2, s.end),
            version: &s.version,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SubscriptionState {
    subscription_id: Id,
    notification_index: i32,
}

#[derive(Debug, Serialize)]
pub struct SubscriberToNotify<'a> {
    url: &'a str,
    subscriptions: Vec<SubscriptionState>,
}

impl<'a> SubscriberToNotify<'a> {
    pub fn list(subscribers: &'a [Subscriber]) -> Vec<Self> {
        let state = |&(subscription_id, notification_index): &(Id, i32)| SubscriptionState {
            subscription_id,
            notification_index,
        };
        subscribers
            .iter()
            .map(|s| SubscriberToNotify { url: &s.url, subscriptions: s.subscriptions.iter().map(state).collect() })
            .collect()
    }
}

/// The answer to an ISA's put or delete.
#[derive(Debug, Serialize)]
pub struct IsaChangeResponse<'a> {
    pub service_area: IdentificationServiceArea<'a>,
    pub subscribers: Vec<SubscriberToNotify<'a>>,
}

#[derive(Debug, Serialize)]
pub struct GetIsaResponse<'a> {
    pub service_area: IdentificationServiceArea<'a>,
}

#[derive(Debug, Serialize)]
pub struct SearchIsasResponse<'a> {
    pub service_areas: Vec<IdentificationServiceArea<'a>>,
}

#[derive(Debug, Serialize)]
pub struct PutSubscriptionResponse<'a> {
    pub subscription: Subscription<'a>,
    pub service_areas: Vec<IdentificationServiceArea<'a>>,
}

/// The answer to a subscription's get or delete.
#[derive(Debug, Serialize)]
pub struct SubscriptionResponse<'a> {
    pub subscription: Subscription<'a>,
}

#[derive(Debug, Serialize)]
pub struct SearchSubscriptionsResponse<'a> {
    pub subscriptions: Vec<Subscription<'a>>,
}
