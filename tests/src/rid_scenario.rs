//! The RID DSS scenario: a session of display and service providers that touches all 20
//! routes of F3411 v1 (`/v1/dss/...`) and v2 (`/rid/v2/dss/...`), written from rid-v1.yaml
//! and rid-v2.yaml rather than from the implementation, against [`Dss`]. The two versions
//! share one store: each version's ISAs notify the other version's subscriptions. Round `n`
//! has USSs, ids and an area of its own, so that rounds can run side by side.

use crate::dss_scenario::{Dss, Rounds, caller, run_rounds};
use crate::http::rfc3339;
use serde_json::{Value, json};
use std::sync::Arc;
use wasmraft_sdk::contract::Caller;

const V1_READ: &str = "dss.read.identification_service_areas";
const V1_WRITE: &str = "dss.write.identification_service_areas";
const V2_DP: &str = "rid.display_provider";
const V2_SP: &str = "rid.service_provider";

/// What a round works with.
struct Round {
    /// A display provider on each version, and a service provider on each version.
    dp1: Caller,
    dp2: Caller,
    sp1: Caller,
    sp2: Caller,
    isa_a: String,
    isa_b: String,
    sub_1: String,
    sub_2: String,
    /// The south-west corner of the round's ~1 km² square.
    corner: (f64, f64),
    now: u64,
}

impl Round {
    fn new(n: u32, now: u64) -> Round {
        let id = |tail: u32| format!("00000000-0000-4000-8000-{n:04x}{tail:08x}");
        // Far from the SCD scenario's rounds, and 0.05° apart from each other.
        let corner = (-33.9 + 0.05 * f64::from(n % 40), 151.1 + 0.05 * f64::from(n / 40));
        Round {
            dp1: caller(&format!("dp1-r{n}"), &[V1_READ]),
            dp2: caller(&format!("dp2-r{n}"), &[V2_DP]),
            sp1: caller(&format!("sp1-r{n}"), &[V1_WRITE]),
            sp2: caller(&format!("sp2-r{n}"), &[V2_SP]),
            isa_a: id(0x1a),
            isa_b: id(0x1b),
            sub_1: id(0x51),
            sub_2: id(0x52),
            corner,
            now,
        }
    }

    fn vertices(&self) -> Vec<(f64, f64)> {
        let (lat, lng) = self.corner;
        vec![(lat, lng), (lat, lng + 0.013), (lat + 0.009, lng + 0.013), (lat + 0.009, lng)]
    }

    /// The `area=` of a search over the round's square.
    fn area(&self) -> String {
        self.vertices().iter().map(|(lat, lng)| format!("{lat},{lng}")).collect::<Vec<_>>().join(",")
    }

    /// A v1 Volume4D over the square, 0-120 m, ending `end_in` seconds from now.
    fn v1_extents(&self, end_in: u64) -> Value {
        let vertices: Vec<Value> = self.vertices().iter().map(|(lat, lng)| json!({"lat": lat, "lng": lng})).collect();
        json!({
            "spatial_volume": {"footprint": {"vertices": vertices}, "altitude_lo": 0.0, "altitude_hi": 120.0},
            "time_start": rfc3339(self.now),
            "time_end": rfc3339(self.now + end_in)
        })
    }

    /// The same volume as v2 writes it.
    fn v2_extents(&self, end_in: u64) -> Value {
        let vertices: Vec<Value> = self.vertices().iter().map(|(lat, lng)| json!({"lat": lat, "lng": lng})).collect();
        let time = |secs| json!({"value": rfc3339(secs), "format": "RFC3339"});
        json!({
            "volume": {
                "outline_polygon": {"vertices": vertices},
                "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
                "altitude_upper": {"value": 120, "reference": "W84", "units": "M"}
            },
            "time_start": time(self.now),
            "time_end": time(self.now + end_in)
        })
    }
}

