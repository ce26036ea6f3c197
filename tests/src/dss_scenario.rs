//! The SCD DSS scenario: a USS session that touches all 18 F3548 routes and the aux routes,
//! written from scd-utm.yaml and aux.yaml rather than from the implementation, against
//! [`Dss`]: a DSS reached over HTTP with tokens ([`crate::dss_http`]) or in-process through
//! the runtime with the caller handed over directly (the runtime tests). Round `n` of the
//! session has USSs, ids and an area of its own, so that rounds can run side by side on one
//! DSS, or one after another, without seeing each other.

use crate::http::{Reply, rfc3339};
use serde_json::{Value, json};
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use wasmraft_sdk::contract::Caller;

pub const SC: &str = "utm.strategic_coordination";
const CMSA: &str = "utm.conformance_monitoring_sa";
const CM: &str = "utm.constraint_management";
const CP: &str = "utm.constraint_processing";
const AA: &str = "utm.availability_arbitration";

/// A DSS the scenario talks to.
pub trait Dss: Sync {
    /// The DSS's now, in seconds since the Unix epoch: the scenario's times are relative to it.
    fn now_secs(&self) -> u64;

    /// `method path` (with its query string) as `caller` (None: no credentials), with a JSON body.
    fn call(
        &self,
        caller: Option<&Caller>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> impl Future<Output = Reply> + Send;

    /// The call, which must answer `status`; its JSON body (`Null` when empty).
    fn expect(
        &self,
        status: u16,
        method: &str,
        path: &str,
        caller: Option<&Caller>,
        body: Option<Value>,
    ) -> impl Future<Output = Value> + Send {
        async move {
            let reply = self.call(caller, method, path, body).await;
            assert_eq!(reply.status, status, "{method} {path}: {}", reply.text());
            if reply.body.is_empty() { Value::Null } else { reply.json() }
        }
    }
}

/// A caller with a subject and scopes, as a verified token names them.
pub fn caller(subject: &str, scopes: &[&str]) -> Caller {
    Caller { subject: subject.to_string(), scopes: scopes.iter().map(|s| s.to_string()).collect() }
}

fn time(secs: u64) -> Value {
    json!({"value": rfc3339(secs), "format": "RFC3339"})
}

/// A ~1 km² square from `corner` (south-west; lat, lng) to the north-east, 0-120 m, from
/// `start` to `end` (seconds since the Unix epoch).
pub fn volume((lat, lng): (f64, f64), start: u64, end: u64) -> Value {
    json!({
        "volume": {
            "outline_polygon": {"vertices": [
                {"lat": lat, "lng": lng}, {"lat": lat, "lng": lng + 0.013},
                {"lat": lat + 0.009, "lng": lng + 0.013}, {"lat": lat + 0.009, "lng": lng}
            ]},
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120, "reference": "W84", "units": "M"}
        },
        "time_start": time(start),
        "time_end": time(end)
    })
}

/// What a round works with: its USSs, ids, area and times.
struct Round {
    uss1: Caller,
    uss2: Caller,
    oir_a: String,
    oir_b: String,
    sub: String,
    constraint: String,
    /// The south-west corner of the round's area.
    corner: (f64, f64),
    now: u64,
    start: u64,
    end: u64,
}

impl Round {
    fn new(n: u32, now: u64) -> Round {
        let id = |tail: u32| format!("00000000-0000-4000-8000-{n:04x}{tail:08x}");
        // 0.05° (over 5 km) apart: no S2 level-13 cell (about 1 km) is shared by two rounds.
        let corner = (46.52 + 0.05 * f64::from(n % 40), 6.56 + 0.05 * f64::from(n / 40));
        Round {
            uss1: caller(
                &format!("uss1-r{n}"),
                &[
                    SC,
                    CMSA,
                    CM,
                    CP,
                    AA,
                    "interuss.pool_status.read",
                    "interuss.pool_status.heartbeat.write",
                    "dss.read.identification_service_areas",
                ],
            ),
            uss2: caller(&format!("uss2-r{n}"), &[SC, CP]),
            oir_a: id(0xa),
            oir_b: id(0xb),
            sub: id(0xc1),
            constraint: id(0xd1),
            corner,
            now,
            start: now + 60,
            end: now + 3600,
        }
    }

    fn volume(&self) -> Value {
        volume(self.corner, self.start, self.end)
    }

