//! DSS reports, the aux API, routing and authentication, determinism.

use super::*;

#[test]
fn dss_report_echoes_with_an_id() {
    let mut dss = Dss::new();
    let report = json!({"exchange": {"url": "https://dss.example.com/x", "method": "GET", "recorder_role": "Client",
        "request_time": time(0), "response_code": 500, "unknown": 1}, "extra": true});
    let (status, reply) = dss.post(USS1, "/dss/v1/reports", &report);
    assert_eq!(status, 201, "{reply}");
    assert!(wasmraft_sdk::Id::parse(str_of(&reply["report_id"])).is_some_and(|i| i.is_v4()));
    assert_eq!(reply["exchange"]["url"], "https://dss.example.com/x");
    assert_eq!(reply["exchange"]["response_code"], 500);
    assert!(reply["exchange"].get("unknown").is_none());
    assert!(dss.host.store.is_empty());
    assert_eq!(dss.post(USS1, "/dss/v1/reports", &json!([1])).0, 400);
}

#[test]
fn the_pool_names_the_cluster_and_versions_answer_any_identity() {
    let mut dss = Dss::new();
    let pool = |settings: &[(&str, &str)]| {
        let mut r = Request::new("GET", "/aux/v1/pool").with_caller("ops", &["interuss.pool_status.read"]);
        for (name, value) in settings {
            r = r.with_setting(name, value);
        }
        r
    };
    assert_eq!(dss.serve(pool(&[("cluster-id", "220b7362b2dc3687")])), (200, json!({"dar_id": "220b7362b2dc3687"})));
    let named = pool(&[("cluster-id", "220b7362b2dc3687"), ("dar-id", "dar-eu-1")]);
    assert_eq!(dss.serve(named), (200, json!({"dar_id": "dar-eu-1"})));

    let expected = json!({"system_identity": "gov.eu.uspace.v1.netid", "system_version": "scd-1.5.0"});
    let versions = Request::new("GET", "/versions/gov.eu.uspace.v1.netid");
    let scope = &["interuss.versioning.read_system_versions"];
    assert_eq!(dss.serve(versions.clone().with_caller("qualifier", scope)), (200, expected.clone()));
    // The reference's handler ignores its authorization result: so does this.
    assert_eq!(dss.serve(versions), (200, expected));
    assert_eq!(dss.serve(Request::new("PUT", "/versions/x")).0, 405);
    assert_eq!(dss.serve(Request::new("GET", "/versions/x/y")).0, 404);
    assert!(dss.host.store.is_empty());
}

#[test]
fn aux_routes() {
    let mut dss = Dss::new();
    let (status, reply) = dss.serve(Request::new("GET", "/aux/v1/version"));
    assert_eq!((status, reply), (200, json!({"version": "scd-1.5.0"})));
    let isa = Who { sub: "uss1", scopes: &["dss.read.identification_service_areas"] };
    let owner = |o: &str| {
        Request::new("GET", "/aux/v1/validate_oauth").with_query(&format!("owner={o}")).with_caller("uss1", isa.scopes)
    };
    assert_eq!(dss.serve(owner("uss1")), (200, json!({})));
    assert_eq!(dss.get(isa, "/aux/v1/validate_oauth").0, 200);
    assert_eq!(dss.serve(owner("uss2")).0, 403);
    assert_eq!(dss.get(USS1, "/aux/v1/validate_oauth").0, 403);
    let pool = Who { sub: "ops", scopes: &["interuss.pool_status.read", "interuss.pool_status.heartbeat.write"] };
    assert_eq!(dss.get(pool, "/aux/v1/pool"), (200, json!({"dar_id": ""})));
    assert_eq!(dss.get(pool, "/aux/v1/pool/dss_instances"), (200, json!({"dss_instances": []})));
    let beat = |query: &str| {
        Request::new("PUT", "/aux/v1/pool/dss_instances/heartbeat")
            .with_query(query)
            .with_caller(pool.sub, pool.scopes)
            .with_setting("locality", "dss-a")
            .with_setting("public-endpoint", "https://dss-a.example.com")
    };
    assert_eq!(dss.serve(beat("")).0, 400);
    assert_eq!(dss.serve(beat("source=cron&timestamp=yesterday")).0, 400);
    let (status, reply) = dss.serve(beat("source=cron&next_heartbeat_expected_before=2029-01-01T00:00:00Z"));
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = dss.serve(beat("source=startup"));
    assert_eq!(status, 201, "{reply}");
    let expected = json!({"dss_instances": [{"id": "dss-a", "public_endpoint": "https://dss-a.example.com",
        "most_recent_heartbeat": {"timestamp": at(0), "reporter": "ops", "source": "startup"}}]});
    assert_eq!(reply, expected);
    let (status, reply) = dss.serve(beat(
        "source=cron&timestamp=2030-01-01T01:30:00%2B01:00&next_heartbeat_expected_before=2030-01-01T00:45:00Z",
    ));
    assert_eq!(status, 201, "{reply}");
    let latest = &reply["dss_instances"][0]["most_recent_heartbeat"];
    assert_eq!(
        *latest,
        json!({"timestamp": at(minutes(30)), "reporter": "ops", "source": "cron", "next_heartbeat_expected_before": at(minutes(45))})
    );
    assert_eq!(dss.get(pool, "/aux/v1/pool/dss_instances").1, reply);
    assert_eq!(dss.serve(Request::new("GET", "/aux/v1/configuration/ca_certs")), (200, json!({})));
    assert_eq!(dss.serve(Request::new("GET", "/aux/v1/configuration/accepted_ca_certs")), (200, json!({})));
    assert_eq!(
        dss.get(pool, "/aux/v1/configuration/global_options"),
        (200, json!({"scd_global_lock": false, "scd_hash_lock": false, "time_based_notification_index": false}))
    );
}

