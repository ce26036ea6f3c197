//! The applier through HTTP, as a node serves it (`dss_common::testing::Client`: handle,
//! then the command through postcard as the next entry or the query, then render), through
//! both API versions.

mod bad_input;
mod expiry;
mod isa;
mod limits;
mod notify;
mod routes;
mod subscription;

use crate::Rid;
use crate::auth::{DISPLAY, READ, SERVICE, WRITE};
use dss_common::rfc3339::{self, NANOS_PER_MINUTE, Nanos};
use dss_common::testing::{Client, Who, message, str_of};
use serde_json::{Value, json};
use std::ops::{Deref, DerefMut};
use wasmraft_sdk::http::Request;

/// 2030-01-01T00:00:00Z.
const T0: Nanos = 1_893_456_000 * 1_000_000_000;

/// Service and display providers of each version.
const SP1: Who = Who { sub: "sp1", scopes: &[WRITE] };
const DP1: Who = Who { sub: "dp1", scopes: &[READ] };
const SP2: Who = Who { sub: "sp2", scopes: &[SERVICE] };
const DP2: Who = Who { sub: "dp2", scopes: &[DISPLAY] };

#[derive(Debug, Clone, Copy, PartialEq)]
enum V {
    One,
    Two,
}

const BOTH: [V; 2] = [V::One, V::Two];

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

    fn isa_search(self, area: &str) -> String {
        format!("{}/identification_service_areas?area={area}", self.prefix())
    }

    fn sub_search(self, area: &str) -> String {
        format!("{}/subscriptions?area={area}", self.prefix())
    }

    /// The service provider of this version.
    fn sp(self) -> Who {
        if self == V::One { SP1 } else { SP2 }
    }

    /// The display provider of this version.
    fn dp(self) -> Who {
        if self == V::One { DP1 } else { DP2 }
    }

    /// `t` as this version writes a time.
    fn time(self, t: Nanos) -> Value {
        match self {
            V::One => json!(at(t)),
            V::Two => json!({"value": at(t), "format": "RFC3339"}),
        }
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

/// A ~100 km square: about 8,000 km², over the 2,500 km² limit.
fn huge() -> Vec<(f64, f64)> {
    vec![(46.0, 7.0), (46.9, 7.0), (46.9, 8.2), (46.0, 8.2)]
}

fn vertices(points: &[(f64, f64)]) -> Value {
    json!(points.iter().map(|(lat, lng)| json!({"lat": lat, "lng": lng})).collect::<Vec<_>>())
}

/// Extents over `points` as version `v` writes them, 0-120 m, with optional times after T0.
fn extents(v: V, points: &[(f64, f64)], from: Option<Nanos>, to: Option<Nanos>) -> Value {
    let mut e = match v {
        V::One => json!({"spatial_volume": {"footprint": {"vertices": vertices(points)},
            "altitude_lo": 0.0, "altitude_hi": 120.0}}),
        V::Two => json!({"volume": {"outline_polygon": {"vertices": vertices(points)},
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120, "reference": "W84", "units": "M"}}}),
    };
    for (field, t) in [("time_start", from), ("time_end", to)] {
        if let Some(t) = t {
            e[field] = v.time(t);
        }
    }
    e
}

/// An ISA body with `extents`.
fn isa_with(v: V, extents: Value) -> Value {
    match v {
        V::One => json!({"extents": extents, "flights_url": "https://sp1.example.com/flights"}),
        V::Two => json!({"extents": extents, "uss_base_url": "https://sp2.example.com"}),
    }
}

/// An ISA body over the square at (lat, lng), from T0 for an hour.
fn isa_body(v: V, lat: f64, lng: f64) -> Value {
    isa_with(v, extents(v, &square(lat, lng), Some(0), Some(minutes(60))))
}

/// A subscription body with `extents`.
fn sub_with(v: V, extents: Value) -> Value {
    match v {
        V::One => json!({"extents": extents,
            "callbacks": {"identification_service_area_url": "https://dp1.example.com/isa"}}),
        V::Two => json!({"extents": extents, "uss_base_url": "https://dp2.example.com"}),
    }
}

/// A subscription body over the square at (lat, lng), from T0 for an hour.
fn sub_body(v: V, lat: f64, lng: f64) -> Value {
    sub_with(v, extents(v, &square(lat, lng), Some(0), Some(minutes(60))))
}

/// The `area=` of `points`.
fn area_of(points: &[(f64, f64)]) -> String {
    points.iter().map(|(a, b)| format!("{a},{b}")).collect::<Vec<_>>().join(",")
}

/// The `area=` of the square at (lat, lng).
fn area(lat: f64, lng: f64) -> String {
    area_of(&square(lat, lng))
}

/// The URL an entity shows through `v`.
fn url_of(v: V, entity: &Value) -> &str {
    match v {
        V::One if entity.get("callbacks").is_some() => str_of(&entity["callbacks"]["identification_service_area_url"]),
        V::One => str_of(&entity["flights_url"]),
        V::Two => str_of(&entity["uss_base_url"]),
    }
}

/// `subscribers` as [(url, [(id, index)])].
fn subscribers(reply: &Value) -> Vec<(String, Vec<(String, i64)>)> {
    let state = |x: &Value| (str_of(&x["subscription_id"]).to_string(), x["notification_index"].as_i64().unwrap());
    reply["subscribers"]
        .as_array()
        .expect("subscribers")
        .iter()
        .map(|s| (str_of(&s["url"]).to_string(), s["subscriptions"].as_array().unwrap().iter().map(state).collect()))
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("a list").iter().map(|x| str_of(&x["id"]).to_string()).collect()
}

/// The RID applier over an in-memory store, its clock at T0 until set.
struct Dss(Client<Rid>);

impl Deref for Dss {
    type Target = Client<Rid>;
    fn deref(&self) -> &Client<Rid> {
        &self.0
    }
}

impl DerefMut for Dss {
    fn deref_mut(&mut self) -> &mut Client<Rid> {
        &mut self.0
    }
}

impl Dss {
    fn new() -> Dss {
        Dss(Client::new(T0))
    }

    /// Creates ISA `n` through `v`; returns the whole answer.
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

    /// A refused PUT: its status and message.
    fn refused_put(&mut self, who: Who, path: &str, body: &Value) -> (u16, String) {
        let (status, reply) = self.refused(who, "PUT", path, Some(body));
        (status, message(&reply).to_string())
    }
}