/// (subscription id, notification index) of every subscriber an ISA write names.
fn notified(response: &Value) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = response["subscribers"]
        .as_array()
        .map(|subscribers| {
            subscribers
                .iter()
                .flat_map(|s| s["subscriptions"].as_array().cloned().unwrap_or_default())
                .map(|s| {
                    (
                        s["subscription_id"].as_str().unwrap_or_default().to_string(),
                        s["notification_index"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        list.as_array().map(|l| l.iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()).unwrap_or_default();
    ids.sort();
    ids
}

fn version(response: &Value, entity: &str) -> String {
    response[entity]["version"].as_str().unwrap_or_else(|| panic!("no version: {response}")).to_string()
}

/// Round `n` of the session; every response is checked as it comes.
pub async fn session(dss: &impl Dss, n: u32) {
    let r = Round::new(n, dss.now_secs());
    let (dp1, dp2, sp1, sp2) = (Some(&r.dp1), Some(&r.dp2), Some(&r.sp1), Some(&r.sp2));
    let v1_isa = |id: &str| format!("/v1/dss/identification_service_areas/{id}");
    let v2_isa = |id: &str| format!("/rid/v2/dss/identification_service_areas/{id}");
    let v1_sub = |id: &str| format!("/v1/dss/subscriptions/{id}");
    let v2_sub = |id: &str| format!("/rid/v2/dss/subscriptions/{id}");

    // A subscription on each version, over the same square.
    let s2 = json!({"extents": r.v2_extents(3600), "uss_base_url": "https://dp2.test"});
    let created = dss.expect(200, "PUT", &v2_sub(&r.sub_2), dp2, Some(s2.clone())).await;
    assert_eq!(created["subscription"]["notification_index"].as_i64().unwrap_or(0), 0, "{created}");
    let s2_version = version(&created, "subscription");
    let s1 = json!({"extents": r.v1_extents(3600), "callbacks": {"identification_service_area_url": "https://dp1.test/isa"}});
    let created = dss.expect(200, "PUT", &v1_sub(&r.sub_1), dp1, Some(s1.clone())).await;
    assert_eq!(created["subscription"]["owner"], r.dp1.subject.as_str());
    let s1_version = version(&created, "subscription");

    // An ISA through v1 notifies both; one through v2 too.
    let a = json!({"extents": r.v1_extents(3600), "flights_url": "https://sp1.test/flights"});
    let a = dss.expect(200, "PUT", &v1_isa(&r.isa_a), sp1, Some(a)).await;
    assert_eq!(notified(&a), [(r.sub_1.clone(), 1), (r.sub_2.clone(), 1)], "{a}");
    let a_version = version(&a, "service_area");
    let b = json!({"extents": r.v2_extents(3600), "uss_base_url": "https://sp2.test"});
    let b = dss.expect(200, "PUT", &v2_isa(&r.isa_b), sp2, Some(b)).await;
    assert_eq!(notified(&b), [(r.sub_1.clone(), 2), (r.sub_2.clone(), 2)], "{b}");
    let b_version = version(&b, "service_area");

    // Reads by id, each version seeing the other's writes.
    let got = dss.expect(200, "GET", &v2_sub(&r.sub_2), dp2, None).await;
    assert_eq!(got["subscription"]["notification_index"], 2, "{got}");
    let got = dss.expect(200, "GET", &v1_sub(&r.sub_1), dp1, None).await;
    assert_eq!(got["subscription"]["notification_index"], 2, "{got}");
    let got = dss.expect(200, "GET", &v1_isa(&r.isa_b), dp1, None).await;
    assert_eq!(got["service_area"]["owner"], r.sp2.subject.as_str());
    let got = dss.expect(200, "GET", &v2_isa(&r.isa_a), sp2, None).await;
    assert_eq!(got["service_area"]["version"], a_version.as_str());

    // Searches: ISAs of anyone, subscriptions of the caller only.
    let area = r.area();
    let found = dss.expect(200, "GET", &format!("/v1/dss/identification_service_areas?area={area}"), dp1, None).await;
    assert_eq!(ids(&found["service_areas"]), [r.isa_a.clone(), r.isa_b.clone()], "{found}");
    let found =
        dss.expect(200, "GET", &format!("/rid/v2/dss/identification_service_areas?area={area}"), dp2, None).await;
    assert_eq!(ids(&found["service_areas"]), [r.isa_a.clone(), r.isa_b.clone()], "{found}");
    let found = dss.expect(200, "GET", &format!("/v1/dss/subscriptions?area={area}"), dp1, None).await;
    assert_eq!(ids(&found["subscriptions"]), std::slice::from_ref(&r.sub_1), "{found}");
    let found = dss.expect(200, "GET", &format!("/rid/v2/dss/subscriptions?area={area}"), dp2, None).await;
    assert_eq!(ids(&found["subscriptions"]), std::slice::from_ref(&r.sub_2), "{found}");

    // Updates: each ISA again (both subscriptions hear of it), then each subscription.
    let a = json!({"extents": r.v1_extents(7200), "flights_url": "https://sp1.test/flights"});
    let a = dss.expect(200, "PUT", &format!("{}/{a_version}", v1_isa(&r.isa_a)), sp1, Some(a)).await;
    assert_eq!(notified(&a), [(r.sub_1.clone(), 3), (r.sub_2.clone(), 3)], "{a}");
    let a_version = version(&a, "service_area");
    let b = json!({"extents": r.v2_extents(7200), "uss_base_url": "https://sp2.test"});
    let b = dss.expect(200, "PUT", &format!("{}/{b_version}", v2_isa(&r.isa_b)), sp2, Some(b)).await;
    assert_eq!(notified(&b), [(r.sub_1.clone(), 4), (r.sub_2.clone(), 4)], "{b}");
    let b_version = version(&b, "service_area");
    let updated = dss.expect(200, "PUT", &format!("{}/{s2_version}", v2_sub(&r.sub_2)), dp2, Some(s2)).await;
    assert_eq!(ids(&updated["service_areas"]), [r.isa_a.clone(), r.isa_b.clone()], "{updated}");
    let s2_version = version(&updated, "subscription");
    let updated = dss.expect(200, "PUT", &format!("{}/{s1_version}", v1_sub(&r.sub_1)), dp1, Some(s1)).await;
    let s1_version = version(&updated, "subscription");

    // Refusals change nothing: another version's scopes, no token, a bad id, a stale
    // version, another owner's ISA, a search area over the limit.
    dss.expect(403, "GET", &v1_isa(&r.isa_a), dp2, None).await;
    dss.expect(403, "PUT", &v2_isa(&r.isa_b), sp1, Some(json!({}))).await;
    dss.expect(401, "GET", &v2_isa(&r.isa_a), None, None).await;
    dss.expect(400, "GET", &v1_isa("not-a-uuid"), dp1, None).await;
    let stale = json!({"extents": r.v1_extents(3600), "flights_url": "https://sp1.test/flights"});
    // A version of the right form (base32) that is not the ISA's.
    dss.expect(409, "PUT", &format!("{}/1", v1_isa(&r.isa_a)), sp1, Some(stale)).await;
    let theirs = json!({"extents": r.v2_extents(3600), "uss_base_url": "https://sp2.test"});
    let intruder = caller(&format!("intruder-r{n}"), &[V2_SP]);
    dss.expect(403, "PUT", &format!("{}/{a_version}", v2_isa(&r.isa_a)), Some(&intruder), Some(theirs)).await;
    let (lat, lng) = r.corner;
    let huge = format!("{lat},{lng},{lat},{},{},{},{},{lng}", lng + 1.0, lat + 1.0, lng + 1.0, lat + 1.0);
    dss.expect(413, "GET", &format!("/rid/v2/dss/identification_service_areas?area={huge}"), dp2, None).await;
    let got = dss.expect(200, "GET", &v2_isa(&r.isa_a), sp2, None).await;
    assert_eq!(got["service_area"]["version"], a_version.as_str(), "refusals changed nothing");

    // Deletes: the ISAs (their subscribers hear of it), then the subscriptions.
    let deleted = dss.expect(200, "DELETE", &format!("{}/{b_version}", v2_isa(&r.isa_b)), sp2, None).await;
    assert_eq!(notified(&deleted).len(), 2, "{deleted}");
    dss.expect(200, "DELETE", &format!("{}/{a_version}", v1_isa(&r.isa_a)), sp1, None).await;
    dss.expect(404, "GET", &v1_isa(&r.isa_a), dp1, None).await;
    dss.expect(200, "DELETE", &format!("{}/{s2_version}", v2_sub(&r.sub_2)), dp2, None).await;
    dss.expect(200, "DELETE", &format!("{}/{s1_version}", v1_sub(&r.sub_1)), dp1, None).await;
    dss.expect(404, "GET", &v2_sub(&r.sub_2), dp2, None).await;
}

/// `rounds` of the RID session, `clients` at a time; a failed round fails the call.
pub async fn sessions<D: Dss + Send + 'static>(dss: Arc<D>, rounds: Arc<Rounds>, clients: usize) {
    run_rounds(dss, rounds, clients, |dss, n| async move { session(dss.as_ref(), n).await }).await
}
