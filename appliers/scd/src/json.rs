//! The JSON bodies of the SCD and aux APIs (scd-utm.yaml, aux.yaml), field for field as the
//! reference's generated Go types read and write them.
//!
//! Reading mirrors Go's `encoding/json`: unknown fields are ignored, `null` or an absent field
//! leaves a plain field at its zero value (`or_zero`), and only the first JSON value of the
//! body is read. (Go also matches keys case-insensitively, `State` for `state`; here such
//! keys are ignored as unknown.) These types stay on the node that took the request: they
//! never travel in an entry, so `skip_serializing_if` is fine here.

use crate::api::{AvailabilityStatus, ConstraintRef, DssInstance, OirRef, Subscriber, SubscriptionView};
use crate::rfc3339;

use serde::{Deserialize, Serialize};
use wasmraft_sdk::Id;

pub use dss_common::json::{Altitude, Circle, LatLngPoint, Polygon, Time, Volume4D, or_zero};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImplicitSubscriptionParameters {
    #[serde(default, deserialize_with = "or_zero")]
    pub uss_base_url: String,
    pub notify_for_constraints: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PutOperationalIntentReferenceParameters {
    #[serde(default, deserialize_with = "or_zero")]
    pub extents: Vec<Volume4D>,
    pub key: Option<Vec<String>>,
    #[serde(default, deserialize_with = "or_zero")]
    pub state: String,
    #[serde(default, deserialize_with = "or_zero")]
    pub uss_base_url: String,
    pub subscription_id: Option<String>,
    pub new_subscription: Option<ImplicitSubscriptionParameters>,
    pub requested_ovn_suffix: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PutConstraintReferenceParameters {
    #[serde(default, deserialize_with = "or_zero")]
    pub extents: Vec<Volume4D>,
    #[serde(default, deserialize_with = "or_zero")]
    pub uss_base_url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PutSubscriptionParameters {
    #[serde(default, deserialize_with = "or_zero")]
    pub extents: Volume4D,
    #[serde(default, deserialize_with = "or_zero")]
    pub uss_base_url: String,
    pub notify_for_operational_intents: Option<bool>,
    pub notify_for_constraints: Option<bool>,
}

/// The body of the three `/query` routes.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueryParameters {
    pub area_of_interest: Option<Volume4D>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SetUssAvailabilityStatusParameters {
    #[serde(default, deserialize_with = "or_zero")]
    pub old_version: String,
    #[serde(default, deserialize_with = "or_zero")]
    pub availability: String,
}

/// A DSS report, read and echoed back with its `report_id` set.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ErrorReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    #[serde(default, deserialize_with = "or_zero")]
    pub exchange: ExchangeRecord,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExchangeRecord {
    #[serde(default, deserialize_with = "or_zero")]
    pub url: String,
    #[serde(default, deserialize_with = "or_zero")]
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<String>>,
    #[serde(default, deserialize_with = "or_zero")]
    pub recorder_role: String,
    #[serde(default, deserialize_with = "or_zero")]
    pub request_time: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_time: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

// ---- Responses ----

/// Stands in for the subscription of an OIR that has none.
const NULL_V4_UUID: &str = "00000000-0000-4000-8000-000000000000";

#[derive(Debug, Serialize)]
pub struct OperationalIntentReference<'a> {
    id: Id,
    manager: &'a str,
    uss_availability: &'static str,
    version: i32,
    state: &'static str,
    ovn: &'a str,
    time_start: Time,
    time_end: Time,
    uss_base_url: &'a str,
    subscription_id: String,
}

impl<'a> From<&'a OirRef> for OperationalIntentReference<'a> {
    fn from(o: &'a OirRef) -> Self {
        OperationalIntentReference {
            id: o.id,
            manager: &o.manager,
            uss_availability: o.availability.as_str(),
            version: o.version,
            state: o.state.as_str(),
            ovn: &o.ovn,
            time_start: Time::at(o.start),
            time_end: Time::at(o.end),
            uss_base_url: &o.uss_base_url,
            subscription_id: o.subscription_id.map_or_else(|| NULL_V4_UUID.to_string(), |s| s.to_string()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ConstraintReference<'a> {
    id: Id,
    manager: &'a str,
    /// Always "Unknown": the reference does not join availability for constraints.
    uss_availability: &'static str,
    version: i32,
    ovn: &'a str,
    time_start: Time,
    time_end: Time,
    uss_base_url: &'a str,
}

impl<'a> From<&'a ConstraintRef> for ConstraintReference<'a> {
    fn from(c: &'a ConstraintRef) -> Self {
        ConstraintReference {
            id: c.id,
            manager: &c.manager,
            uss_availability: "Unknown",
            version: c.version,
            ovn: &c.ovn,
            time_start: Time::at(c.start),
            time_end: Time::at(c.end),
            uss_base_url: &c.uss_base_url,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Subscription<'a> {
    id: Id,
    version: &'a str,
    notification_index: i32,
    time_start: Time,
    time_end: Time,
    uss_base_url: &'a str,
    notify_for_operational_intents: bool,
    notify_for_constraints: bool,
    implicit_subscription: bool,
    dependent_operational_intents: &'a [Id],
}

impl<'a> From<&'a SubscriptionView> for Subscription<'a> {
    fn from(s: &'a SubscriptionView) -> Self {
        Subscription {
            id: s.id,
            version: &s.version,
            notification_index: s.notification_index,
            time_start: Time::at(s.start),
            time_end: Time::at(s.end),
            uss_base_url: &s.uss_base_url,
            notify_for_operational_intents: s.notify_for_oirs,
            notify_for_constraints: s.notify_for_constraints,
            implicit_subscription: s.implicit,
            dependent_operational_intents: &s.dependent_oirs,
        }
    }
}

fn all<'a, T, J: From<&'a T>>(items: &'a [T]) -> Vec<J> {
    items.iter().map(J::from).collect()
}

/// `ChangeOperationalIntentReferenceResponse`: `{"subscribers", "operational_intent_reference"}`.
pub fn change_oir_response(oir: &OirRef, subscribers: &[Subscriber]) -> serde_json::Result<Vec<u8>> {
    change_response(subscribers, "operational_intent_reference", &OperationalIntentReference::from(oir))
}

/// `ChangeConstraintReferenceResponse`: `{"subscribers", "constraint_reference"}`.
pub fn change_constraint_response(
    constraint: &ConstraintRef,
    subscribers: &[Subscriber],
) -> serde_json::Result<Vec<u8>> {
    change_response(subscribers, "constraint_reference", &ConstraintReference::from(constraint))
}

/// `{"subscribers":[...],"<name>":<reference>}`, the bytes serde_json writes for the
/// struct of those two fields. A create in a busy cell lists thousands of subscriptions;
/// they are written here directly (an id is a canonical UUID, with nothing to escape)
/// rather than string by string through serde_json, which scans every byte for escapes.
fn change_response<R: Serialize>(subscribers: &[Subscriber], name: &str, reference: &R) -> serde_json::Result<Vec<u8>> {
    // `{"subscription_id":"<36>","notification_index":<up to 11>}` and a comma.
    const PER_SUBSCRIPTION: usize = 19 + 36 + 23 + 11 + 2;
    let listed: usize = subscribers.iter().map(|s| s.subscriptions.len()).sum();
    let mut out = Vec::with_capacity(1024 + listed * PER_SUBSCRIPTION);
    out.extend_from_slice(b"{\"subscribers\":[");
    for (i, subscriber) in subscribers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"uss_base_url\":");
        serde_json::to_writer(&mut out, &subscriber.uss_base_url)?;
        out.extend_from_slice(b",\"subscriptions\":[");
        for (j, state) in subscriber.subscriptions.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"subscription_id\":\"");
            state.subscription_id.with_canonical(|id| out.extend_from_slice(id.as_bytes()));
            out.extend_from_slice(b"\",\"notification_index\":");
            out.extend_from_slice(itoa::Buffer::new().format(state.notification_index).as_bytes());
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"],\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    serde_json::to_writer(&mut out, reference)?;
    out.push(b'}');
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct GetOperationalIntentReferenceResponse<'a> {
    pub operational_intent_reference: OperationalIntentReference<'a>,
}

#[derive(Debug, Serialize)]
pub struct QueryOperationalIntentReferenceResponse<'a> {
    operational_intent_references: Vec<OperationalIntentReference<'a>>,
}

impl<'a> QueryOperationalIntentReferenceResponse<'a> {
    pub fn new(oirs: &'a [OirRef]) -> Self {
        QueryOperationalIntentReferenceResponse { operational_intent_references: all(oirs) }
    }
}

#[derive(Debug, Serialize)]
pub struct GetConstraintReferenceResponse<'a> {
    pub constraint_reference: ConstraintReference<'a>,
}

#[derive(Debug, Serialize)]
pub struct QueryConstraintReferencesResponse<'a> {
    constraint_references: Vec<ConstraintReference<'a>>,
}

