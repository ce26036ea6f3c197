//! Operational intent references: routes, refusals, subscriptions, key checks.

use super::*;

#[test]
fn oir_create_get_update_delete() {
    let mut dss = Dss::new();
    let (status, reply) = dss.put(USS1, &oir_path(&id(1)), &oir("Accepted", here(), &[]));
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["subscribers"], json!([]));
    let created = &reply["operational_intent_reference"];
    assert_eq!(created["id"], id(1));
    assert_eq!(created["manager"], "uss1");
    assert_eq!(created["version"], 1);
    assert_eq!(created["state"], "Accepted");
    assert_eq!(created["uss_availability"], "Unknown");
    assert_eq!(created["subscription_id"], "00000000-0000-4000-8000-000000000000");
    assert_eq!(created["time_start"], json!({"value": at(minutes(10)), "format": "RFC3339"}));
    assert_eq!(created["time_end"]["value"], at(minutes(70)));
    assert_eq!(created["uss_base_url"], "https://uss.example.com/utm");
    let ovn1 = str_of(&created["ovn"]).to_string();
    assert_eq!(ovn1.len(), 44);

    let (status, reply) = dss.get(USS1, &oir_path(&id(1)));
    assert_eq!(status, 200);
    assert_eq!(reply["operational_intent_reference"], *created);
    let (status, reply) = dss.get(USS2, &oir_path(&id(1)));
    assert_eq!(status, 200);
    assert_eq!(reply["operational_intent_reference"]["ovn"], NO_OVN_PHRASE);

    dss.set_time(minutes(1));
    let mut moved = oir("Accepted", volume(46.0, 7.0, minutes(20), minutes(80)), &[]);
    moved["uss_base_url"] = json!("https://uss.example.com/v2");
    let (status, reply) = dss.put(USS1, &oir_path(&format!("{}/{ovn1}", id(1))), &moved);
    assert_eq!(status, 200, "{reply}");
    let updated = &reply["operational_intent_reference"];
    assert_eq!(updated["version"], 2);
    assert_ne!(updated["ovn"], ovn1);
    assert_eq!(updated["time_start"]["value"], at(minutes(20)));
    assert_eq!(updated["uss_base_url"], "https://uss.example.com/v2");
    let ovn2 = str_of(&updated["ovn"]).to_string();

    let (status, reply) = dss.delete(USS1, &oir_path(&format!("{}/{ovn2}", id(1))));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["operational_intent_reference"]["ovn"], ovn2);
    let (status, reply) = dss.get(USS1, &oir_path(&id(1)));
    assert_eq!(status, 404);
    assert!(message(&reply).contains("not found"), "{reply}");
}

