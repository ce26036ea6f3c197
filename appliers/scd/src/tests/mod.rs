//! The applier through HTTP, as a node serves it (`dss_common::testing::Client`: handle,
//! then the command through postcard as the next entry or the query, then render).

mod availability;
mod constraint;
mod expiry;
mod limits;
mod messages;
mod migrate;
mod notify;
mod oir;
mod scopes;
mod search;
mod service;
mod subscription;

use crate::auth::{AA, CM, CMSA, CP, SC};
use crate::rfc3339::{self, NANOS_PER_DAY, NANOS_PER_MINUTE, Nanos};
use crate::{Command, NO_OVN_PHRASE, Scd, TTL};
use dss_common::testing::{Client, Who, message, str_of};
use serde_json::{Value, json};
use std::ops::{Deref, DerefMut};
use wasmraft_sdk::Encoding;
use wasmraft_sdk::http::Request;
use wasmraft_sdk::testing::TestHost;

/// 2030-01-01T00:00:00Z.
const T0: Nanos = 1_893_456_000 * 1_000_000_000;

const USS1: Who = Who { sub: "uss1", scopes: &[SC, CP, CM] };
const USS2: Who = Who { sub: "uss2", scopes: &[SC, CP, CM] };
const USS1_CMSA: Who = Who { sub: "uss1", scopes: &[SC, CP, CMSA] };
const ARBITER: Who = Who { sub: "arbiter", scopes: &[AA] };

fn id(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-000000000000")
}

fn at(offset: Nanos) -> String {
    rfc3339::format(T0 + offset)
}

fn minutes(n: i64) -> Nanos {
    n * NANOS_PER_MINUTE
}

fn time(offset: Nanos) -> Value {
    json!({"value": at(offset), "format": "RFC3339"})
}

fn alt(v: f64) -> Value {
    json!({"value": v, "reference": "W84", "units": "M"})
}

fn square(lat: f64, lng: f64, size: f64) -> Value {
    json!({"vertices": [
        {"lat": lat, "lng": lng}, {"lat": lat + size, "lng": lng},
        {"lat": lat + size, "lng": lng + size}, {"lat": lat, "lng": lng + size}]})
}

/// A 4D volume over a small square at (lat, lng), from `from` to `to` after T0, 0–100 m.
fn volume(lat: f64, lng: f64, from: Nanos, to: Nanos) -> Value {
    json!({"volume": {"outline_polygon": square(lat, lng, 0.01), "altitude_lower": alt(0.0), "altitude_upper": alt(100.0)},
           "time_start": time(from), "time_end": time(to)})
}

/// The usual test area and window.
fn here() -> Value {
    volume(46.0, 7.0, minutes(10), minutes(70))
}

fn oir(state: &str, extents: Value, key: &[&str]) -> Value {
    json!({"extents": [extents], "key": key, "state": state, "uss_base_url": "https://uss.example.com/utm"})
}

fn oir_path(id: &str) -> String {
    format!("/dss/v1/operational_intent_references/{id}")
}

fn constraint_path(id: &str) -> String {
    format!("/dss/v1/constraint_references/{id}")
}

fn sub_path(id: &str) -> String {
    format!("/dss/v1/subscriptions/{id}")
}

fn subscription(extents: Value, for_oirs: bool, for_constraints: bool) -> Value {
    json!({"extents": extents, "uss_base_url": "https://sub.example.com",
           "notify_for_operational_intents": for_oirs, "notify_for_constraints": for_constraints})
}

/// The SCD applier over an in-memory store, its clock at T0 until set.
struct Dss(Client<Scd>);

impl Deref for Dss {
    type Target = Client<Scd>;
    fn deref(&self) -> &Client<Scd> {
        &self.0
    }
}

impl DerefMut for Dss {
    fn deref_mut(&mut self) -> &mut Client<Scd> {
        &mut self.0
    }
}

impl Dss {
    fn new() -> Dss {
        Dss(Client::new(T0))
    }

    /// Creates OIR `n`; returns its reference.
    fn create_oir(&mut self, who: Who, n: u32, body: &Value) -> Value {
        let (status, reply) = self.put(who, &oir_path(&id(n)), body);
        assert_eq!(status, 201, "{reply}");
        reply["operational_intent_reference"].clone()
    }

    fn create_sub(&mut self, who: Who, n: u32, body: &Value) -> Value {
        let (status, reply) = self.put(who, &sub_path(&id(n)), body);
        assert_eq!(status, 200, "{reply}");
        reply["subscription"].clone()
    }

    fn sub_by_id(&mut self, id: &str) -> Value {
        let (status, reply) = self.get(USS1, &sub_path(id));
        assert_eq!(status, 200, "{reply}");
        reply["subscription"].clone()
    }

    fn sub(&mut self, who: Who, n: u32) -> Value {
        let (status, reply) = self.get(who, &sub_path(&id(n)));
        assert_eq!(status, 200, "{reply}");
        reply["subscription"].clone()
    }
}

/// `subscribers` as (url, [(id, index)]).
fn subscribers(reply: &Value) -> Vec<(String, Vec<(String, i64)>)> {
    reply["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let subs = s["subscriptions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| (str_of(&x["subscription_id"]).to_string(), x["notification_index"].as_i64().unwrap()))
                .collect();
            (str_of(&s["uss_base_url"]).to_string(), subs)
        })
        .collect()
}

/// With `new_subscription` for uss1.
fn with_new_sub(mut body: Value) -> Value {
    body["new_subscription"] = json!({"uss_base_url": "https://uss1.example.com"});
    body
}
