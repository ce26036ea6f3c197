//! The SCD DSS (scd.wasm) over HTTP on a real 3-node cluster with real RS256 tokens: a
//! script that touches all 18 F3548 routes and the aux routes, written from scd-utm.yaml and
//! aux.yaml, each request to another node; afterwards every node reports the same state.

use serde_json::{Value, json};
use std::time::Duration;
use wasmraft_tests::cluster::Cluster;
use wasmraft_tests::http::{HttpClient, Reply, auth_flags, now_secs, rfc3339, token};

const SC: &str = "utm.strategic_coordination";
const CMSA: &str = "utm.conformance_monitoring_sa";
const CM: &str = "utm.constraint_management";
const CP: &str = "utm.constraint_processing";
const AA: &str = "utm.availability_arbitration";

struct Dss {
    cluster: Cluster,
    http: HttpClient,
    turn: std::cell::Cell<u64>,
}

impl Dss {
    fn start() -> Dss {
        let mut flags = auth_flags();
        flags.push("--allow-http-base-urls".into());
        let cluster = Cluster::start_with(3, "scd", true, &flags.iter().map(String::as_str).collect::<Vec<_>>());
        Dss { cluster, http: HttpClient::default(), turn: std::cell::Cell::new(0) }
    }

    /// Sends the request to the next node in turn.
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let id = 1 + self.turn.get() % 3;
        self.turn.set(self.turn.get() + 1);
        let url = format!("{}{path}", self.cluster.http_url(id));
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.http.send(method, &url, token, body).await.unwrap_or_else(|e| panic!("node {id}: {e}"))
    }

    async fn expect(&self, status: u16, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
        let reply = self.call(method, path, token, body).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text());
        if reply.body.is_empty() { Value::Null } else { reply.json() }
    }
}

fn time(secs: u64) -> Value {
    json!({"value": rfc3339(secs), "format": "RFC3339"})
}

/// A ~1 km² square near Lausanne, 0-120 m, from `start` to `end`.
fn volume(start: u64, end: u64) -> Value {
    json!({
        "volume": {
            "outline_polygon": {"vertices": [
                {"lat": 46.520, "lng": 6.560}, {"lat": 46.520, "lng": 6.573},
                {"lat": 46.529, "lng": 6.573}, {"lat": 46.529, "lng": 6.560}
            ]},
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120, "reference": "W84", "units": "M"}
        },
        "time_start": time(start),
        "time_end": time(end)
    })
}

