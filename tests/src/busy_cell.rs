//! The DSS's "busy S2 cell" as the DSS community's load client sends it: many flights
//! planned at once over one small area. Shared by the HTTP benchmark (`benches/busy_cell.rs`)
//! and the apply benchmark (`benches/dss_apply.rs`).
//!
//! - One explicit subscription over a 550 m circle (0-10,000 m, 60 minutes, notified of
//!   operational intents).
//! - Each client, in a loop: creates an operational intent (state Accepted, a random 100 m
//!   path of rectangles inside the circle, a 1 m altitude band at a random height, 60 s
//!   long, starting now) with `new_subscription` (an implicit subscription per intent),
//!   whose key is every OVN that client has received so far (its own, and those a 409
//!   named as missing: keys grow to thousands); ids are `uuid4().hex`, 32 hex digits.

use crate::Rng;
use crate::http::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The circle's centre and radius.
pub const CENTRE: (f64, f64) = (46.5, 6.6);
pub const RADIUS_M: f64 = 550.0;
const METRES_PER_DEGREE: f64 = 111_320.0;
/// The USS every client is (one token, so a 409 shows the real OVNs of what it lacks).
pub const USS_BASE_URL: &str = "https://uss.example.com/utm";

/// `WASMRAFT_TIME_BASED_INDEX=1`: the busy-cell benches run with the reference's
/// `--enable_time_based_notification_index` (the node setting
/// `time-based-notification-index=true`): no index bumped, every index the time of day.
pub fn time_based_index() -> bool {
    std::env::var("WASMRAFT_TIME_BASED_INDEX").is_ok_and(|v| v == "1")
}

/// The node setting that [`time_based_index`] turns on.
pub const TIME_BASED_SETTING: &str = "time-based-notification-index";

/// A v4 UUID as Python's `uuid4().hex` writes it.
pub fn uuid4_hex(rng: &mut Rng) -> String {
    let mut b = rng.bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A point `north`, `east` metres from the centre.
fn point(north: f64, east: f64) -> Value {
    let lat = CENTRE.0 + north / METRES_PER_DEGREE;
    let lng = CENTRE.1 + east / (METRES_PER_DEGREE * CENTRE.0.to_radians().cos());
    json!({"lat": lat, "lng": lng})
}

/// A time window of whole seconds since the Unix epoch, as the API writes it.
pub fn window(start: u64, end: u64) -> (Value, Value) {
    (json!({"value": rfc3339(start), "format": "RFC3339"}), json!({"value": rfc3339(end), "format": "RFC3339"}))
}

/// A random 100 m path inside the circle: four 25 m legs, each a 10 m wide rectangle, in
/// a 1 m band at a random height, for 60 s from `now` (seconds since the epoch).
pub fn flight(rng: &mut Rng, now: u64) -> Vec<Value> {
    let unit = |rng: &mut Rng| rng.below(1_000_000) as f64 / 1e6;
    let (radius, angle) = ((RADIUS_M - 120.0) * unit(rng).sqrt(), unit(rng) * std::f64::consts::TAU);
    let (mut n, mut e) = (radius * angle.cos(), radius * angle.sin());
    let lower = (unit(rng) * 9_999.0).floor();
    let (start, end) = window(now, now + 60);
    let mut heading = unit(rng) * std::f64::consts::TAU;
    (0..4)
        .map(|_| {
            heading += (unit(rng) - 0.5) * 1.0;
            let (dn, de) = (25.0 * heading.cos(), 25.0 * heading.sin());
            let (wn, we) = (-5.0 * heading.sin(), 5.0 * heading.cos());
            let vertices = [
                point(n + wn, e + we),
                point(n + dn + wn, e + de + we),
                point(n + dn - wn, e + de - we),
                point(n - wn, e - we),
            ];
            (n, e) = (n + dn, e + de);
            json!({
                "volume": {
                    "outline_polygon": {"vertices": vertices},
                    "altitude_lower": {"value": lower, "reference": "W84", "units": "M"},
                    "altitude_upper": {"value": lower + 1.0, "reference": "W84", "units": "M"}
                },
                "time_start": start, "time_end": end
            })
        })
        .collect()
}

/// The body of a client's intent create: `flight` with `key`, and an implicit subscription,
/// as JSON text. Written from borrowed parts: a key holds thousands of OVNs, and the load
/// generator shares the machine with the nodes.
pub fn intent(flight: Vec<Value>, key: &[String]) -> String {
    #[derive(Serialize)]
    struct NewSubscription {
        uss_base_url: &'static str,
        notify_for_constraints: bool,
    }
    #[derive(Serialize)]
    struct Create<'a> {
        extents: Vec<Value>,
        key: &'a [String],
        state: &'static str,
        uss_base_url: &'static str,
        new_subscription: NewSubscription,
    }
    let new_subscription = NewSubscription { uss_base_url: USS_BASE_URL, notify_for_constraints: false };
    let create = Create { extents: flight, key, state: "Accepted", uss_base_url: USS_BASE_URL, new_subscription };
    serde_json::to_string(&create).expect("JSON")
}

/// What a USS client keeps from a create's reply: the new intent's OVN (201), the OVNs of
/// the intents a 409 named as missing, nothing otherwise. Only those fields are decoded (the
/// rest is skipped unparsed): a reply lists thousands of subscribers.
pub fn ovns_received(status: u16, body: &[u8]) -> Vec<String> {
    #[derive(Deserialize)]
    struct Ovn {
        ovn: String,
    }
    #[derive(Deserialize)]
    struct Created {
        operational_intent_reference: Ovn,
    }
    #[derive(Deserialize)]
    struct Conflict {
        #[serde(default)]
        missing_operational_intents: Vec<Ovn>,
    }
    let decoded = match status {
        201 => serde_json::from_slice::<Created>(body).map(|c| vec![c.operational_intent_reference.ovn]),
        409 => serde_json::from_slice::<Conflict>(body)
            .map(|c| c.missing_operational_intents.into_iter().map(|o| o.ovn).collect()),
        _ => Ok(Vec::new()),
    };
    decoded
        .unwrap_or_else(|e| panic!("a {status} reply the client cannot read ({e}): {}", String::from_utf8_lossy(body)))
}

/// The explicit subscription over the whole circle, for an hour from `now`.
pub fn circle_subscription(now: u64) -> Value {
    let (start, end) = window(now, now + 3600);
    json!({
        "extents": {
            "volume": {
                "outline_circle": {"center": {"lat": CENTRE.0, "lng": CENTRE.1}, "radius": {"value": RADIUS_M, "units": "M"}},
                "altitude_lower": {"value": 0.0, "reference": "W84", "units": "M"},
                "altitude_upper": {"value": 10_000.0, "reference": "W84", "units": "M"}
            },
            "time_start": start, "time_end": end
        },
        "uss_base_url": USS_BASE_URL,
        "notify_for_operational_intents": true,
        "notify_for_constraints": false
    })
}