#[test]
fn oir_query_filters_by_cells_time_and_altitude_and_scrubs() {
    let mut dss = Dss::new();
    dss.create_oir(USS1, 1, &oir("Accepted", here(), &[]));
    let key = [NO_OVN_PHRASE];
    let far = volume(47.0, 8.0, minutes(10), minutes(70));
    dss.create_oir(USS2, 2, &oir("Accepted", far, &key));
    let query = |aoi: Value| json!({"area_of_interest": aoi});
    let ids = |reply: &Value| -> Vec<String> {
        reply["operational_intent_references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| str_of(&o["id"]).to_string())
            .collect()
    };
    let path = "/dss/v1/operational_intent_references/query";
    let (status, reply) = dss.post(USS2, path, &query(here()));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(ids(&reply), vec![id(1)]);
    assert_eq!(reply["operational_intent_references"][0]["ovn"], NO_OVN_PHRASE);
    let (_, reply) = dss.post(USS1, path, &query(here()));
    assert_ne!(reply["operational_intent_references"][0]["ovn"], NO_OVN_PHRASE);
    // Touching in time counts; after it does not.
    let (_, reply) = dss.post(USS1, path, &query(volume(46.0, 7.0, minutes(70), minutes(80))));
    assert_eq!(ids(&reply), vec![id(1)]);
    let (_, reply) = dss.post(USS1, path, &query(volume(46.0, 7.0, minutes(71), minutes(80))));
    assert!(ids(&reply).is_empty());
    // Above it.
    let mut high = here();
    high["volume"]["altitude_lower"] = alt(150.0);
    high["volume"]["altitude_upper"] = alt(200.0);
    let (_, reply) = dss.post(USS1, path, &query(high));
    assert!(ids(&reply).is_empty());
    // No time or altitude bound: unbounded.
    let (_, reply) = dss.post(
        USS1,
        path,
        &query(json!({"volume": {"outline_circle":
        {"center": {"lat": 46.005, "lng": 7.005}, "radius": {"value": 100, "units": "M"}}}})),
    );
    assert_eq!(ids(&reply), vec![id(1)]);
    // No area, no footprint, a too large area: 400.
    assert_eq!(dss.post(USS1, path, &json!({})).0, 400);
    assert_eq!(dss.post(USS1, path, &query(json!({"time_start": time(0)}))).0, 400);
    let huge = json!({"volume": {"outline_polygon": square(40.0, 7.0, 2.0)}});
    assert_eq!(dss.post(USS1, path, &query(huge)).0, 400);
}

#[test]
fn oir_refusals_of_the_request() {
    let mut dss = Dss::new();
    let path = oir_path(&id(1));
    let refuse = |dss: &mut Dss, body: &Value, status: u16, text: &str| {
        let (got, reply) = dss.refused(USS1, "PUT", &path, Some(body));
        assert_eq!(got, status, "{reply}");
        assert!(message(&reply).contains(text), "{text} in {reply}");
    };
    refuse(&mut dss, &json!("not an object"), 400, "Malformed params");
    let (status, reply) = dss.refused(USS1, "PUT", &path, None);
    assert_eq!(status, 400, "{reply}");
    let mut single_extent = oir("Accepted", here(), &[]);
    single_extent["extents"] = here();
    refuse(&mut dss, &single_extent, 400, "Malformed params");
    let (status, _) = dss.refused(USS1, "PUT", &oir_path("a0"), Some(&oir("Accepted", here(), &[])));
    assert_eq!(status, 400);
    let (status, _) = dss.refused(
        USS1,
        "PUT",
        &oir_path("0000000a-0000-1000-8000-000000000000"),
        Some(&oir("Accepted", here(), &[])),
    );
    assert_eq!(status, 400);
    let mut no_url = oir("Accepted", here(), &[]);
    no_url["uss_base_url"] = json!("");
    refuse(&mut dss, &no_url, 400, "Missing required UssBaseUrl");
    let mut http = oir("Accepted", here(), &[]);
    http["uss_base_url"] = json!("http://uss.example.com");
    refuse(&mut dss, &http, 400, "must use TLS");
    let mut bad_sub = oir("Accepted", here(), &[]);
    bad_sub["subscription_id"] = json!("a0");
    refuse(&mut dss, &bad_sub, 400, "Invalid ID format for Subscription ID");
    let mut both = oir("Accepted", here(), &[]);
    both["subscription_id"] = json!(id(9));
    both["new_subscription"] = json!({"uss_base_url": "https://uss.example.com"});
    refuse(&mut dss, &both, 400, "Cannot provide both");
    refuse(&mut dss, &oir("Ended", here(), &[]), 400, "Invalid OperationalIntent state");
    refuse(&mut dss, &oir("Activated", here(), &[]), 400, "Invalid state for initial version");
    let mut past = oir("Accepted", volume(46.0, 7.0, minutes(-90), minutes(-30)), &[]);
    refuse(&mut dss, &past, 400, "End time may not be in the past");
    past["extents"][0]["time_end"] = json!({"value": "2030-13-01T00:00:00Z", "format": "RFC3339"});
    refuse(&mut dss, &past, 400, "end time");
    let mut no_alt = oir("Accepted", here(), &[]);
    no_alt["extents"][0]["volume"]["altitude_upper"] = Value::Null;
    refuse(&mut dss, &no_alt, 400, "Missing upper altitude");
    let mut feet = oir("Accepted", here(), &[]);
    feet["extents"][0]["volume"]["altitude_lower"]["units"] = json!("FT");
    refuse(&mut dss, &feet, 400, "Invalid lower altitude unit");
    let mut agl = oir("Accepted", here(), &[]);
    agl["extents"][0]["volume"]["altitude_upper"]["reference"] = json!("SFC");
    refuse(&mut dss, &agl, 400, "Invalid upper altitude reference");
    let mut inverted = oir("Accepted", here(), &[]);
    inverted["extents"][0]["volume"]["altitude_lower"] = alt(200.0);
    refuse(&mut dss, &inverted, 400, "Lower altitude cannot be greater");
    let polygon = |vertices: Value| {
        let mut body = oir("Accepted", here(), &[]);
        body["extents"][0]["volume"]["outline_polygon"] = json!({"vertices": vertices});
        body
    };
    let bowtie = json!([{"lat": 46.0, "lng": 7.0}, {"lat": 46.01, "lng": 7.01}, {"lat": 46.0, "lng": 7.01}, {"lat": 46.01, "lng": 7.0}]);
    refuse(&mut dss, &polygon(bowtie), 400, "well-formed");
    refuse(&mut dss, &polygon(json!([{"lat": 46.0, "lng": 7.0}, {"lat": 46.01, "lng": 7.01}])), 400, "well-formed");
    let off_earth = json!([{"lat": 95.0, "lng": 7.0}, {"lat": 46.01, "lng": 7.01}, {"lat": 46.0, "lng": 7.01}]);
    refuse(&mut dss, &polygon(off_earth), 400, "well-formed");
    let mut huge = oir("Accepted", here(), &[]);
    huge["extents"][0]["volume"]["outline_polygon"] = square(40.0, 7.0, 2.0);
    refuse(&mut dss, &huge, 400, "Area too large");
    let mut empty = oir("Accepted", here(), &[]);
    empty["extents"] = json!([]);
    refuse(&mut dss, &empty, 400, "Missing start time");
    let mut suffix = oir("Accepted", here(), &[]);
    suffix["requested_ovn_suffix"] = json!("0191b794-9628-445a-a598-aa1fcd4a82bf");
    refuse(&mut dss, &suffix, 400, "not version 7");
    // Deeply nested JSON is a malformed body, not a crash.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, reply) = dss.serve(Request::new("PUT", &path).with_caller("uss1", &[SC]).with_body(deep));
    assert_eq!(status, 400, "{reply}");
    let deep_field = format!(r#"{{"unknown": {}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    let (status, _) = dss.serve(Request::new("PUT", &path).with_caller("uss1", &[SC]).with_body(deep_field));
    assert_eq!(status, 400);
    assert!(dss.host.store.is_empty());
}

#[test]
fn oir_http_base_urls_when_allowed_and_unknown_fields_ignored() {
    let mut dss = Dss::new();
    let mut body = oir("Accepted", here(), &[]);
    body["uss_base_url"] = json!("http://localhost:8074");
    body["old_version"] = json!(3);
    body["notifyForOperations"] = json!({"deep": [1, 2, 3]});
    let request = Request::new("PUT", &oir_path(&id(1)))
        .with_caller("uss1", &[SC])
        .with_setting("allow-http-base-urls", "true")
        .with_body(body.to_string());
    let (status, reply) = dss.serve(request);
    assert_eq!(status, 201, "{reply}");
    // Only the first JSON value is read, as Go's decoder does.
    let trailing = format!(
        "{} trailing",
        oir(
            "Accepted",
            volume(46.0, 7.0, minutes(10), minutes(70)),
            &[str_of(&reply["operational_intent_reference"]["ovn"])]
        )
    );
    let (status, reply) =
        dss.serve(Request::new("PUT", &oir_path(&id(2))).with_caller("uss1", &[SC]).with_body(trailing));
    assert_eq!(status, 201, "{reply}");
}

#[test]
fn oir_refusals_against_the_state() {
    let mut dss = Dss::new();
    let created = dss.create_oir(USS1, 1, &oir("Accepted", here(), &[]));
    let ovn = str_of(&created["ovn"]).to_string();
    let with_ovn = |o: &str| oir_path(&format!("{}/{o}", id(1)));
    // Creating again: 409 with a message (an AirspaceConflictResponse without lists).
    let (status, reply) = dss.refused(USS1, "PUT", &oir_path(&id(1)), Some(&oir("Accepted", here(), &[])));
    assert_eq!(status, 409);
    assert!(message(&reply).contains("Current version is"), "{reply}");
    assert!(reply.get("missing_operational_intents").is_none());
    let (status, _) = dss.refused(USS1, "PUT", &with_ovn("wrong-ovn-0123456789"), Some(&oir("Accepted", here(), &[])));
    assert_eq!(status, 409);
    // Another USS: 403, before any OVN check.
    let (status, reply) = dss.refused(USS2, "PUT", &with_ovn(&ovn), Some(&oir("Accepted", here(), &[&ovn])));
    assert_eq!(status, 403, "{reply}");
    let (status, _) = dss.refused(USS2, "DELETE", &with_ovn(&ovn), None);
    assert_eq!(status, 403);
    // Updating what does not exist is a 400 on this path; deleting it a 404.
    let missing = oir_path(&format!("{}/{ovn}", id(2)));
    let (status, reply) = dss.refused(USS1, "PUT", &missing, Some(&oir("Accepted", here(), &[])));
    assert_eq!(status, 400, "{reply}");
    assert_eq!(dss.refused(USS1, "DELETE", &missing, None).0, 404);
    assert_eq!(dss.refused(USS1, "DELETE", &with_ovn("wrong-ovn-0123456789"), None).0, 409);
    // An empty OVN in the path.
    assert_eq!(dss.refused(USS1, "DELETE", &with_ovn(""), None).0, 400);
    assert_eq!(dss.refused(USS1, "DELETE", "/dss/v1/operational_intent_references/a0/xyz", None).0, 400);
    // Off-nominal states need CMSA (and a subscription).
    let mut nonconforming = oir("Nonconforming", here(), &[]);
    nonconforming["new_subscription"] = json!({"uss_base_url": "https://uss.example.com"});
    let (status, reply) = dss.refused(USS1, "PUT", &with_ovn(&ovn), Some(&nonconforming));
    assert_eq!(status, 403, "{reply}");
    assert!(message(&reply).contains("SCD0100"));
    let (status, _) = dss.refused(USS1_CMSA, "PUT", &with_ovn(&ovn), Some(&oir("Nonconforming", here(), &[])));
    assert_eq!(status, 400);
    let (status, reply) = dss.put(USS1_CMSA, &with_ovn(&ovn), &nonconforming);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["operational_intent_reference"]["state"], "Nonconforming");
}

#[test]
fn oir_with_explicit_subscription() {
    let mut dss = Dss::new();
    let wide = volume(46.0, 7.0, minutes(0), minutes(120));
    dss.create_sub(USS1, 7, &subscription(wide, true, false));
    let mut body = oir("Accepted", here(), &[]);
    body["subscription_id"] = json!(id(7));
    let created = dss.create_oir(USS1, 1, &body);
    assert_eq!(created["subscription_id"], id(7));
    assert_eq!(dss.sub(USS1, 7)["dependent_operational_intents"], json!([id(1)]));
    // A subscription of another USS, an unknown one, one that does not cover the OIR.
    body["subscription_id"] = json!(id(7));
    let (status, _) = dss.refused(USS2, "PUT", &oir_path(&id(2)), Some(&body));
    assert_eq!(status, 403);
    body["subscription_id"] = json!(id(8));
    let (status, reply) = dss.refused(USS1, "PUT", &oir_path(&id(2)), Some(&body));
    assert_eq!(status, 400);
    assert!(message(&reply).contains("does not exist"));
    let mut late = oir("Accepted", volume(46.0, 7.0, minutes(10), minutes(180)), &[str_of(&created["ovn"])]);
    late["subscription_id"] = json!(id(7));
    let (status, reply) = dss.refused(USS1, "PUT", &oir_path(&id(2)), Some(&late));
    assert_eq!(status, 400);
    assert!(message(&reply).contains("ends before"), "{reply}");
    let mut elsewhere = oir("Accepted", volume(46.5, 7.0, minutes(10), minutes(60)), &[]);
    elsewhere["subscription_id"] = json!(id(7));
    let (status, reply) = dss.refused(USS1, "PUT", &oir_path(&id(2)), Some(&elsewhere));
    assert_eq!(status, 400);
    assert!(message(&reply).contains("spatial area"), "{reply}");
    // The subscription cannot go while the OIR relies on it, nor shrink below it.
    let version = str_of(&dss.sub(USS1, 7)["version"]).to_string();
    let (status, reply) = dss.refused(USS1, "DELETE", &sub_path(&format!("{}/{version}", id(7))), None);
    assert_eq!(status, 400);
    assert!(message(&reply).contains("dependent"));
    let shorter = subscription(volume(46.0, 7.0, minutes(0), minutes(30)), true, false);
    let (status, reply) = dss.refused(USS1, "PUT", &sub_path(&format!("{}/{version}", id(7))), Some(&shorter));
    assert_eq!(status, 400);
    assert!(message(&reply).contains("end time"), "{reply}");
    let lower = {
        let mut s = subscription(volume(46.0, 7.0, minutes(0), minutes(120)), true, false);
        s["extents"]["volume"]["altitude_upper"] = alt(50.0);
        s
    };
    let (status, reply) = dss.refused(USS1, "PUT", &sub_path(&format!("{}/{version}", id(7))), Some(&lower));
    assert_eq!(status, 400);
    assert!(message(&reply).contains("altitude"), "{reply}");
    let smaller = subscription(volume(46.5, 7.0, minutes(0), minutes(120)), true, false);
    let (status, reply) = dss.refused(USS1, "PUT", &sub_path(&format!("{}/{version}", id(7))), Some(&smaller));
    assert_eq!(status, 400);
    assert!(message(&reply).contains("2d area"), "{reply}");
    // Detaching (an update without subscription) leaves an explicit subscription alone.
    let (status, reply) =
        dss.put(USS1, &oir_path(&format!("{}/{}", id(1), str_of(&created["ovn"]))), &oir("Accepted", here(), &[]));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["operational_intent_reference"]["subscription_id"], "00000000-0000-4000-8000-000000000000");
    assert_eq!(dss.sub(USS1, 7)["dependent_operational_intents"], json!([]));
}