    /// An operational intent reference of uss1's (or uss2's) in the round's area.
    fn oir(&self, state: &str, key: Vec<String>, extra: Value) -> Value {
        let mut body =
            json!({"extents": [self.volume()], "key": key, "state": state, "uss_base_url": "http://uss1.test"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    }
}

/// Round `n` of the session; every response is checked as it comes.
pub async fn session(dss: &impl Dss, n: u32) {
    let r = Round::new(n, dss.now_secs());
    let (uss1, uss2) = (Some(&r.uss1), Some(&r.uss2));

    // aux
    let version = dss.expect(200, "GET", "/aux/v1/version", None, None).await;
    assert!(version["version"].as_str().unwrap().starts_with("scd-"), "{version}");
    dss.expect(200, "GET", &format!("/aux/v1/validate_oauth?owner={}", r.uss1.subject), uss1, None).await;
    dss.expect(403, "GET", &format!("/aux/v1/validate_oauth?owner={}", r.uss2.subject), uss1, None).await;
    dss.expect(200, "GET", "/aux/v1/pool", uss1, None).await;
    let beat = format!("/aux/v1/pool/dss_instances/heartbeat?source=tests&timestamp={}", rfc3339(r.now));
    dss.expect(201, "PUT", &beat, uss1, None).await;
    let instances = dss.expect(200, "GET", "/aux/v1/pool/dss_instances", uss1, None).await;
    assert!(instances.to_string().contains("tests"), "{instances}");

    // Subscriptions (uss2): create, get, query, update.
    let path_sub = format!("/dss/v1/subscriptions/{}", r.sub);
    let sub_body = json!({"extents": r.volume(), "uss_base_url": "http://uss2.test",
        "notify_for_operational_intents": true, "notify_for_constraints": true, "an_unknown_field": 1});
    let created = dss.expect(200, "PUT", &path_sub, uss2, Some(sub_body.clone())).await;
    assert_eq!(created["subscription"]["notification_index"], 0);
    let got = dss.expect(200, "GET", &path_sub, uss2, None).await;
    assert_eq!(got["subscription"]["id"], r.sub.as_str());
    dss.expect(403, "GET", &path_sub, uss1, None).await;
    let aoi = json!({"area_of_interest": r.volume()});
    let found = dss.expect(200, "POST", "/dss/v1/subscriptions/query", uss2, Some(aoi.clone())).await;
    assert_eq!(found["subscriptions"][0]["id"], r.sub.as_str());
    let version = created["subscription"]["version"].as_str().unwrap().to_string();
    let updated = dss.expect(200, "PUT", &format!("{path_sub}/{version}"), uss2, Some(sub_body)).await;
    let sub_version = updated["subscription"]["version"].as_str().unwrap().to_string();

    // An operational intent (uss1) with an implicit subscription: uss2's subscription hears of it.
    let new_sub = json!({"new_subscription": {"uss_base_url": "http://uss1.test", "notify_for_constraints": false}});
    let path_a = format!("/dss/v1/operational_intent_references/{}", r.oir_a);
    let a = dss.expect(201, "PUT", &path_a, uss1, Some(r.oir("Accepted", vec![], new_sub))).await;
    let ovn_a = a["operational_intent_reference"]["ovn"].as_str().unwrap().to_string();
    let implicit = a["operational_intent_reference"]["subscription_id"].as_str().unwrap().to_string();
    let notified: Vec<&Value> =
        a["subscribers"].as_array().unwrap().iter().flat_map(|s| s["subscriptions"].as_array().unwrap()).collect();
    assert!(notified.iter().any(|s| s["subscription_id"] == r.sub.as_str() && s["notification_index"] == 1), "{a}");
    let seen_by_uss2 = dss.expect(200, "GET", &path_a, uss2, None).await;
    assert_eq!(seen_by_uss2["operational_intent_reference"]["ovn"], "Available from USS");
    let query = dss.expect(200, "POST", "/dss/v1/operational_intent_references/query", uss1, Some(aoi.clone())).await;
    assert_eq!(query["operational_intent_references"][0]["ovn"], ovn_a.as_str());

    // uss2 plans over it without its OVN: 409 naming it; with the OVN... it does not know it,
    // so it asks uss1 (outside the DSS) and comes back with the key.
    let path_b = format!("/dss/v1/operational_intent_references/{}", r.oir_b);
    let conflict = dss.expect(409, "PUT", &path_b, uss2, Some(r.oir("Accepted", vec![], json!({})))).await;
    assert_eq!(conflict["missing_operational_intents"][0]["id"], r.oir_a.as_str(), "{conflict}");
    let b = dss.expect(201, "PUT", &path_b, uss2, Some(r.oir("Accepted", vec![ovn_a.clone()], json!({})))).await;
    let ovn_b = b["operational_intent_reference"]["ovn"].as_str().unwrap().to_string();

    // uss1 activates A (it keeps its implicit subscription), with B's OVN in its key.
    let activate = r.oir("Activated", vec![ovn_b.clone()], json!({"subscription_id": implicit}));
    let activated = dss.expect(200, "PUT", &format!("{path_a}/{ovn_a}"), uss1, Some(activate)).await;
    assert_eq!(activated["operational_intent_reference"]["version"], 2);
    let ovn_a = activated["operational_intent_reference"]["ovn"].as_str().unwrap().to_string();

    // A constraint (uss1): create, get, query, update, delete.
    let path_c = format!("/dss/v1/constraint_references/{}", r.constraint);
    let constraint = json!({"extents": [r.volume()], "uss_base_url": "http://uss1.test"});
    let c = dss.expect(201, "PUT", &path_c, uss1, Some(constraint.clone())).await;
    let ovn_c = c["constraint_reference"]["ovn"].as_str().unwrap().to_string();
    dss.expect(200, "GET", &path_c, uss2, None).await;
    let cs = dss.expect(200, "POST", "/dss/v1/constraint_references/query", uss2, Some(aoi.clone())).await;
    assert_eq!(cs["constraint_references"][0]["ovn"], "Available from USS");
    let c = dss.expect(200, "PUT", &format!("{path_c}/{ovn_c}"), uss1, Some(constraint)).await;
    let ovn_c = c["constraint_reference"]["ovn"].as_str().unwrap().to_string();
    dss.expect(200, "DELETE", &format!("{path_c}/{ovn_c}"), uss1, None).await;

    // USS availability and a report.
    let path_avail = format!("/dss/v1/uss_availability/{}", r.uss1.subject);
    let avail = dss.expect(200, "GET", &path_avail, uss1, None).await;
    assert_eq!(avail["status"]["availability"], "Unknown");
    let set =
        dss.expect(200, "PUT", &path_avail, uss1, Some(json!({"old_version": "", "availability": "Normal"}))).await;
    assert_eq!(set["status"]["availability"], "Normal");
    let report = json!({"exchange": {"url": "http://uss1.test/x", "method": "GET", "recorder_role": "Client",
        "request_time": time(r.now), "problem": "a test"}});
    let report = dss.expect(201, "POST", "/dss/v1/reports", uss1, Some(report)).await;
    assert!(report["report_id"].is_string(), "{report}");

    // Refusals change nothing: no token, a missing scope, a bad id, a self-crossing polygon.
    dss.expect(401, "GET", &path_a, None, None).await;
    dss.expect(403, "PUT", &path_c, uss2, Some(json!({}))).await;
    dss.expect(400, "GET", "/dss/v1/operational_intent_references/not-a-uuid", uss1, None).await;
    let mut bow_tie = r.oir("Accepted", vec![], json!({}));
    let (lat, lng) = r.corner;
    bow_tie["extents"][0]["volume"]["outline_polygon"]["vertices"] = json!([{"lat": lat, "lng": lng},
        {"lat": lat + 0.01, "lng": lng + 0.01}, {"lat": lat, "lng": lng + 0.01}, {"lat": lat + 0.01, "lng": lng}]);
    dss.expect(
        400,
        "PUT",
        "/dss/v1/operational_intent_references/00000000-0000-4000-8000-0000000000ff",
        uss1,
        Some(bow_tie),
    )
    .await;

    // Deletes: the OIRs, then the subscription they no longer depend on.
    dss.expect(200, "DELETE", &format!("{path_b}/{ovn_b}"), uss2, None).await;
    dss.expect(200, "DELETE", &format!("{path_a}/{ovn_a}"), uss1, None).await;
    dss.expect(404, "GET", &path_a, uss1, None).await;
    dss.expect(200, "DELETE", &format!("{path_sub}/{sub_version}"), uss2, None).await;
}

/// The rounds clients take, in order, until none is left.
pub struct Rounds {
    next: AtomicU32,
    end: AtomicU32,
}

impl Rounds {
    pub fn new(rounds: Range<u32>) -> Arc<Rounds> {
        Arc::new(Rounds { next: AtomicU32::new(rounds.start), end: AtomicU32::new(rounds.end) })
    }

    /// Ends the rounds `more` rounds from now.
    pub fn stop_after(&self, more: u32) {
        self.end.store(self.next.load(Ordering::Relaxed) + more, Ordering::Relaxed);
    }

    fn take(&self) -> Option<u32> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        (n < self.end.load(Ordering::Relaxed)).then_some(n)
    }
}

/// `rounds` of the session, `clients` at a time (each client takes the next round when it
/// finishes one); a failed round fails the call.
pub async fn sessions<D: Dss + Send + 'static>(dss: Arc<D>, rounds: Arc<Rounds>, clients: usize) {
    run_rounds(dss, rounds, clients, |dss, n| async move { session(dss.as_ref(), n).await }).await
}

/// `rounds` of `session`, `clients` at a time; a failed round fails the call.
pub async fn run_rounds<D, S, F>(dss: Arc<D>, rounds: Arc<Rounds>, clients: usize, session: S)
where
    D: Dss + Send + 'static,
    S: Fn(Arc<D>, u32) -> F + Clone + Send + 'static,
    F: Future<Output = ()> + Send,
{
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (dss, rounds, session) = (dss.clone(), rounds.clone(), session.clone());
            tokio::spawn(async move {
                while let Some(n) = rounds.take() {
                    session(dss.clone(), n).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a round of the session failed");
    }
}