impl<'a> QueryConstraintReferencesResponse<'a> {
    pub fn new(constraints: &'a [ConstraintRef]) -> Self {
        QueryConstraintReferencesResponse { constraint_references: all(constraints) }
    }
}

/// `GetSubscriptionResponse` and `DeleteSubscriptionResponse`.
#[derive(Debug, Serialize)]
pub struct SubscriptionResponse<'a> {
    pub subscription: Subscription<'a>,
}

#[derive(Debug, Serialize)]
pub struct PutSubscriptionResponse<'a> {
    subscription: Subscription<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operational_intent_references: Option<Vec<OperationalIntentReference<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    constraint_references: Option<Vec<ConstraintReference<'a>>>,
}

impl<'a> PutSubscriptionResponse<'a> {
    pub fn new(
        subscription: &'a SubscriptionView,
        oirs: Option<&'a [OirRef]>,
        constraints: Option<&'a [ConstraintRef]>,
    ) -> Self {
        PutSubscriptionResponse {
            subscription: subscription.into(),
            operational_intent_references: oirs.map(all),
            constraint_references: constraints.map(all),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct QuerySubscriptionsResponse<'a> {
    subscriptions: Vec<Subscription<'a>>,
}

impl<'a> QuerySubscriptionsResponse<'a> {
    pub fn new(subscriptions: &'a [SubscriptionView]) -> Self {
        QuerySubscriptionsResponse { subscriptions: all(subscriptions) }
    }
}

#[derive(Debug, Serialize)]
pub struct AirspaceConflictResponse<'a> {
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing_operational_intents: Option<Vec<OperationalIntentReference<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing_constraints: Option<Vec<ConstraintReference<'a>>>,
}

impl<'a> AirspaceConflictResponse<'a> {
    /// Lists that are empty are left out, as the reference leaves them nil.
    pub fn new(message: &'a str, oirs: &'a [OirRef], constraints: &'a [ConstraintRef]) -> Self {
        AirspaceConflictResponse {
            message,
            missing_operational_intents: (!oirs.is_empty()).then(|| all(oirs)),
            missing_constraints: (!constraints.is_empty()).then(|| all(constraints)),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct UssAvailabilityStatus<'a> {
    uss: &'a str,
    availability: &'static str,
}

#[derive(Debug, Serialize)]
pub struct UssAvailabilityStatusResponse<'a> {
    version: &'a str,
    status: UssAvailabilityStatus<'a>,
}

impl<'a> From<&'a AvailabilityStatus> for UssAvailabilityStatusResponse<'a> {
    fn from(a: &'a AvailabilityStatus) -> Self {
        UssAvailabilityStatusResponse {
            version: &a.version,
            status: UssAvailabilityStatus { uss: &a.uss, availability: a.availability.as_str() },
        }
    }
}

// ---- Aux ----

#[derive(Debug, Serialize)]
pub struct VersionResponse {
    pub version: String,
}

/// versioning.yaml's `GetVersionResponse`.
#[derive(Debug, Serialize)]
pub struct SystemVersionResponse {
    pub system_identity: String,
    pub system_version: String,
}

#[derive(Debug, Serialize)]
pub struct PoolResponse {
    pub dar_id: String,
}

#[derive(Debug, Serialize)]
pub struct Heartbeat<'a> {
    timestamp: String,
    reporter: &'a str,
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_heartbeat_expected_before: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DssInstanceJson<'a> {
    id: &'a str,
    public_endpoint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    most_recent_heartbeat: Option<Heartbeat<'a>>,
}