#[test]
fn implicit_subscription_life_cycle() {
    let mut dss = Dss::new();
    let mut body = oir("Accepted", here(), &[]);
    body["new_subscription"] = json!({"uss_base_url": "https://uss1.example.com", "notify_for_constraints": true});
    let (status, reply) = dss.put(USS1, &oir_path(&id(1)), &body);
    assert_eq!(status, 201, "{reply}");
    let oir1 = reply["operational_intent_reference"].clone();
    let implicit = str_of(&oir1["subscription_id"]).to_string();
    assert_ne!(implicit, "00000000-0000-4000-8000-000000000000");
    // Created before the notification step, so it hears of its own OIR.
    assert_eq!(subscribers(&reply), vec![("https://uss1.example.com".to_string(), vec![(implicit.clone(), 1)])]);
    let (status, reply) = dss.get(USS1, &sub_path(&implicit));
    assert_eq!(status, 200);
    let sub = &reply["subscription"];
    assert_eq!(sub["implicit_subscription"], true);
    assert_eq!(sub["notify_for_operational_intents"], true);
    assert_eq!(sub["notify_for_constraints"], true);
    assert_eq!(sub["notification_index"], 1);
    assert_eq!(sub["dependent_operational_intents"], json!([id(1)]));
    assert_eq!(sub["time_start"], oir1["time_start"]);
    assert_eq!(sub["time_end"], oir1["time_end"]);
    let version1 = sub["version"].clone();

    // An update naming it, with a wider extent, extends it (a new version).
    dss.set_time(minutes(1));
    let mut wider = oir("Activated", volume(46.0, 7.0, minutes(5), minutes(90)), &[]);
    wider["subscription_id"] = json!(implicit);
    let (status, reply) = dss.put(USS1, &oir_path(&format!("{}/{}", id(1), str_of(&oir1["ovn"]))), &wider);
    assert_eq!(status, 200, "{reply}");
    let oir1 = reply["operational_intent_reference"].clone();
    assert_eq!(oir1["subscription_id"], json!(implicit));
    let (_, reply) = dss.get(USS1, &sub_path(&implicit));
    let sub = &reply["subscription"];
    assert_ne!(sub["version"], version1);
    assert_eq!(sub["time_start"]["value"], at(minutes(5)));
    assert_eq!(sub["time_end"]["value"], at(minutes(90)));
    assert_eq!(sub["notification_index"], 2);

    // new_subscription again: a new implicit subscription; the old one goes.
    dss.set_time(minutes(2));
    let mut renewed = oir("Activated", here(), &[]);
    renewed["new_subscription"] = json!({"uss_base_url": "https://uss1.example.com"});
    let (status, reply) = dss.put(USS1, &oir_path(&format!("{}/{}", id(1), str_of(&oir1["ovn"]))), &renewed);
    assert_eq!(status, 200, "{reply}");
    let oir1 = reply["operational_intent_reference"].clone();
    let second = str_of(&oir1["subscription_id"]).to_string();
    assert_ne!(second, implicit);
    assert_eq!(dss.get(USS1, &sub_path(&implicit)).0, 404);
    assert_eq!(dss.sub_by_id(&second)["implicit_subscription"], true);

    // Back to Accepted without a subscription: the implicit one is detached and removed.
    dss.set_time(minutes(3));
    let (status, reply) =
        dss.put(USS1, &oir_path(&format!("{}/{}", id(1), str_of(&oir1["ovn"]))), &oir("Accepted", here(), &[]));
    assert_eq!(status, 200, "{reply}");
    let oir1 = reply["operational_intent_reference"].clone();
    assert_eq!(dss.get(USS1, &sub_path(&second)).0, 404);

    // Deleting an OIR deletes its implicit subscription (notified first).
    dss.set_time(minutes(4));
    let mut again = oir("Accepted", here(), &[]);
    again["new_subscription"] = json!({"uss_base_url": "https://uss1.example.com"});
    let (status, reply) = dss.put(USS1, &oir_path(&format!("{}/{}", id(1), str_of(&oir1["ovn"]))), &again);
    assert_eq!(status, 200, "{reply}");
    let oir1 = reply["operational_intent_reference"].clone();
    let third = str_of(&oir1["subscription_id"]).to_string();
    let (status, reply) = dss.delete(USS1, &oir_path(&format!("{}/{}", id(1), str_of(&oir1["ovn"]))));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(subscribers(&reply), vec![("https://uss1.example.com".to_string(), vec![(third.clone(), 2)])]);
    assert_eq!(dss.get(USS1, &sub_path(&third)).0, 404);
    assert!(dss.host.store.is_empty(), "nothing may be left behind");
}

