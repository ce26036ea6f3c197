//! RID subscriptions: shapes, the time rules, the 10-per-cell limit, versions and owners,
//! the https rule, gets by anyone and searches of the caller's own.

use super::*;

#[test]
fn a_subscription_starts_at_index_0_and_lists_the_live_isas_in_its_area() {
    let mut dss = Dss::new();
    dss.create_isa(V::Two, 1, &isa_body(V::Two, 46.0, 7.0));
    dss.create_isa(V::One, 2, &isa_body(V::One, 47.0, 8.0));
    let short = isa_with(V::One, extents(V::One, &square(46.0, 7.0), Some(0), Some(minutes(1))));
    dss.create_isa(V::One, 3, &short);
    dss.set_time(minutes(2));
    let reply = dss.create_sub(V::One, 10, &sub_with(V::One, extents(V::One, &square(46.0, 7.0), None, None)));
    // Its start is now and its end 24 hours later; the ISA of v2 in its area shows in v1's shape.
    assert_eq!(
        reply["subscription"],
        json!({"id": id(10), "owner": "dp1", "callbacks": {"identification_service_area_url": "https://dp1.example.com/isa"},
            "notification_index": 0, "time_start": at(minutes(2)), "time_end": at(minutes(2 + 24 * 60)),
            "version": crate::version::of_time(T0 + minutes(2))})
    );
    assert_eq!(ids(&reply["service_areas"]), [id(1)]);
    assert_eq!(url_of(V::One, &reply["service_areas"][0]), "https://sp2.example.com");

    let reply =
        dss.create_sub(V::Two, 11, &sub_with(V::Two, extents(V::Two, &square(46.0, 7.0), Some(minutes(10)), None)));
    let sub = &reply["subscription"];
    assert_eq!((url_of(V::Two, sub), &sub["notification_index"]), ("https://dp2.example.com", &json!(0)));
    assert_eq!(
        (&sub["time_start"], &sub["time_end"]),
        (&V::Two.time(minutes(10)), &V::Two.time(minutes(10 + 24 * 60)))
    );
    let reply = dss.create_sub(V::Two, 12, &sub_body(V::Two, 10.0, 10.0));
    assert_eq!(reply["service_areas"], json!([]));
}

#[test]
fn windows_over_24_hours_or_in_the_past_are_refused() {
    let mut dss = Dss::new();
    let here = square(46.0, 7.0);
    let cases = [
        (Some(0), Some(minutes(24 * 60) + 1), "Subscription window exceeds 24 hours"),
        (None, Some(minutes(24 * 60) + 1), "Subscription window exceeds 24 hours"),
        (Some(-minutes(5) - 1), None, "Subscription time_start must not be in the past"),
        (Some(minutes(30)), Some(minutes(20)), "Subscription time_end must be after time_start"),
    ];
    for (v, n) in [(V::One, 1), (V::Two, 2)] {
        for (from, to, why) in cases {
            let body = sub_with(v, extents(v, &here, from, to));
            assert_eq!(dss.refused_put(v.dp(), &v.sub_path(&id(n)), &body), (400, why.to_string()), "{v:?}");
        }
        dss.create_sub(v, n, &sub_with(v, extents(v, &here, Some(-minutes(5)), Some(minutes(24 * 60 - 5)))));
    }
    // An id taken through either version is a 409, after the time rules.
    let taken = V::Two.sub_path(&id(1));
    assert_eq!(
        dss.refused_put(DP2, &taken, &sub_body(V::Two, 46.0, 7.0)),
        (409, format!("Subscription {} already exists", id(1)))
    );
    let late = sub_with(V::Two, extents(V::Two, &here, Some(-minutes(6)), None));
    assert_eq!(dss.refused_put(DP2, &taken, &late).0, 400);
}

