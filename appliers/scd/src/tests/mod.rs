//! The applier through HTTP, as a node serves it (`TestHost::serve`: handle, then the
//! command through postcard as the next entry or the query, then render).

mod availability;
mod constraint;
mod expiry;
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
use serde_json::{Value, json};
use wasmraft_sdk::Encoding;
use wasmraft_sdk::http::Request;
use wasmraft_sdk::testing::TestHost;

/// 2030-01-01T00:00:00Z.
const T0: Nanos = 1_893_456_000 * 1_000_000_000;

#[derive(Clone, Copy)]
struct Who {
    sub: &'static str,
    scopes: &'static [&'static str],
}

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

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

struct Dss {
    host: TestHost,
}

impl Dss {
    fn new() -> Dss {
        let mut host = TestHost::new();
        host.set_time(T0 as u64);
        Dss { host }
    }

    fn set_time(&mut self, offset: Nanos) {
        self.host.set_time((T0 + offset) as u64);
    }

    fn serve(&mut self, request: Request) -> (u16, Value) {
        let response = self.host.serve::<Scd>(request);
        let body = if response.body.is_empty() { Value::Null } else { response.json_body().expect("a JSON body") };
        (response.status, body)
    }

    fn call(&mut self, who: Who, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request = Request::new(method, path).with_caller(who.sub, who.scopes);
        if let Some(body) = body {
            request = request.with_body(body.to_string());
        }
        self.serve(request)
    }

    fn put(&mut self, who: Who, path: &str, body: &Value) -> (u16, Value) {
        self.call(who, "PUT", path, Some(body))
    }

    fn get(&mut self, who: Who, path: &str) -> (u16, Value) {
        self.call(who, "GET", path, None)
    }

    fn delete(&mut self, who: Who, path: &str) -> (u16, Value) {
        self.call(who, "DELETE", path, None)
    }

    fn post(&mut self, who: Who, path: &str, body: &Value) -> (u16, Value) {
        self.call(who, "POST", path, Some(body))
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

    /// A refused call must leave the store as it was.
    fn refused(&mut self, who: Who, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let before = self.host.store.clone();
        let (status, reply) = self.call(who, method, path, body);
        assert!(status >= 400, "{status} {reply}");
        assert!(self.host.store == before, "a refused {method} {path} changed the store");
        (status, reply)
    }
}

fn message(reply: &Value) -> &str {
    str_of(&reply["message"])
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
