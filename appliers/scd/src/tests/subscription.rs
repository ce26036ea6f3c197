//! Subscriptions: routes, defaults, refusals, expiry in queries.

use super::*;

#[test]
fn subscription_create_get_query_update_delete() {
    let mut dss = Dss::new();
    // Defaults: start now, end 24 h later.
    let no_times = json!({"extents": {"volume": {"outline_polygon": square(46.0, 7.0, 0.01)}},
        "uss_base_url": "https://sub.example.com", "notify_for_operational_intents": true});
    let sub = dss.create_sub(USS1, 7, &no_times);
    assert_eq!(sub["id"], id(7));
    assert_eq!(sub["time_start"]["value"], at(0));
    assert_eq!(sub["time_end"]["value"], at(NANOS_PER_DAY));
    assert_eq!(sub["notify_for_constraints"], false);
    assert_eq!(sub["implicit_subscription"], false);
    assert_eq!(sub["dependent_operational_intents"], json!([]));
    assert_eq!(str_of(&sub["version"]).len(), 44);
    // Others may not see it; queries list only the caller's.
    assert_eq!(dss.get(USS2, &sub_path(&id(7))).0, 403);
    dss.create_sub(USS2, 8, &subscription(here(), true, false));
    let path = "/dss/v1/subscriptions/query";
    let (status, reply) = dss.post(USS1, path, &json!({"area_of_interest": here()}));
    assert_eq!(status, 200, "{reply}");
    let listed: Vec<&Value> = reply["subscriptions"].as_array().unwrap().iter().map(|s| &s["id"]).collect();
    assert_eq!(listed, vec![&json!(id(7))]);
    // Creating it again (by anyone) is a 409; updating a missing one a 400.
    assert_eq!(dss.refused(USS2, "PUT", &sub_path(&id(7)), Some(&no_times)).0, 409);
    assert_eq!(
        dss.refused(USS1, "PUT", &sub_path(&format!("{}/{}", id(9), str_of(&sub["version"]))), Some(&no_times)).0,
        400
    );
    let version = str_of(&sub["version"]).to_string();
    let update = sub_path(&format!("{}/{version}", id(7)));
    assert_eq!(
        dss.refused(USS1, "PUT", &sub_path(&format!("{}/stale-version-1234567", id(7))), Some(&no_times)).0,
        409
    );
    assert_eq!(dss.refused(USS2, "PUT", &update, Some(&no_times)).0, 403);
    // An update keeps the bounds it does not give, and the index.
    dss.set_time(minutes(1));
    let mut constraints_too = no_times.clone();
    constraints_too["notify_for_constraints"] = json!(true);
    let (status, reply) = dss.put(USS1, &update, &constraints_too);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["subscription"]["time_start"]["value"], at(0));
    assert_eq!(reply["subscription"]["time_end"]["value"], at(NANOS_PER_DAY));
    assert_ne!(reply["subscription"]["version"], json!(version));
    assert_eq!(reply["operational_intent_references"], json!([]));
    assert_eq!(reply["constraint_references"], json!([]));
    let version = str_of(&reply["subscription"]["version"]).to_string();
    // Delete: stale version 409, then 200 and gone.
    assert_eq!(dss.refused(USS1, "DELETE", &sub_path(&format!("{}/stale-version-1234567", id(7))), None).0, 409);
    assert_eq!(dss.refused(USS2, "DELETE", &sub_path(&format!("{}/{version}", id(7))), None).0, 403);
    let (status, reply) = dss.delete(USS1, &sub_path(&format!("{}/{version}", id(7))));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["subscription"]["id"], id(7));
    assert_eq!(dss.get(USS1, &sub_path(&id(7))).0, 404);
    assert_eq!(dss.refused(USS1, "DELETE", &sub_path(&format!("{}/{version}", id(7))), None).0, 404);
    assert_eq!(dss.refused(USS1, "DELETE", &sub_path(&format!("{}/", id(7))), None).0, 400);
}