impl<'a> From<&'a DssInstance> for DssInstanceJson<'a> {
    fn from(i: &'a DssInstance) -> Self {
        DssInstanceJson {
            id: &i.id,
            public_endpoint: &i.public_endpoint,
            most_recent_heartbeat: i.most_recent_heartbeat.as_ref().map(|h| Heartbeat {
                timestamp: rfc3339::format(h.timestamp),
                reporter: &h.reporter,
                source: &h.source,
                next_heartbeat_expected_before: h.next_expected_before.map(rfc3339::format),
            }),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DssInstancesResponse<'a> {
    dss_instances: Vec<DssInstanceJson<'a>>,
}

impl<'a> DssInstancesResponse<'a> {
    pub fn new(instances: &'a [DssInstance]) -> Self {
        DssInstancesResponse { dss_instances: all(instances) }
    }
}

#[derive(Debug, Serialize)]
pub struct GlobalOptionsResponse {
    pub scd_global_lock: bool,
    pub scd_hash_lock: bool,
    pub time_based_notification_index: bool,
}

/// `CAsResponse` with no `CAs`: this DSS has no CA files to show.
#[derive(Debug, Serialize)]
pub struct CAsResponse {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Availability, OirState, SubscriptionState};

    /// The derived serialization the hand-written responses must equal, byte for byte.
    #[derive(Serialize)]
    struct Model<'a, R> {
        subscribers: &'a [Subscriber],
        /// One entry: the reference under its field name.
        #[serde(flatten)]
        reference: std::collections::BTreeMap<&'a str, R>,
    }

    fn model<R: Serialize>(subscribers: &[Subscriber], name: &str, reference: R) -> Vec<u8> {
        serde_json::to_vec(&Model { subscribers, reference: [(name, reference)].into() }).unwrap()
    }

    fn subscribers(urls: &[&str], per_url: usize) -> Vec<Subscriber> {
        let mut n = 0u8;
        urls.iter()
            .map(|url| Subscriber {
                uss_base_url: url.to_string(),
                subscriptions: (0..per_url)
                    .map(|i| {
                        n = n.wrapping_add(37);
                        let index = [0, 1, -1, i32::MAX, i32::MIN, 86_399_999][i % 6];
                        SubscriptionState { subscription_id: Id([n; 16]), notification_index: index }
                    })
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn change_responses_are_what_serde_json_writes() {
        let oir = OirRef {
            id: Id([7; 16]),
            manager: "uss \"one\"".into(),
            availability: Availability::Down,
            version: 3,
            state: OirState::Accepted,
            ovn: "ovn-1".into(),
            start: 1_700_000_000_000_000_000,
            end: 1_700_000_060_000_000_000,
            uss_base_url: "https://uss.example.com/utm".into(),
            subscription_id: Some(Id([9; 16])),
        };
        let constraint = ConstraintRef {
            id: Id([8; 16]),
            manager: "uss2".into(),
            version: 1,
            ovn: "ovn-2".into(),
            start: 0,
            end: 1,
            uss_base_url: "https://c.example.com".into(),
        };
        let urls = ["https://uss.example.com/utm", "https://é.example.com/\"quoted\"\\\n", ""];
        for (urls, per_url) in [(&urls[..0], 0), (&urls[..1], 0), (&urls[..1], 1), (&urls[..], 7)] {
            let subscribers = subscribers(urls, per_url);
            let oir_json = change_oir_response(&oir, &subscribers).unwrap();
            let expected = model(&subscribers, "operational_intent_reference", OperationalIntentReference::from(&oir));
            assert_eq!(String::from_utf8(oir_json).unwrap(), String::from_utf8(expected).unwrap());
            let constraint_json = change_constraint_response(&constraint, &subscribers).unwrap();
            let expected = model(&subscribers, "constraint_reference", ConstraintReference::from(&constraint));
            assert_eq!(String::from_utf8(constraint_json).unwrap(), String::from_utf8(expected).unwrap());
        }
    }
}