#[test]
fn an_implicit_subscription_shared_by_two_oirs_stays_until_the_last_goes() {
    let mut dss = Dss::new();
    let mut body = oir("Accepted", here(), &[]);
    body["new_subscription"] = json!({"uss_base_url": "https://uss1.example.com"});
    let first = dss.create_oir(USS1, 1, &body);
    let implicit = str_of(&first["subscription_id"]).to_string();
    let mut second = oir("Accepted", here(), &[str_of(&first["ovn"])]);
    second["subscription_id"] = json!(implicit);
    let second = dss.create_oir(USS1, 2, &second);
    assert_eq!(dss.sub_by_id(&implicit)["dependent_operational_intents"], json!([id(1), id(2)]));
    let (status, _) = dss.delete(USS1, &oir_path(&format!("{}/{}", id(1), str_of(&first["ovn"]))));
    assert_eq!(status, 200);
    assert_eq!(dss.sub_by_id(&implicit)["dependent_operational_intents"], json!([id(2)]));
    let (status, _) = dss.delete(USS1, &oir_path(&format!("{}/{}", id(2), str_of(&second["ovn"]))));
    assert_eq!(status, 200);
    assert_eq!(dss.get(USS1, &sub_path(&implicit)).0, 404);
}

#[test]
fn a_second_implicit_subscription_at_the_same_instant_gets_another_id() {
    let mut dss = Dss::new();
    let body = with_new_sub(oir("Accepted", here(), &[]));
    let first = dss.create_oir(USS1, 1, &body);
    // Same OIR, same entry time: the derived id is taken, so a fresh one is drawn.
    let (status, reply) = dss.put(USS1, &oir_path(&format!("{}/{}", id(1), str_of(&first["ovn"]))), &body);
    assert_eq!(status, 200, "{reply}");
    let second = str_of(&reply["operational_intent_reference"]["subscription_id"]).to_string();
    assert_ne!(second, str_of(&first["subscription_id"]));
    assert_eq!(dss.get(USS1, &sub_path(str_of(&first["subscription_id"]))).0, 404);
    assert_eq!(dss.sub_by_id(&second)["dependent_operational_intents"], json!([id(1)]));
}

