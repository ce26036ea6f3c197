//! RID subscriptions: the time rules, the 10-per-cell limit, versions and owners, searches
//! of the caller's own.

use super::*;

#[test]
fn a_subscription_starts_at_index_0_and_lists_the_live_isas_in_its_area() {
    let mut dss = Dss::new();
    dss.create_isa(V::Two, 1, &isa_body(V::Two, 46.0, 7.0));
    dss.create_isa(V::One, 2, &isa_body(V::One, 47.0, 8.0));
    let reply = dss.create_sub(V::One, 10, &sub_body(V::One, 46.0, 7.0));
    let sub = &reply["subscription"];
    assert_eq!((sub["notification_index"].as_i64(), sub["owner"].as_str()), (Some(0), Some("dp1")));
    assert_eq!(sub["callbacks"]["identification_service_area_url"], "https://dp1.example.com/isa");
    assert_eq!(ids(&reply["service_areas"]), [id(1)]);
    // v1 shapes for the ISAs of a v1 answer, whoever wrote them.
    assert_eq!(reply["service_areas"][0]["flights_url"], "https://sp2.example.com");

    // Without an end: 24 hours after its start.
    let body = sub_with(V::Two, extents(V::Two, &square(46.0, 7.0), Some(minutes(10)), None));
    let reply = dss.create_sub(V::Two, 11, &body);
    assert_eq!(reply["subscription"]["time_end"], json!({"value": at(minutes(10 + 24 * 60)), "format": "RFC3339"}));
    assert_eq!(reply["subscription"]["uss_base_url"], "https://dp2.example.com");
}

#[test]
fn windows_over_24_hours_or_in_the_past_are_refused() {
    let mut dss = Dss::new();
    let here = square(46.0, 7.0);
    let cases = [
        (Some(0), Some(minutes(24 * 60 + 1)), "window exceeds 24 hours"),
        (Some(-minutes(6)), None, "time_start must not be in the past"),
        (Some(minutes(30)), Some(minutes(20)), "time_end must be after time_start"),
    ];
    for v in [V::One, V::Two] {
        for (from, to, why) in cases {
            let (status, reply) =
                dss.refused(v.dp(), "PUT", &v.sub_path(&id(1)), Some(&sub_with(v, extents(v, &here, from, to))));
            assert_eq!((status, message(&reply).contains(why)), (400, true), "{reply}");
        }
    }
    dss.create_sub(V::One, 1, &sub_with(V::One, extents(V::One, &here, Some(0), Some(minutes(24 * 60)))));
}

#[test]
fn an_owner_may_have_10_live_subscriptions_in_a_cell_and_no_more() {
    let mut dss = Dss::new();
    let mut versions = Vec::new();
    for n in 0..10 {
        let v = if n % 2 == 0 { V::One } else { V::Two };
        let reply = dss.create_sub(v, n, &sub_body(v, 46.0, 7.0));
        versions.push(str_of(&reply["subscription"]["version"]).to_string());
    }
    // Counted per owner, across versions: dp1 and dp2 have 5 each; `dp` writes 10 through
    // v1, and its 11th, through v2, is refused.
    let dp = Who { sub: "dp", scopes: &[READ, DISPLAY] };
    for n in 20..30 {
        let (status, reply) = dss.put(dp, &V::One.sub_path(&id(n)), &sub_body(V::One, 46.0, 7.0));
        assert_eq!(status, 200, "{reply}");
    }
    let (status, reply) = dss.refused(dp, "PUT", &V::Two.sub_path(&id(30)), Some(&sub_body(V::Two, 46.0, 7.0)));
    assert_eq!((status, message(&reply)), (429, "Too many existing subscriptions in this area already"));
    // Elsewhere, or for another owner, fine.
    let (status, _) = dss.put(dp, &V::Two.sub_path(&id(31)), &sub_body(V::Two, 47.0, 8.0));
    assert_eq!(status, 200);
    dss.create_sub(V::Two, 32, &sub_body(V::Two, 46.0, 7.0));
    // One of the ten may still be updated (the reference would count it against itself).
    let (_, got) = dss.get(dp, &V::One.sub_path(&id(20)));
    let version = str_of(&got["subscription"]["version"]).to_string();
    let (status, reply) = dss.put(dp, &format!("{}/{version}", V::One.sub_path(&id(20))), &sub_body(V::One, 46.0, 7.0));
    assert_eq!(status, 200, "{reply}");
    // Ended ones do not count.
    dss.set_time(minutes(61));
    let later = sub_with(V::Two, extents(V::Two, &square(46.0, 7.0), Some(minutes(61)), Some(minutes(120))));
    let (status, reply) = dss.put(dp, &V::Two.sub_path(&id(33)), &later);
    assert_eq!(status, 200, "{reply}");
}