const OIR_A: &str = "00000000-0000-4000-8000-00000000000a";
const OIR_B: &str = "00000000-0000-4000-8000-00000000000b";
const SUB: &str = "00000000-0000-4000-8000-0000000000c1";
const CONSTRAINT: &str = "00000000-0000-4000-8000-0000000000d1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uss_session_touches_every_route_and_every_node_agrees() {
    let dss = Dss::start();
    dss.cluster.leader(Duration::from_secs(10)).await;
    let uss1 = token("uss1", &[SC, CMSA, CM, CP, AA, "interuss.pool_status.read", "interuss.pool_status.heartbeat.write",
        "dss.read.identification_service_areas"]);
    let uss2 = token("uss2", &[SC, CP]);
    let (now, hour) = (now_secs(), 3600);
    let (start, end) = (now + 60, now + hour);

    // aux
    let version = dss.expect(200, "GET", "/aux/v1/version", None, None).await;
    assert!(version["version"].as_str().unwrap().starts_with("scd-"), "{version}");
    dss.expect(200, "GET", "/aux/v1/validate_oauth?owner=uss1", Some(&uss1), None).await;
    dss.expect(403, "GET", "/aux/v1/validate_oauth?owner=uss2", Some(&uss1), None).await;
    dss.expect(200, "GET", "/aux/v1/pool", Some(&uss1), None).await;
    let beat = format!("/aux/v1/pool/dss_instances/heartbeat?source=tests&timestamp={}", rfc3339(now));
    dss.expect(201, "PUT", &beat, Some(&uss1), None).await.to_string();
    let instances = dss.expect(200, "GET", "/aux/v1/pool/dss_instances", Some(&uss1), None).await;
    assert!(instances.to_string().contains("tests"), "{instances}");

    // Subscriptions (uss2): create, get, query, update.
    let sub_body = json!({"extents": volume(start, end), "uss_base_url": "http://uss2.test",
        "notify_for_operational_intents": true, "notify_for_constraints": true, "an_unknown_field": 1});
    let created = dss.expect(200, "PUT", &format!("/dss/v1/subscriptions/{SUB}"), Some(&uss2), Some(sub_body.clone())).await;
    assert_eq!(created["subscription"]["notification_index"], 0);
    let got = dss.expect(200, "GET", &format!("/dss/v1/subscriptions/{SUB}"), Some(&uss2), None).await;
    assert_eq!(got["subscription"]["id"], SUB);
    dss.expect(403, "GET", &format!("/dss/v1/subscriptions/{SUB}"), Some(&uss1), None).await;
    let aoi = json!({"area_of_interest": volume(start, end)});
    let found = dss.expect(200, "POST", "/dss/v1/subscriptions/query", Some(&uss2), Some(aoi.clone())).await;
    assert_eq!(found["subscriptions"][0]["id"], SUB);
    let version = created["subscription"]["version"].as_str().unwrap().to_string();
    let updated = dss.expect(200, "PUT", &format!("/dss/v1/subscriptions/{SUB}/{version}"), Some(&uss2), Some(sub_body)).await;
    let sub_version = updated["subscription"]["version"].as_str().unwrap().to_string();

    // An operational intent (uss1) with an implicit subscription: uss2's subscription hears of it.
    let oir = |state: &str, key: Vec<String>, sub: Value| {
        let mut body = json!({"extents": [volume(start, end)], "key": key, "state": state, "uss_base_url": "http://uss1.test"});
        body.as_object_mut().unwrap().extend(sub.as_object().unwrap().clone());
        body
    };
    let new_sub = json!({"new_subscription": {"uss_base_url": "http://uss1.test", "notify_for_constraints": false}});
    let path_a = format!("/dss/v1/operational_intent_references/{OIR_A}");
    let a = dss.expect(201, "PUT", &path_a, Some(&uss1), Some(oir("Accepted", vec![], new_sub))).await;
    let ovn_a = a["operational_intent_reference"]["ovn"].as_str().unwrap().to_string();
    let implicit = a["operational_intent_reference"]["subscription_id"].as_str().unwrap().to_string();
    let notified: Vec<&Value> = a["subscribers"].as_array().unwrap().iter().flat_map(|s| s["subscriptions"].as_array().unwrap()).collect();
    assert!(notified.iter().any(|s| s["subscription_id"] == SUB && s["notification_index"] == 1), "{a}");
    let seen_by_uss2 = dss.expect(200, "GET", &path_a, Some(&uss2), None).await;
    assert_eq!(seen_by_uss2["operational_intent_reference"]["ovn"], "Available from USS");
    let query = dss.expect(200, "POST", "/dss/v1/operational_intent_references/query", Some(&uss1), Some(aoi.clone())).await;
    assert_eq!(query["operational_intent_references"][0]["ovn"], ovn_a.as_str());

    // uss2 plans over it without its OVN: 409 naming it; with the OVN... it does not know it,
    // so it asks uss1 (outside the DSS) and comes back with the key.
    let path_b = format!("/dss/v1/operational_intent_references/{OIR_B}");
    let conflict = dss.expect(409, "PUT", &path_b, Some(&uss2), Some(oir("Accepted", vec![], json!({})))).await;
    assert_eq!(conflict["missing_operational_intents"][0]["id"], OIR_A, "{conflict}");
    let b = dss.expect(201, "PUT", &path_b, Some(&uss2), Some(oir("Accepted", vec![ovn_a.clone()], json!({})))).await;
    let ovn_b = b["operational_intent_reference"]["ovn"].as_str().unwrap().to_string();

    // uss1 activates A (it keeps its implicit subscription), with B's OVN in its key.
    let activated = dss
        .expect(200, "PUT", &format!("{path_a}/{ovn_a}"), Some(&uss1), Some(oir("Activated", vec![ovn_b.clone()], json!({"subscription_id": implicit}))))
        .await;
    assert_eq!(activated["operational_intent_reference"]["version"], 2);
    let ovn_a = activated["operational_intent_reference"]["ovn"].as_str().unwrap().to_string();

    // A constraint (uss1): create, get, query, update, delete.
    let path_c = format!("/dss/v1/constraint_references/{CONSTRAINT}");
    let constraint = json!({"extents": [volume(start, end)], "uss_base_url": "http://uss1.test"});
    let c = dss.expect(201, "PUT", &path_c, Some(&uss1), Some(constraint.clone())).await;
    let ovn_c = c["constraint_reference"]["ovn"].as_str().unwrap().to_string();
    dss.expect(200, "GET", &path_c, Some(&uss2), None).await;
    let cs = dss.expect(200, "POST", "/dss/v1/constraint_references/query", Some(&uss2), Some(aoi.clone())).await;
    assert_eq!(cs["constraint_references"][0]["ovn"], "Available from USS");
    let c = dss.expect(200, "PUT", &format!("{path_c}/{ovn_c}"), Some(&uss1), Some(constraint)).await;
    let ovn_c = c["constraint_reference"]["ovn"].as_str().unwrap().to_string();
    dss.expect(200, "DELETE", &format!("{path_c}/{ovn_c}"), Some(&uss1), None).await;

    // USS availability and a report.
    let avail = dss.expect(200, "GET", "/dss/v1/uss_availability/uss1", Some(&uss1), None).await;
    assert_eq!(avail["status"]["availability"], "Unknown");
    let set = dss
        .expect(200, "PUT", "/dss/v1/uss_availability/uss1", Some(&uss1), Some(json!({"old_version": "", "availability": "Normal"})))
        .await;
    assert_eq!(set["status"]["availability"], "Normal");
    let report = json!({"exchange": {"url": "http://uss1.test/x", "method": "GET", "recorder_role": "Client",
        "request_time": time(now), "problem": "a test"}});
    let report = dss.expect(201, "POST", "/dss/v1/reports", Some(&uss1), Some(report)).await;
    assert!(report["report_id"].is_string(), "{report}");

    // Refusals change nothing: no token, a missing scope, a bad id, a self-crossing polygon.
    dss.expect(401, "GET", &path_a, None, None).await;
    dss.expect(403, "PUT", &path_c, Some(&uss2), Some(json!({}))).await;
    dss.expect(400, "GET", "/dss/v1/operational_intent_references/not-a-uuid", Some(&uss1), None).await;
    let mut bow_tie = oir("Accepted", vec![], json!({}));
    bow_tie["extents"][0]["volume"]["outline_polygon"]["vertices"] =
        json!([{"lat": 46.52, "lng": 6.56}, {"lat": 46.53, "lng": 6.57}, {"lat": 46.52, "lng": 6.57}, {"lat": 46.53, "lng": 6.56}]);
    dss.expect(400, "PUT", "/dss/v1/operational_intent_references/00000000-0000-4000-8000-0000000000ff", Some(&uss1), Some(bow_tie)).await;

    // Deletes: the OIRs, then the subscription they no longer depend on.
    dss.expect(200, "DELETE", &format!("{path_b}/{ovn_b}"), Some(&uss2), None).await;
    dss.expect(200, "DELETE", &format!("{path_a}/{ovn_a}"), Some(&uss1), None).await;
    dss.expect(404, "GET", &path_a, Some(&uss1), None).await;
    dss.expect(200, "DELETE", &format!("/dss/v1/subscriptions/{SUB}/{sub_version}"), Some(&uss2), None).await;

    let applied = dss.cluster.status(1).await.unwrap().applied_index;
    let (_, hash) = dss.cluster.converged(applied, Duration::from_secs(10)).await;
    assert_eq!(hash.len(), 64);
}