#[test]
fn key_conflicts_list_what_is_missing_with_ovns_scrubbed() {
    let mut dss = Dss::new();
    let first = dss.create_oir(USS1, 1, &oir("Accepted", here(), &[]));
    let mine = dss.create_oir(
        USS2,
        3,
        &oir("Accepted", volume(46.0, 7.0, minutes(60), minutes(90)), &[str_of(&first["ovn"])]),
    );
    // uss2 plans over both without a key; its implicit subscription is rolled back.
    let mut body = oir("Accepted", here(), &[]);
    body["new_subscription"] = json!({"uss_base_url": "https://uss2.example.com"});
    let (status, reply) = dss.refused(USS2, "PUT", &oir_path(&id(2)), Some(&body));
    assert_eq!(status, 409, "{reply}");
    assert_eq!(message(&reply), "Current OVNs not provided for one or more OperationalIntents or Constraints");
    let missing = reply["missing_operational_intents"].as_array().unwrap();
    assert_eq!(missing.len(), 2);
    assert_eq!(missing[0]["id"], id(1));
    assert_eq!(missing[0]["ovn"], NO_OVN_PHRASE);
    assert_eq!(missing[1]["id"], id(3));
    assert_eq!(missing[1]["ovn"], mine["ovn"], "its own OIR keeps its OVN");
    assert!(reply.get("missing_constraints").is_none());
    // With the key (and unknown OVNs besides), it goes through.
    body["key"] = json!([first["ovn"], mine["ovn"], "some-other-ovn-1234567890"]);
    let (status, reply) = dss.put(USS2, &oir_path(&id(2)), &body);
    assert_eq!(status, 201, "{reply}");
    // Off-nominal states skip the key check.
    let own = reply["operational_intent_reference"].clone();
    let mut contingent = oir("Contingent", here(), &[]);
    contingent["subscription_id"] = own["subscription_id"].clone();
    let cmsa = Who { sub: "uss2", scopes: &[SC, CMSA] };
    let (status, reply) = dss.put(cmsa, &oir_path(&format!("{}/{}", id(2), str_of(&own["ovn"]))), &contingent);
    assert_eq!(status, 200, "{reply}");
}