#[test]
fn updates_and_deletes_check_the_version_before_the_owner_and_keep_the_index() {
    let mut dss = Dss::new();
    let created = dss.create_sub(V::Two, 1, &sub_body(V::Two, 46.0, 7.0));
    let version = str_of(&created["subscription"]["version"]).to_string();
    dss.create_isa(V::Two, 5, &isa_body(V::Two, 46.0, 7.0));
    let path = |version: &str| format!("{}/{version}", V::Two.sub_path(&id(1)));
    let intruder = Who { sub: "dp9", scopes: &[DISPLAY] };
    let body = sub_body(V::Two, 46.0, 7.0);
    assert_eq!(dss.refused(DP2, "PUT", &format!("{}/{version}", V::Two.sub_path(&id(2))), Some(&body)).0, 400);
    assert_eq!(dss.refused(intruder, "PUT", &path("1"), Some(&body)).0, 409);
    assert_eq!(dss.refused(intruder, "PUT", &path(&version), Some(&body)).0, 403);
    assert_eq!(dss.refused(intruder, "DELETE", &path("1"), None).0, 409);
    assert_eq!(dss.refused(intruder, "DELETE", &path(&version), None).0, 403);
    assert_eq!(dss.refused(DP2, "DELETE", &format!("{}/{version}", V::Two.sub_path(&id(2))), None).0, 404);

    // The ISA's create notified it: the update keeps index 1.
    dss.set_time(minutes(1));
    let (status, reply) = dss.put(DP2, &path(&version), &body);
    assert_eq!((status, reply["subscription"]["notification_index"].as_i64()), (200, Some(1)), "{reply}");
    let version = str_of(&reply["subscription"]["version"]).to_string();
    // Anyone with a read scope may get it; only its owner deletes it, and nobody is notified.
    let (status, got) = dss.get(SP1, &V::One.sub_path(&id(1)));
    assert_eq!((status, got["subscription"]["owner"].as_str()), (200, Some("dp2")));
    let (status, reply) = dss.delete(DP2, &path(&version));
    assert_eq!(status, 200, "{reply}");
    assert!(reply.get("subscribers").is_none());
    assert_eq!(dss.get(DP2, &V::Two.sub_path(&id(1))).0, 404);
}

#[test]
fn searches_return_only_the_callers_own_live_subscriptions() {
    let mut dss = Dss::new();
    dss.create_sub(V::One, 1, &sub_body(V::One, 46.0, 7.0));
    dss.create_sub(V::Two, 2, &sub_body(V::Two, 46.0, 7.0));
    let short = sub_with(V::One, extents(V::One, &square(46.0, 7.0), Some(0), Some(minutes(10))));
    dss.create_sub(V::One, 3, &short);
    let search = |v: V| format!("{}/subscriptions?area={}", v.prefix(), area(46.0, 7.0));
    let (status, reply) = dss.get(DP1, &search(V::One));
    assert_eq!((status, ids(&reply["subscriptions"])), (200, vec![id(1), id(3)]));
    let (_, reply) = dss.get(DP2, &search(V::Two));
    assert_eq!(ids(&reply["subscriptions"]), [id(2)]);
    dss.set_time(minutes(11));
    let (_, reply) = dss.get(DP1, &search(V::One));
    assert_eq!(ids(&reply["subscriptions"]), [id(1)]);
}
