//! ISAs: create, get, update, delete and search through both versions over one store; the
//! time rules, owners, versions and the https rule, each refusal with the reference's
//! status and message.

use super::*;

#[test]
fn an_isa_written_through_one_version_is_read_through_the_other_in_its_shapes() {
    let mut dss = Dss::new();
    let reply = dss.create_isa(V::One, 1, &isa_body(V::One, 46.0, 7.0));
    assert_eq!(
        reply,
        json!({"service_area": {"id": id(1), "owner": "sp1", "flights_url": "https://sp1.example.com/flights",
            "time_start": at(0), "time_end": at(minutes(60)), "version": "1khn86cqta000"}, "subscribers": []})
    );
    // v2 shapes, and no owner check: a display provider reads the service provider's ISA.
    let (status, got) = dss.get(DP2, &V::Two.isa_path(&id(1)));
    assert_eq!(
        (status, got),
        (
            200,
            json!({"service_area": {"id": id(1), "owner": "sp1", "uss_base_url": "https://sp1.example.com/flights",
                "time_start": {"value": at(0), "format": "RFC3339"},
                "time_end": {"value": at(minutes(60)), "format": "RFC3339"}, "version": "1khn86cqta000"}})
        )
    );
    assert_eq!(dss.get(DP1, &V::One.isa_path(&id(1))).1["service_area"], reply["service_area"]);
    assert_eq!(dss.get(SP2, &V::Two.isa_path(&id(1))).0, 200);
    let (status, reply) = dss.get(DP1, &V::One.isa_path(&id(2)));
    assert_eq!((status, message(&reply)), (404, format!("ISA {} not found", id(2)).as_str()));
}

#[test]
fn creates_apply_the_time_rules_then_refuse_a_taken_id() {
    let mut dss = Dss::new();
    let here = square(46.0, 7.0);
    let cases = [
        (Some(-minutes(5) - 1), Some(minutes(60)), "IdentificationServiceArea time_start must not be in the past"),
        (Some(0), None, "IdentificationServiceArea must have an time_end"),
        (None, None, "IdentificationServiceArea must have an time_end"),
        (Some(minutes(10)), Some(minutes(5)), "IdentificationServiceArea time_end must be after time_start"),
        (Some(minutes(10)), Some(minutes(10)), "Start time must be strictly before end time"),
    ];
    for (v, n) in [(V::One, 1), (V::Two, 2)] {
        for (from, to, why) in cases {
            let body = isa_with(v, extents(v, &here, from, to));
            assert_eq!(dss.refused_put(v.sp(), &v.isa_path(&id(n)), &body), (400, why.to_string()), "{v:?}");
        }
        // Up to 5 minutes in the past, and no longest ISA; without a start, now.
        dss.create_isa(v, n, &isa_with(v, extents(v, &here, Some(-minutes(5)), Some(minutes(2 * 24 * 60)))));
        let reply = dss.create_isa(v, n + 10, &isa_with(v, extents(v, &here, None, Some(minutes(1)))));
        assert_eq!(reply["service_area"]["time_start"], v.time(0));
    }
    // An id taken by anyone through either version is a 409, after the time rules.
    let taken = V::Two.isa_path(&id(1));
    let expected = (409, format!("ISA {} already exists", id(1)));
    assert_eq!(dss.refused_put(SP2, &taken, &isa_body(V::Two, 46.0, 7.0)), expected);
    let late = isa_with(V::Two, extents(V::Two, &here, Some(-minutes(6)), Some(minutes(60))));
    assert_eq!(dss.refused_put(SP2, &taken, &late).0, 400);
}

#[test]
fn updates_check_the_isa_then_its_owner_then_its_version_and_keep_what_they_omit() {
    let mut dss = Dss::new();
    let created = dss.create_isa(V::One, 1, &isa_body(V::One, 46.0, 7.0));
    let version = str_of(&created["service_area"]["version"]).to_string();
    let path = |v: V, version: &str| format!("{}/{version}", v.isa_path(&id(1)));
    dss.set_time(minutes(1));
    let body = isa_with(V::Two, extents(V::Two, &square(46.0, 7.0), None, None));

    // Missing: a 400 on an update. Another owner's: 403 even at a stale version. Stale: 409.
    let missing = format!("{}/{version}", V::Two.isa_path(&id(9)));
    assert_eq!(dss.refused_put(SP2, &missing, &body), (400, format!("ISA {} not found", id(9))));
    let theirs = (403, "ISA owned by sp1, but sp2 attempted to modify".to_string());
    assert_eq!(dss.refused_put(SP2, &path(V::Two, &version), &body), theirs);
    assert_eq!(dss.refused_put(SP2, &path(V::Two, "1"), &body), theirs);
    let stale = (409, format!("ISA currently at version {version} but client specified 1"));
    let sp1 = Who { sub: "sp1", scopes: &[SERVICE] };
    assert_eq!(dss.refused_put(sp1, &path(V::Two, "1"), &body), stale);
    let past = isa_with(V::Two, extents(V::Two, &square(46.0, 7.0), Some(-minutes(5) - 1), None));
    assert_eq!(dss.refused_put(sp1, &path(V::Two, &version), &past).0, 400);

    // Its owner, through the other version, without times and with an http URL (updates do
    // not check schemes): the window stays, the version is the update's time.
    let body =
        json!({"extents": extents(V::Two, &square(46.0, 7.0), None, None), "uss_base_url": "http://sp1.example.com"});
    let (status, reply) = dss.put(sp1, &path(V::Two, &version), &body);
    assert_eq!(status, 200, "{reply}");
    let isa = &reply["service_area"];
    assert_eq!((&isa["time_start"], &isa["time_end"]), (&V::Two.time(0), &V::Two.time(minutes(60))));
    assert_eq!((url_of(V::Two, isa), isa["owner"].as_str()), ("http://sp1.example.com", Some("sp1")));
    assert_eq!(isa["version"], crate::version::of_time(T0 + minutes(1)));
    // Only a new end.
    let version = str_of(&isa["version"]).to_string();
    let later = isa_with(V::One, extents(V::One, &square(46.0, 7.0), None, Some(minutes(90))));
    let (_, reply) = dss.put(SP1, &path(V::One, &version), &later);
    assert_eq!(
        (&reply["service_area"]["time_start"], &reply["service_area"]["time_end"]),
        (&json!(at(0)), &json!(at(minutes(90))))
    );
}