#[test]
fn constraints_are_in_the_key_only_for_constraint_aware_subscriptions() {
    let mut dss = Dss::new();
    let (status, reply) = dss.put(
        USS1,
        &constraint_path(&id(5)),
        &json!({"extents": [here()], "uss_base_url": "https://cm.example.com"}),
    );
    assert_eq!(status, 201, "{reply}");
    let constraint = reply["constraint_reference"].clone();
    // Without constraint notifications the constraint is not needed.
    dss.create_oir(USS2, 1, &oir("Accepted", here(), &[]));
    let mut aware = oir("Accepted", volume(46.0, 7.0, minutes(100), minutes(110)), &[]);
    aware["new_subscription"] = json!({"uss_base_url": "https://uss2.example.com", "notify_for_constraints": true});
    aware["extents"] = json!([here()]);
    let (status, reply) = dss.refused(USS2, "PUT", &oir_path(&id(2)), Some(&aware));
    assert_eq!(status, 409, "{reply}");
    let missing = reply["missing_constraints"].as_array().unwrap();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["id"], id(5));
    assert_eq!(missing[0]["ovn"], NO_OVN_PHRASE);
    assert_eq!(missing[0]["uss_availability"], "Unknown");
    let own = dss.get(USS2, &oir_path(&id(1))).1["operational_intent_reference"]["ovn"].clone();
    aware["key"] = json!([constraint["ovn"], own]);
    assert_eq!(dss.put(USS2, &oir_path(&id(2)), &aware).0, 201);
}