#[test]
fn subscription_answers_list_what_it_covers() {
    let mut dss = Dss::new();
    dss.create_oir(USS2, 1, &oir("Accepted", here(), &[]));
    let (status, _) = dss.put(
        USS2,
        &constraint_path(&id(5)),
        &json!({"extents": [here()], "uss_base_url": "https://cm.example.com"}),
    );
    assert_eq!(status, 201);
    let (status, reply) =
        dss.put(USS1, &sub_path(&id(7)), &subscription(volume(46.0, 7.0, 0, minutes(120)), true, true));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["operational_intent_references"][0]["id"], id(1));
    assert_eq!(reply["operational_intent_references"][0]["ovn"], NO_OVN_PHRASE);
    assert_eq!(reply["constraint_references"][0]["id"], id(5));
    assert_eq!(reply["constraint_references"][0]["ovn"], NO_OVN_PHRASE);
    let (_, reply) = dss.put(USS1, &sub_path(&id(8)), &subscription(volume(46.0, 7.0, 0, minutes(120)), true, false));
    assert!(reply.get("constraint_references").is_none(), "{reply}");
}

#[test]
fn subscription_refusals() {
    let mut dss = Dss::new();
    let path = sub_path(&id(7));
    let refuse = |dss: &mut Dss, body: &Value, status: u16, text: &str| {
        let (got, reply) = dss.refused(USS1, "PUT", &path, Some(body));
        assert_eq!(got, status, "{reply}");
        assert!(message(&reply).contains(text), "{text} in {reply}");
    };
    refuse(&mut dss, &subscription(here(), false, false), 400, "No notification triggers");
    refuse(
        &mut dss,
        &subscription(volume(46.0, 7.0, minutes(-10), minutes(60)), true, false),
        400,
        "must not be in the past",
    );
    refuse(
        &mut dss,
        &subscription(volume(46.0, 7.0, 0, NANOS_PER_DAY + minutes(1)), true, false),
        400,
        "exceeds 24 hours",
    );
    let mut http = subscription(here(), true, false);
    http["uss_base_url"] = json!("http://sub.example.com");
    refuse(&mut dss, &http, 400, "must use TLS");
    let mut huge = subscription(here(), true, false);
    huge["extents"]["volume"]["outline_polygon"] = square(40.0, 7.0, 2.0);
    refuse(&mut dss, &huge, 400, "Area too large");
    let no_footprint = json!({"extents": {"time_start": time(0)}, "uss_base_url": "https://sub.example.com",
        "notify_for_operational_intents": true});
    let sub = dss.create_sub(USS1, 7, &no_footprint);
    assert_eq!(sub["notification_index"], 0);
    let mut constraints = no_footprint.clone();
    constraints["notify_for_constraints"] = json!(true);
    let (status, _) = dss.refused(USS1, "PUT", &sub_path(&id(8)), Some(&constraints));
    assert_eq!(status, 400);
    // Query: a too large area is a 413 here; no area a 400.
    let query = "/dss/v1/subscriptions/query";
    let (status, reply) =
        dss.post(USS1, query, &json!({"area_of_interest": {"volume": {"outline_polygon": square(40.0, 7.0, 2.0)}}}));
    assert_eq!(status, 413, "{reply}");
    assert_eq!(dss.post(USS1, query, &json!({})).0, 400);
    assert_eq!(dss.post(USS1, query, &json!({"area_of_interest": {}})).0, 400);
    assert_eq!(dss.get(USS1, &sub_path("a0")).0, 400);
}

#[test]
fn expired_subscriptions_are_not_listed() {
    let mut dss = Dss::new();
    dss.create_sub(USS1, 7, &subscription(volume(46.0, 7.0, 0, minutes(30)), true, false));
    let path = "/dss/v1/subscriptions/query";
    let aoi = json!({"area_of_interest": {"volume": {"outline_polygon": square(46.0, 7.0, 0.01)}}});
    assert_eq!(dss.post(USS1, path, &aoi).1["subscriptions"].as_array().unwrap().len(), 1);
    dss.set_time(minutes(31));
    assert_eq!(dss.post(USS1, path, &aoi).1["subscriptions"], json!([]));
    assert_eq!(dss.get(USS1, &sub_path(&id(7))).0, 200, "a get still finds it");
}
