//! USS availability and its effect on key checks.

use super::*;

#[test]
fn uss_availability_get_and_set() {
    let mut dss = Dss::new();
    let path = "/dss/v1/uss_availability/uss1";
    let (status, reply) = dss.get(ARBITER, path);
    assert_eq!(status, 200);
    assert_eq!(reply, json!({"version": "", "status": {"uss": "uss1", "availability": "Unknown"}}));
    assert_eq!(dss.refused(ARBITER, "PUT", path, Some(&json!({"old_version": "v1", "availability": "Down"}))).0, 409);
    assert_eq!(dss.refused(ARBITER, "PUT", path, Some(&json!({"availability": "Sideways"}))).0, 400);
    assert_eq!(dss.refused(USS1, "PUT", path, Some(&json!({"availability": "Down"}))).0, 403);
    let (status, reply) = dss.put(ARBITER, path, &json!({"availability": "down"}));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"]["availability"], "Down");
    let version = str_of(&reply["version"]).to_string();
    assert_eq!(version.len(), 44);
    assert_eq!(dss.refused(ARBITER, "PUT", path, Some(&json!({"old_version": "", "availability": "Normal"}))).0, 409);
    assert_eq!(dss.get(USS2, path).1["status"]["availability"], "Down");
    let (status, reply) = dss.put(ARBITER, path, &json!({"old_version": version, "availability": "NORMAL"}));
    assert_eq!(status, 200);
    assert_eq!(reply["status"]["availability"], "Normal");
    assert_eq!(dss.get(ARBITER, "/dss/v1/uss_availability/").0, 400);
}

#[test]
fn a_down_uss_accepted_oirs_need_no_key() {
    let mut dss = Dss::new();
    let accepted = dss.create_oir(USS1, 1, &oir("Accepted", here(), &[]));
    let (status, _) = dss.put(ARBITER, "/dss/v1/uss_availability/uss1", &json!({"availability": "Down"}));
    assert_eq!(status, 200);
    let (_, reply) = dss.get(USS2, &oir_path(&id(1)));
    assert_eq!(reply["operational_intent_reference"]["uss_availability"], "Down");
    let (status, reply) = dss.put(USS2, &oir_path(&id(2)), &oir("Accepted", here(), &[]));
    assert_eq!(status, 201, "{reply}");
    // An Activated one of a USS that is Down still needs to be in the key.
    let activated = with_new_sub(oir("Activated", here(), &[str_of(&reply["operational_intent_reference"]["ovn"])]));
    let (status, reply) = dss.put(USS1, &oir_path(&format!("{}/{}", id(1), str_of(&accepted["ovn"]))), &activated);
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = dss.refused(USS2, "PUT", &oir_path(&id(3)), Some(&oir("Accepted", here(), &[])));
    assert_eq!(status, 409);
    let missing: Vec<&Value> =
        reply["missing_operational_intents"].as_array().unwrap().iter().map(|o| &o["id"]).collect();
    assert_eq!(missing, vec![&json!(id(1)), &json!(id(2))]);
}