#[test]
fn requested_ovn_suffix_sets_the_ovn() {
    let mut dss = Dss::new();
    // A UUIDv7 stamped at T0 + 2 min (milliseconds in its first 48 bits).
    let ms = (T0 + minutes(2)) / 1_000_000;
    let hex = format!("{ms:012x}");
    let suffix = format!("{}-{}-7abc-8def-0123456789ab", &hex[..8], &hex[8..]);
    let mut body = oir("Accepted", here(), &[]);
    body["requested_ovn_suffix"] = json!(suffix);
    let created = dss.create_oir(USS1, 1, &body);
    assert_eq!(created["ovn"], format!("{}_{suffix}", id(1)));
    dss.set_time(minutes(10));
    body["requested_ovn_suffix"] = json!(suffix);
    let (status, reply) =
        dss.refused(USS1, "PUT", &oir_path(&format!("{}/{}", id(1), str_of(&created["ovn"]))), Some(&body));
    assert_eq!(status, 400);
    assert!(message(&reply).contains("too far"), "{reply}");
}

#[test]
fn times_are_echoed_in_utc_to_the_nanosecond() {
    let mut dss = Dss::new();
    let mut body = oir("Accepted", here(), &[]);
    body["extents"][0]["time_start"] = json!({"value": "2030-01-01T02:10:00.123456789+02:00", "format": "RFC3339"});
    body["extents"][0]["time_end"] = json!({"value": "2030-01-01T01:10:00.5Z", "format": "anything"});
    let created = dss.create_oir(USS1, 1, &body);
    assert_eq!(created["time_start"], json!({"value": "2030-01-01T00:10:00.123456789Z", "format": "RFC3339"}));
    assert_eq!(created["time_end"], json!({"value": "2030-01-01T01:10:00.5Z", "format": "RFC3339"}));
}