#[test]
fn routing_and_authentication() {
    let mut dss = Dss::new();
    let (status, reply) = dss.get(USS1, "/dss/v1/nothing");
    assert_eq!(status, 404);
    assert!(reply["message"].is_string());
    assert_eq!(dss.get(USS1, "/healthy").0, 404);
    let response = dss.host.serve::<Scd>(Request::new("DELETE", &oir_path(&id(1))).with_caller("uss1", &[SC]));
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, PUT"));
    assert_eq!(dss.post(USS1, &oir_path(&format!("{}/x", id(1))), &json!({})).0, 405);
    assert_eq!(dss.get(USS1, "/aux/v1/pool/dss_instances/heartbeat").0, 405);
    // GET of "query" is a get of that id: 400.
    assert_eq!(dss.get(USS1, "/dss/v1/operational_intent_references/query").0, 400);
    let (status, reply) = dss.serve(Request::new("GET", &oir_path(&id(1))));
    assert_eq!((status, reply), (401, json!({"message": "Missing access token"})));
    let (status, reply) = dss.serve(Request::new("GET", &oir_path(&id(1))).with_auth_error("token is expired"));
    assert_eq!((status, reply), (401, json!({"message": "token is expired"})));
    let (status, reply) = dss.get(ARBITER, &oir_path(&id(1)));
    assert_eq!(status, 403);
    assert!(message(&reply).starts_with("Access token missing scopes"), "{reply}");
    // Auth comes before the body: a malformed body without credentials is a 401.
    assert_eq!(dss.serve(Request::new("PUT", &oir_path(&id(1))).with_body("{")).0, 401);
}

#[test]
fn the_same_requests_make_the_same_state() {
    let run = || {
        let mut dss = Dss::new();
        dss.create_sub(USS2, 7, &subscription(volume(46.0, 7.0, 0, minutes(120)), true, true));
        let mut body = oir("Accepted", here(), &[]);
        body["new_subscription"] = json!({"uss_base_url": "https://uss1.example.com"});
        let created = dss.create_oir(USS1, 1, &body);
        dss.set_time(minutes(1));
        dss.put(
            USS1,
            &oir_path(&format!("{}/{}", id(1), str_of(&created["ovn"]))),
            &with_new_sub(oir("Activated", here(), &[])),
        );
        dss.put(
            USS1,
            &constraint_path(&id(5)),
            &json!({"extents": [here()], "uss_base_url": "https://cm.example.com"}),
        );
        dss.host.store.clone()
    };
    assert_eq!(run(), run());
}

#[test]
fn commands_round_trip_through_postcard() {
    let mut host = TestHost::new();
    host.set_time(T0 as u64);
    let err =
        host.apply::<Scd>(Encoding::Postcard, &Command::DeleteOir { id: wasmraft_sdk::Id([0; 16]), ovn: "x".into() });
    assert_eq!(err.unwrap_err().code, "permission-denied", "no caller, no manager");
    let evicted = host.apply::<Scd>(Encoding::Postcard, &Command::Evict).unwrap();
    assert_eq!(evicted, crate::Output::Evicted { oirs: 0, constraints: 0, subscriptions: 0 });
}
