//! ISAs: create, get, update, delete and search through both versions over one store, the
//! time rules, ownership and versions.

use super::*;

#[test]
fn an_isa_created_through_one_version_is_read_through_the_other_in_its_shapes() {
    let mut dss = Dss::new();
    let reply = dss.create_isa(V::One, 1, &isa_body(V::One, 46.0, 7.0));
    let isa = &reply["service_area"];
    assert_eq!(isa["id"], id(1));
    assert_eq!(isa["owner"], "sp1");
    assert_eq!(isa["flights_url"], "https://sp1.example.com/flights");
    assert_eq!(
        (isa["time_start"].as_str(), isa["time_end"].as_str()),
        (Some(at(0).as_str()), Some(at(minutes(60)).as_str()))
    );
    // The version: the write's time in nanoseconds, base 32.
    assert_eq!(isa["version"], "1khn86cqta000");
    assert_eq!(reply["subscribers"], json!([]));

    let (status, got) = dss.get(DP2, &V::Two.isa_path(&id(1)));
    assert_eq!(status, 200, "{got}");
    let isa = &got["service_area"];
    assert_eq!(isa["uss_base_url"], "https://sp1.example.com/flights");
    assert_eq!(isa["time_start"], json!({"value": at(0), "format": "RFC3339"}));
    assert!(isa.get("flights_url").is_none());
    let (status, got) = dss.get(DP1, &V::One.isa_path(&id(1)));
    assert_eq!((status, got["service_area"]["version"].as_str()), (200, Some("1khn86cqta000")));
    assert_eq!(dss.get(DP1, &V::One.isa_path(&id(2))).0, 404);
}

#[test]
fn creates_refuse_an_existing_id_and_bad_times() {
    let mut dss = Dss::new();
    dss.create_isa(V::Two, 1, &isa_body(V::Two, 46.0, 7.0));
    let (status, _) = dss.refused(SP2, "PUT", &V::Two.isa_path(&id(1)), Some(&isa_body(V::Two, 46.0, 7.0)));
    assert_eq!(status, 409);
    let here = square(46.0, 7.0);
    let cases = [
        (Some(-minutes(6)), Some(minutes(60)), "time_start must not be in the past"),
        (Some(0), None, "must have an time_end"),
        (Some(minutes(10)), Some(minutes(5)), "time_end must be after time_start"),
        (Some(minutes(10)), Some(minutes(10)), "time_end must be after time_start"),
    ];
    for (v, n) in [(V::One, 2), (V::Two, 3)] {
        for (from, to, why) in cases {
            let body = isa_with(v, extents(v, &here, from, to));
            let (status, reply) = dss.refused(v.sp(), "PUT", &v.isa_path(&id(n)), Some(&body));
            assert_eq!((status, message(&reply).contains(why)), (400, true), "{reply}");
        }
        // At most 5 minutes in the past, and no longest ISA: two days is fine; no start is now.
        dss.create_isa(v, n, &isa_with(v, extents(v, &here, Some(-minutes(5)), Some(minutes(2 * 24 * 60)))));
        let reply = dss.create_isa(v, n + 10, &isa_with(v, extents(v, &here, None, Some(minutes(1)))));
        let start = &reply["service_area"]["time_start"];
        assert_eq!(if v == V::One { start.clone() } else { start["value"].clone() }, json!(at(0)));
    }
}

#[test]
fn updates_keep_the_owner_check_the_version_and_default_to_the_old_window() {
    let mut dss = Dss::new();
    let created = dss.create_isa(V::One, 1, &isa_body(V::One, 46.0, 7.0));
    let version = str_of(&created["service_area"]["version"]).to_string();
    let path = |v: V, version: &str| format!("{}/{version}", v.isa_path(&id(1)));
    dss.set_time(minutes(1));

    // Missing (400, as the reference maps it on upserts), another owner, a stale version,
    // a malformed version.
    let body = isa_with(V::Two, extents(V::Two, &square(46.0, 7.0), None, None));
    let (status, _) = dss.refused(SP2, "PUT", &format!("{}/{version}", V::Two.isa_path(&id(9))), Some(&body));
    assert_eq!(status, 400);
    let (status, _) = dss.refused(SP2, "PUT", &path(V::Two, &version), Some(&body));
    assert_eq!(status, 403);
    let (status, _) = dss.refused(SP1, "PUT", &path(V::One, "1"), Some(&isa_body(V::One, 46.0, 7.0)));
    assert_eq!(status, 409);
    let (status, reply) = dss.refused(SP1, "PUT", &path(V::One, "-5"), Some(&isa_body(V::One, 46.0, 7.0)));
    assert_eq!(status, 400, "{reply}");

    // Its owner, without times: the old window stays; a new version; http allowed on updates.
    let body =
        json!({"extents": extents(V::One, &square(46.0, 7.0), None, None), "flights_url": "http://sp1.example.com"});
    let (status, reply) = dss.put(SP1, &path(V::One, &version), &body);
    assert_eq!(status, 200, "{reply}");
    let isa = &reply["service_area"];
    assert_eq!(
        (isa["time_start"].as_str(), isa["time_end"].as_str()),
        (Some(at(0).as_str()), Some(at(minutes(60)).as_str()))
    );
    assert_eq!(isa["flights_url"], "http://sp1.example.com");
    assert_ne!(isa["version"], json!(version));
}

