//! Constraint references.

use super::*;

#[test]
fn constraint_routes() {
    let mut dss = Dss::new();
    let body = json!({"extents": [json!({"volume": {"outline_polygon": square(46.0, 7.0, 0.01)},
        "time_start": time(minutes(10)), "time_end": time(minutes(70))})], "uss_base_url": "https://cm.example.com"});
    let sc_only = Who { sub: "uss1", scopes: &[SC] };
    assert_eq!(dss.refused(sc_only, "PUT", &constraint_path(&id(5)), Some(&body)).0, 403);
    let (status, reply) = dss.put(USS1, &constraint_path(&id(5)), &body);
    assert_eq!(status, 201, "{reply}");
    let c = reply["constraint_reference"].clone();
    assert_eq!(c["version"], 1);
    assert_eq!(c["uss_availability"], "Unknown");
    assert_eq!(c["manager"], "uss1");
    let ovn = str_of(&c["ovn"]).to_string();
    assert_eq!(dss.get(USS2, &constraint_path(&id(5))).1["constraint_reference"]["ovn"], NO_OVN_PHRASE);
    assert_eq!(dss.get(USS1, &constraint_path(&id(5))).1["constraint_reference"]["ovn"], json!(ovn));
    let (status, reply) = dss.post(USS2, "/dss/v1/constraint_references/query", &json!({"area_of_interest": here()}));
    assert_eq!(status, 200);
    assert_eq!(reply["constraint_references"][0]["ovn"], NO_OVN_PHRASE);
    // 409 for an update of nothing, a create over it, a stale OVN; 403 for another USS.
    assert_eq!(dss.refused(USS1, "PUT", &constraint_path(&format!("{}/{ovn}", id(6))), Some(&body)).0, 409);
    assert_eq!(dss.refused(USS1, "PUT", &constraint_path(&id(5)), Some(&body)).0, 409);
    assert_eq!(
        dss.refused(USS1, "PUT", &constraint_path(&format!("{}/stale-ovn-12345678", id(5))), Some(&body)).0,
        409
    );
    assert_eq!(dss.refused(USS2, "PUT", &constraint_path(&format!("{}/{ovn}", id(5))), Some(&body)).0, 403);
    assert_eq!(dss.refused(USS2, "DELETE", &constraint_path(&format!("{}/{ovn}", id(5))), None).0, 403);
    assert_eq!(dss.refused(USS1, "DELETE", &constraint_path(&format!("{}/stale-ovn-12345678", id(5))), None).0, 409);
    assert_eq!(dss.refused(USS1, "DELETE", &constraint_path(&format!("{}/", id(5))), None).0, 400);
    dss.set_time(minutes(1));
    let (status, reply) = dss.put(USS1, &constraint_path(&format!("{}/{ovn}", id(5))), &body);
    assert_eq!(status, 200);
    assert_eq!(reply["constraint_reference"]["version"], 2);
    let ovn = str_of(&reply["constraint_reference"]["ovn"]).to_string();
    let (status, _) = dss.delete(USS1, &constraint_path(&format!("{}/{ovn}", id(5))));
    assert_eq!(status, 200);
    assert_eq!(dss.get(USS1, &constraint_path(&id(5))).0, 404);
    assert_eq!(dss.refused(USS1, "DELETE", &constraint_path(&format!("{}/{ovn}", id(5))), None).0, 404);
    // The reference's quirk: a geometry its constraint search cannot cover is a 500.
    let (status, reply) = dss.post(
        USS1,
        "/dss/v1/constraint_references/query",
        &json!({"area_of_interest": {"volume": {"outline_polygon": square(40.0, 7.0, 2.0)}}}),
    );
    assert_eq!(status, 500);
    assert!(reply["error_message"].is_string(), "{reply}");
    let (status, _) = dss.post(
        USS1,
        "/dss/v1/constraint_references/query",
        &json!({"area_of_interest": {"time_start": {"value": "x"}}}),
    );
    assert_eq!(status, 400);
}