#[test]
fn an_owner_may_have_10_live_subscriptions_in_a_cell_and_no_more() {
    let mut dss = Dss::new();
    // Counted per owner across versions: `dp` writes 10 through both, its 11th is refused.
    let dp = Who { sub: "dp", scopes: &[READ, DISPLAY] };
    let mut versions = Vec::new();
    for n in 0..10 {
        let v = BOTH[n as usize % 2];
        let (status, reply) = dss.put(dp, &v.sub_path(&id(n)), &sub_body(v, 46.0, 7.0));
        assert_eq!(status, 200, "{reply}");
        versions.push(str_of(&reply["subscription"]["version"]).to_string());
    }
    let too_many = (429, "Too many existing subscriptions in this area already".to_string());
    assert_eq!(dss.refused_put(dp, &V::Two.sub_path(&id(10)), &sub_body(V::Two, 46.0, 7.0)), too_many);
    // One cell in common is enough.
    let overlapping = sub_with(V::One, extents(V::One, &square(46.005, 7.005), Some(0), Some(minutes(60))));
    assert_eq!(dss.refused_put(dp, &V::One.sub_path(&id(10)), &overlapping), too_many);
    // Elsewhere, or for another owner, fine.
    assert_eq!(dss.put(dp, &V::Two.sub_path(&id(11)), &sub_body(V::Two, 47.0, 8.0)).0, 200);
    dss.create_sub(V::Two, 12, &sub_body(V::Two, 46.0, 7.0));
    // One of the ten may still be updated in place (the reference would count it against
    // itself), but not moved into a cell where the owner has ten others.
    let (status, reply) =
        dss.put(dp, &format!("{}/{}", V::One.sub_path(&id(0)), versions[0]), &sub_body(V::One, 46.0, 7.0));
    assert_eq!(status, 200, "{reply}");
    let moved = format!(
        "{}/{}",
        V::Two.sub_path(&id(11)),
        dss.get(dp, &V::Two.sub_path(&id(11))).1["subscription"]["version"].as_str().unwrap()
    );
    assert_eq!(dss.refused_put(dp, &moved, &sub_body(V::Two, 46.0, 7.0)), too_many);
    // Ended ones do not count.
    dss.set_time(minutes(60) + 1);
    let later = sub_with(V::Two, extents(V::Two, &square(46.0, 7.0), None, None));
    assert_eq!(dss.put(dp, &V::Two.sub_path(&id(13)), &later).0, 200);
}

#[test]
fn updates_and_deletes_check_the_subscription_then_its_version_then_its_owner() {
    let mut dss = Dss::new();
    let created = dss.create_sub(V::Two, 1, &sub_body(V::Two, 46.0, 7.0));
    let version = str_of(&created["subscription"]["version"]).to_string();
    dss.create_isa(V::Two, 5, &isa_body(V::Two, 46.0, 7.0));
    let path = |version: &str| format!("{}/{version}", V::Two.sub_path(&id(1)));
    let intruder = Who { sub: "dp9", scopes: &[DISPLAY] };
    let body = sub_with(V::Two, extents(V::Two, &square(46.0, 7.0), None, None));
    let missing = format!("{}/{version}", V::Two.sub_path(&id(2)));
    assert_eq!(dss.refused_put(DP2, &missing, &body), (400, format!("Subscription {} not found", id(2))));
    let stale = (409, "Subscription version 1 is not current".to_string());
    assert_eq!(dss.refused_put(intruder, &path("1"), &body), stale);
    let theirs = (403, "Subscription is owned by different client".to_string());
    assert_eq!(dss.refused_put(intruder, &path(&version), &body), theirs);
    let refused_delete = |dss: &mut Dss, who: Who, path: &str| {
        let (status, reply) = dss.refused(who, "DELETE", path, None);
        (status, message(&reply).to_string())
    };
    assert_eq!(refused_delete(&mut dss, DP2, &missing), (404, format!("Subscription {} not found", id(2))));
    assert_eq!(refused_delete(&mut dss, intruder, &path("1")), stale);
    assert_eq!(refused_delete(&mut dss, intruder, &path(&version)), theirs);

    // The ISA's create notified it. An update keeps what it omits and the index, lists the
    // ISAs in its area, and takes the update's time as its version.
    dss.set_time(minutes(1));
    let (status, reply) = dss.put(DP2, &path(&version), &body);
    assert_eq!(status, 200, "{reply}");
    let sub = &reply["subscription"];
    assert_eq!((&sub["notification_index"], &sub["time_end"]), (&json!(1), &V::Two.time(minutes(60))));
    assert_eq!(ids(&reply["service_areas"]), [id(5)]);
    let version = str_of(&sub["version"]).to_string();
    assert_eq!(version, crate::version::of_time(T0 + minutes(1)));
    // Anyone with a get scope reads it, in its version's shape; only its owner deletes it,
    // and nobody hears of that.
    let (status, got) = dss.get(SP1, &V::One.sub_path(&id(1)));
    assert_eq!(
        (status, url_of(V::One, &got["subscription"]), got["subscription"]["owner"].as_str()),
        (200, "https://dp2.example.com", Some("dp2"))
    );
    let (status, reply) = dss.delete(DP2, &path(&version));
    assert_eq!((status, reply["subscription"]["id"].as_str()), (200, Some(id(1).as_str())), "{reply}");
    assert!(reply.get("subscribers").is_none());
    let (status, reply) = dss.get(DP2, &V::Two.sub_path(&id(1)));
    assert_eq!((status, message(&reply)), (404, format!("Subscription {} not found", id(1)).as_str()));
}

