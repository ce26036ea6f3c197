//! The applier through HTTP, as a node serves it (`TestHost::serve`: handle, then the
//! command through postcard as the next entry or the query, then render), for both API
//! versions.

mod bad_input;
mod expiry;
mod isa;
mod notify;
mod routes;
mod subscription;

use crate::Rid;
use crate::auth::{DISPLAY, READ, SERVICE, WRITE};
use dss_common::rfc3339::{self, NANOS_PER_MINUTE, Nanos};
use serde_json::{Value, json};
use wasmraft_sdk::http::Request;
use wasmraft_sdk::testing::TestHost;

/// 2030-01-01T00:00:00Z.
const T0: Nanos = 1_893_456_000 * 1_000_000_000;

#[derive(Clone, Copy)]
struct Who {
    sub: &'static str,
    scopes: &'static [&'static str],
}

/// Service and display providers of each version, and one with every RID scope.
const SP1: Who = Who { sub: "sp1", scopes: &[WRITE] };
const DP1: Who = Who { sub: "dp1", scopes: &[READ] };
const SP2: Who = Who { sub: "sp2", scopes: &[SERVICE] };
const DP2: Who = Who { sub: "dp2", scopes: &[DISPLAY] };
const OTHER_SP2: Who = Who { sub: "sp3", scopes: &[SERVICE] };

#[derive(Clone, Copy, PartialEq)]
enum V {
    One,
    Two,
}

impl V {
    fn prefix(self) -> &'static str {
        match self {
            V::One => "/v1/dss",
            V::Two => "/rid/v2/dss",
        }
    }

    fn isa_path(self, id: &str) -> String {
        format!("{}/identification_service_areas/{id}", self.prefix())
    }

    fn sub_path(self, id: &str) -> String {
        format!("{}/subscriptions/{id}", self.prefix())
    }

    /// The service and the display provider of this version.
    fn sp(self) -> Who {
        if self == V::One { SP1 } else { SP2 }
    }

    fn dp(self) -> Who {
        if self == V::One { DP1 } else { DP2 }
    }
}

fn id(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-000000000000")
}

fn minutes(n: i64) -> Nanos {
    n * NANOS_PER_MINUTE
}

fn at(offset: Nanos) -> String {
    rfc3339::format(T0 + offset)
}

/// A ~1 km square's corners at (lat, lng).
fn square(lat: f64, lng: f64) -> Vec<(f64, f64)> {
    let size = 0.009;
    vec![(lat, lng), (lat + size, lng), (lat + size, lng + size), (lat, lng + size)]
}

/// Extents over `vertices` as version `v` writes them, with optional times after T0.
fn extents(v: V, vertices: &[(f64, f64)], from: Option<Nanos>, to: Option<Nanos>) -> Value {
    let points: Vec<Value> = vertices.iter().map(|(lat, lng)| json!({"lat": lat, "lng": lng})).collect();
    let mut e = match v {
        V::One => {
            json!({"spatial_volume": {"footprint": {"vertices": points}, "altitude_lo": 0.0, "altitude_hi": 120.0}})
        }
        V::Two => json!({"volume": {"outline_polygon": {"vertices": points},
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120, "reference": "W84", "units": "M"}}}),
    };
    for (field, t) in [("time_start", from), ("time_end", to)] {
        if let Some(t) = t {
            e[field] = match v {
                V::One => json!(at(t)),
                V::Two => json!({"value": at(t), "format": "RFC3339"}),
            };
        }
    }
    e
}

/// An ISA body over the square at (lat, lng), from T0 for an hour.
fn isa_body(v: V, lat: f64, lng: f64) -> Value {
    isa_with(v, extents(v, &square(lat, lng), Some(0), Some(minutes(60))))
}

fn isa_with(v: V, extents: Value) -> Value {
    match v {
        V::One => json!({"extents": extents, "flights_url": "https://sp1.example.com/flights"}),
        V::Two => json!({"extents": extents, "uss_base_url": "https://sp2.example.com"}),
    }
}

/// A subscription body over the square at (lat, lng), from T0 for an hour.
fn sub_body(v: V, lat: f64, lng: f64) -> Value {
    sub_with(v, extents(v, &square(lat, lng), Some(0), Some(minutes(60))))
}

fn sub_with(v: V, extents: Value) -> Value {
    match v {
        V::One => {
            json!({"extents": extents, "callbacks": {"identification_service_area_url": "https://dp1.example.com/isa"}})
        }
        V::Two => json!({"extents": extents, "uss_base_url": "https://dp2.example.com"}),
    }
}

/// The `area=` of the square at (lat, lng).
fn area(lat: f64, lng: f64) -> String {
    square(lat, lng).iter().map(|(a, b)| format!("{a},{b}")).collect::<Vec<_>>().join(",")
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn message(reply: &Value) -> &str {
    str_of(&reply["message"])
}

/// `subscribers` as [(url, [(id, index)])].
fn subscribers(reply: &Value) -> Vec<(String, Vec<(String, i64)>)> {
    reply["subscribers"]
        .as_array()
        .expect("subscribers")
        .iter()
        .map(|s| {
            let subs = s["subscriptions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| (str_of(&x["subscription_id"]).to_string(), x["notification_index"].as_i64().unwrap()))
                .collect();
            (str_of(&s["url"]).to_string(), subs)
        })
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("a list").iter().map(|x| str_of(&x["id"]).to_string()).collect()
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
        let response = self.host.serve::<Rid>(request);
        let body = if response.body.is_empty() { Value::Null } else { response.json_body().expect("a JSON body") };
        (response.status, body)
    }

    fn call(&mut self, who: Who, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut request = Request::new(method, path).with_query(query).with_caller(who.sub, who.scopes);
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

    /// Creates ISA `n` through `v`; returns the whole response.
    fn create_isa(&mut self, v: V, n: u32, body: &Value) -> Value {
        let (status, reply) = self.put(v.sp(), &v.isa_path(&id(n)), body);
        assert_eq!(status, 200, "{reply}");
        reply
    }

    fn create_sub(&mut self, v: V, n: u32, body: &Value) -> Value {
        let (status, reply) = self.put(v.dp(), &v.sub_path(&id(n)), body);
        assert_eq!(status, 200, "{reply}");
        reply
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