#[test]
fn deletes_check_the_isa_then_its_version_then_its_owner() {
    let mut dss = Dss::new();
    let created = dss.create_isa(V::Two, 1, &isa_body(V::Two, 46.0, 7.0));
    let version = str_of(&created["service_area"]["version"]).to_string();
    let path = |version: &str| format!("{}/{version}", V::Two.isa_path(&id(1)));
    let intruder = Who { sub: "sp3", scopes: &[SERVICE] };
    let refused = |dss: &mut Dss, who: Who, path: &str| {
        let (status, reply) = dss.refused(who, "DELETE", path, None);
        (status, message(&reply).to_string())
    };
    let missing = format!("{}/{version}", V::Two.isa_path(&id(2)));
    assert_eq!(refused(&mut dss, SP2, &missing), (404, format!("ISA {} not found", id(2))));
    let stale = format!("ISA currently at version {version} but client specified 1");
    assert_eq!(refused(&mut dss, intruder, &path("1")), (409, stale));
    assert_eq!(
        refused(&mut dss, intruder, &path(&version)),
        (403, "ISA owned by sp2, but sp3 attempted to delete".into())
    );
    let (status, reply) = dss.delete(SP2, &path(&version));
    assert_eq!((status, &reply["service_area"]), (200, &created["service_area"]));
    assert_eq!(reply["subscribers"], json!([]));
    assert_eq!(dss.get(DP2, &V::Two.isa_path(&id(1))).0, 404);
}

#[test]
fn searches_find_the_live_isas_in_the_area_between_the_times_asked() {
    let mut dss = Dss::new();
    dss.create_isa(V::One, 1, &isa_body(V::One, 46.0, 7.0));
    let later = isa_with(V::Two, extents(V::Two, &square(46.0, 7.0), Some(minutes(120)), Some(minutes(180))));
    dss.create_isa(V::Two, 2, &later);
    dss.create_isa(V::Two, 3, &isa_body(V::Two, 47.0, 8.0));
    let search = |v: V, query: &str| format!("{}{query}", v.isa_search(&area(46.0, 7.0)));
    for v in BOTH {
        // Anyone's ISAs, in each version's shapes.
        let (status, reply) = dss.get(v.dp(), &search(v, ""));
        assert_eq!((status, ids(&reply["service_areas"])), (200, vec![id(1), id(2)]), "{reply}");
        assert_eq!(url_of(v, &reply["service_areas"][1]), "https://sp2.example.com");
        let (_, reply) = dss.get(v.dp(), &search(v, &format!("&latest_time={}", at(minutes(90)))));
        assert_eq!(ids(&reply["service_areas"]), [id(1)]);
        let (_, reply) = dss.get(v.dp(), &search(v, &format!("&earliest_time={}", at(minutes(100)))));
        assert_eq!(ids(&reply["service_areas"]), [id(2)]);
        let (_, reply) = dss.get(v.dp(), &search(v, &format!("&earliest_time={}&latest_time={}", at(0), at(0))));
        assert_eq!(ids(&reply["service_areas"]), [id(1)]);
        let (_, reply) = dss.get(v.dp(), &v.isa_search(&area(10.0, 10.0)));
        assert_eq!(reply, json!({"service_areas": []}));
    }
    // An earliest time before now is now: after the first ended, only the later one.
    dss.set_time(minutes(60) + 1);
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
        let path = v.isa_path(&id(n));
        assert_eq!(
            dss.refused_put(v.sp(), &path, &body(v, "http://sp.example.com")),
            (400, "rid url must use TLS".into())
        );
        let ftp = (400, "rid url must support https scheme".to_string());
        assert_eq!(dss.refused_put(v.sp(), &path, &body(v, "ftp://sp.example.com")), ftp);
        let allowed = Request::new("PUT", &path)
            .with_caller(v.sp().sub, v.sp().scopes)
            .with_setting("allow-http-base-urls", "true")
            .with_body(body(v, "http://localhost:8071").to_string());
        assert_eq!(dss.serve(allowed).0, 200);
    }
}