#[test]
fn deletes_check_the_version_before_the_owner() {
    let mut dss = Dss::new();
    let created = dss.create_isa(V::Two, 1, &isa_body(V::Two, 46.0, 7.0));
    let version = str_of(&created["service_area"]["version"]).to_string();
    let path = |version: &str| format!("{}/{version}", V::Two.isa_path(&id(1)));
    assert_eq!(dss.refused(SP2, "DELETE", &format!("{}/{version}", V::Two.isa_path(&id(2))), None).0, 404);
    assert_eq!(dss.refused(OTHER_SP2, "DELETE", &path("1"), None).0, 409);
    assert_eq!(dss.refused(OTHER_SP2, "DELETE", &path(&version), None).0, 403);
    assert_eq!(dss.refused(SP2, "DELETE", &path("not-base-32!"), None).0, 400);
    let (status, reply) = dss.delete(SP2, &path(&version));
    assert_eq!((status, reply["service_area"]["id"].as_str()), (200, Some(id(1).as_str())), "{reply}");
    assert_eq!(dss.get(DP2, &V::Two.isa_path(&id(1))).0, 404);
}

#[test]
fn searches_find_the_live_isas_in_the_area_within_the_times_asked() {
    let mut dss = Dss::new();
    dss.create_isa(V::One, 1, &isa_body(V::One, 46.0, 7.0));
    let later = isa_with(V::Two, extents(V::Two, &square(46.0, 7.0), Some(minutes(120)), Some(minutes(180))));
    dss.create_isa(V::Two, 2, &later);
    dss.create_isa(V::Two, 3, &isa_body(V::Two, 47.0, 8.0));
    let search =
        |v: V, query: &str| format!("{}/identification_service_areas?area={}{query}", v.prefix(), area(46.0, 7.0));
    for v in [V::One, V::Two] {
        let (status, reply) = dss.get(v.dp(), &search(v, ""));
        assert_eq!((status, ids(&reply["service_areas"])), (200, vec![id(1), id(2)]), "{reply}");
        let (_, reply) = dss.get(v.dp(), &search(v, &format!("&latest_time={}", at(minutes(90)))));
        assert_eq!(ids(&reply["service_areas"]), [id(1)]);
        let (_, reply) = dss.get(v.dp(), &search(v, &format!("&earliest_time={}", at(minutes(100)))));
        assert_eq!(ids(&reply["service_areas"]), [id(2)]);
        assert_eq!(dss.get(v.dp(), &search(v, "&earliest_time=yesterday")).0, 400);
        let (status, reply) = dss.get(v.dp(), &format!("{}/identification_service_areas", v.prefix()));
        assert_eq!((status, message(&reply)), (400, "Missing area"));
    }
    // An earliest time before now is now: after the first ended, only the later one.
    dss.set_time(minutes(61));
    let (_, reply) = dss.get(DP1, &search(V::One, &format!("&earliest_time={}", at(0))));
    assert_eq!(ids(&reply["service_areas"]), [id(2)]);
}

#[test]
fn only_a_create_checks_that_the_url_is_https() {
    let mut dss = Dss::new();
    let body = |v: V, url: &str| {
        let mut b = isa_body(v, 46.0, 7.0);
        b[if v == V::One { "flights_url" } else { "uss_base_url" }] = json!(url);
        b
    };
    for (v, n) in [(V::One, 1), (V::Two, 2)] {
        let (status, reply) = dss.refused(v.sp(), "PUT", &v.isa_path(&id(n)), Some(&body(v, "http://sp.example.com")));
        assert_eq!((status, message(&reply)), (400, "rid url must use TLS"));
        let (status, reply) = dss.refused(v.sp(), "PUT", &v.isa_path(&id(n)), Some(&body(v, "")));
        assert_eq!(status, 400);
        assert!(message(&reply).starts_with("Missing required"), "{reply}");
        let allowed = Request::new("PUT", &v.isa_path(&id(n)))
            .with_caller(v.sp().sub, v.sp().scopes)
            .with_setting("allow-http-base-urls", "true")
            .with_body(body(v, "http://localhost:8071").to_string());
        assert_eq!(dss.serve(allowed).0, 200);
    }
}