#[test]
fn searches_follow_an_oir_that_moves_in_time_and_space() {
    let mut dss = Dss::new();
    let created = dss.create_oir(USS1, 1, &oir("Accepted", here(), &[]));
    let later = volume(46.0, 7.05, minutes(200), minutes(260));
    let (status, _) = dss.put(
        USS1,
        &oir_path(&format!("{}/{}", id(1), str_of(&created["ovn"]))),
        &oir("Accepted", later.clone(), &[]),
    );
    assert_eq!(status, 200);
    let path = "/dss/v1/operational_intent_references/query";
    let found = |dss: &mut Dss, aoi: Value| {
        dss.post(USS2, path, &json!({"area_of_interest": aoi})).1["operational_intent_references"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(found(&mut dss, later), 1);
    assert_eq!(found(&mut dss, here()), 0, "not where it was");
    assert_eq!(found(&mut dss, volume(46.0, 7.05, minutes(10), minutes(70))), 0, "not when it was");
    assert_eq!(found(&mut dss, volume(46.0, 7.0, minutes(200), minutes(260))), 0, "not in its old cells");
}

/// USS clients name entities with `uuid4().hex` (32 hex digits, no hyphens), and the
/// reference takes every form Go's `uuid.Parse` takes: each names the same entity, which is
/// answered and stored in the canonical form.
#[test]
fn ids_in_every_form_go_takes_name_the_same_entity() {
    let mut dss = Dss::new();
    let canonical = id(7);
    let bare = canonical.replace('-', "");
    let mut body = oir("Accepted", here(), &[]);
    body["subscription_id"] = json!(id(9).replace('-', "").to_uppercase());
    dss.create_sub(USS1, 9, &subscription(here(), true, false));
    let (status, reply) = dss.put(USS1, &oir_path(&bare), &body);
    assert_eq!(status, 201, "{reply}");
    let created = &reply["operational_intent_reference"];
    assert_eq!(created["id"], canonical);
    assert_eq!(created["subscription_id"], id(9));
    for form in [canonical.clone(), bare.to_uppercase(), format!("{{{canonical}}}"), format!("urn:uuid:{canonical}")] {
        let (status, reply) = dss.get(USS1, &oir_path(&form));
        assert_eq!(status, 200, "{form}: {reply}");
        assert_eq!(reply["operational_intent_reference"]["id"], canonical, "{form}");
    }
    // The same entity, not a second one: a create under another form of its id conflicts.
    let (status, _) = dss.put(USS1, &oir_path(&format!("urn:uuid:{canonical}")), &oir("Accepted", here(), &[]));
    assert_eq!(status, 409);
    let (status, _) = dss.get(USS1, &oir_path(&format!("{canonical}0")));
    assert_eq!(status, 400);
}