#[test]
fn only_a_create_checks_that_the_url_is_https() {
    let mut dss = Dss::new();
    let mut v1 = sub_body(V::One, 46.0, 7.0);
    v1["callbacks"]["identification_service_area_url"] = json!("http://dp1.example.com");
    assert_eq!(dss.refused_put(DP1, &V::One.sub_path(&id(1)), &v1), (400, "rid url must use TLS".into()));
    let mut v2 = sub_body(V::Two, 46.0, 7.0);
    v2["uss_base_url"] = json!("dp2.example.com");
    assert_eq!(dss.refused_put(DP2, &V::Two.sub_path(&id(2)), &v2), (400, "rid url must support https scheme".into()));
    let created = dss.create_sub(V::Two, 2, &sub_body(V::Two, 46.0, 7.0));
    let path = format!("{}/{}", V::Two.sub_path(&id(2)), str_of(&created["subscription"]["version"]));
    let (status, reply) = dss.put(DP2, &path, &v2);
    assert_eq!((status, url_of(V::Two, &reply["subscription"])), (200, "dp2.example.com"));
}

#[test]
fn searches_return_only_the_callers_own_live_subscriptions() {
    let mut dss = Dss::new();
    dss.create_sub(V::One, 1, &sub_body(V::One, 46.0, 7.0));
    dss.create_sub(V::Two, 2, &sub_body(V::Two, 46.0, 7.0));
    let short = sub_with(V::One, extents(V::One, &square(46.0, 7.0), Some(0), Some(minutes(10))));
    dss.create_sub(V::One, 3, &short);
    dss.create_sub(V::One, 4, &sub_body(V::One, 47.0, 8.0));
    let (status, reply) = dss.get(DP1, &V::One.sub_search(&area(46.0, 7.0)));
    assert_eq!((status, ids(&reply["subscriptions"])), (200, vec![id(1), id(3)]));
    let (_, reply) = dss.get(DP2, &V::Two.sub_search(&area(46.0, 7.0)));
    assert_eq!(ids(&reply["subscriptions"]), [id(2)]);
    assert_eq!(url_of(V::Two, &reply["subscriptions"][0]), "https://dp2.example.com");
    dss.set_time(minutes(10) + 1);
    let (_, reply) = dss.get(DP1, &V::One.sub_search(&area(46.0, 7.0)));
    assert_eq!(ids(&reply["subscriptions"]), [id(1)]);
    // The same caller through the other version sees the same.
    let dp1 = Who { sub: "dp1", scopes: &[DISPLAY] };
    let (_, reply) = dss.get(dp1, &V::Two.sub_search(&area(46.0, 7.0)));
    assert_eq!(ids(&reply["subscriptions"]), [id(1)]);
}
