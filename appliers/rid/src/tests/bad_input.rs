//! Bad input through both versions: the reference's status (400; 413 for a search area over
//! the limit) and message, checked in the reference's order, and nothing changed.

use super::*;

/// v2 ISA extents with `volume` as given, from T0 for an hour.
fn v2_volume(volume: Value) -> Value {
    json!({"volume": volume, "time_start": V::Two.time(0), "time_end": V::Two.time(minutes(60))})
}

fn polygon(points: &[(f64, f64)]) -> Value {
    json!({"outline_polygon": {"vertices": vertices(points)}})
}

fn circle(center: Option<(f64, f64)>, radius: Option<(f64, &str)>) -> Value {
    let mut c = json!({});
    if let Some((lat, lng)) = center {
        c["center"] = json!({"lat": lat, "lng": lng});
    }
    if let Some((value, units)) = radius {
        c["radius"] = json!({"value": value, "units": units});
    }
    json!({"outline_circle": c})
}

/// The refusal of `body` by every write route of `v` that takes it (an ISA's or a
/// subscription's create), which must agree.
fn refused_by_writes(dss: &mut Dss, v: V, extents: &Value) -> (u16, String) {
    let isa = dss.refused_put(v.sp(), &v.isa_path(&id(1)), &isa_with(v, extents.clone()));
    let sub = dss.refused_put(v.dp(), &v.sub_path(&id(1)), &sub_with(v, extents.clone()));
    assert_eq!(isa, sub, "{extents}");
    isa
}

#[test]
fn malformed_ids_are_400_and_any_form_go_takes_is_one_id() {
    let mut dss = Dss::new();
    for v in BOTH {
        for bad in ["not-a-uuid", "00000000-0000-1000-8000-000000000000", "00000000-0000-4000-c000-000000000000", ""] {
            let expected = (400, format!("Invalid ID format: `{bad}`"));
            assert_eq!(dss.refused_put(v.sp(), &v.isa_path(bad), &isa_body(v, 46.0, 7.0)), expected);
            assert_eq!(dss.refused_put(v.dp(), &v.sub_path(bad), &sub_body(v, 46.0, 7.0)), expected);
            for path in
                [v.isa_path(bad), v.sub_path(bad), format!("{}/1", v.isa_path(bad)), format!("{}/1", v.sub_path(bad))]
            {
                let method = if path.ends_with("/1") { "DELETE" } else { "GET" };
                let who = if path.contains("identification") && method == "DELETE" { v.sp() } else { v.dp() };
                let (status, reply) = dss.refused(who, method, &path, None);
                assert_eq!((status, message(&reply)), (400, expected.1.as_str()), "{method} {path}");
            }
        }
    }
    // Bare hex and braces, as Go's uuid.Parse takes them, name the canonical id.
    let reply = dss.create_isa(V::Two, 1, &isa_body(V::Two, 46.0, 7.0));
    assert_eq!(reply["service_area"]["id"], id(1));
    let bare = id(1).replace('-', "");
    assert_eq!(dss.get(DP2, &V::Two.isa_path(&bare)).1["service_area"]["id"], id(1));
    assert_eq!(dss.get(DP1, &V::One.isa_path(&format!("{{{}}}", id(1)))).1["service_area"]["id"], id(1));
}

#[test]
fn malformed_versions_are_400() {
    let mut dss = Dss::new();
    for v in BOTH {
        for (bad, why) in [
            ("", "Missing version string"),
            ("zz", r#"strconv.ParseInt: parsing "zz": invalid syntax"#),
            ("1.0", r#"strconv.ParseInt: parsing "1.0": invalid syntax"#),
            ("8000000000000", r#"strconv.ParseInt: parsing "8000000000000": value out of range"#),
            ("-1", "Parsed negative value for nanosecond timestamp for version"),
        ] {
            let (isa, sub) = (format!("{}/{bad}", v.isa_path(&id(1))), format!("{}/{bad}", v.sub_path(&id(1))));
            assert_eq!(dss.refused_put(v.sp(), &isa, &isa_body(v, 46.0, 7.0)), (400, why.to_string()), "{bad}");
            assert_eq!(dss.refused_put(v.dp(), &sub, &sub_body(v, 46.0, 7.0)), (400, why.to_string()), "{bad}");
            for (who, path) in [(v.sp(), isa), (v.dp(), sub)] {
                let (status, reply) = dss.refused(who, "DELETE", &path, None);
                assert_eq!((status, message(&reply)), (400, why), "{bad}");
            }
        }
    }
}

#[test]
fn malformed_bodies_are_400_and_unknown_fields_ignored() {
    let mut dss = Dss::new();
    for v in BOTH {
        for bad in ["", "{", "[1]", r#"{"extents": 5}"#, r#"{"extents": {"time_start": 7}}"#] {
            for path in [v.isa_path(&id(1)), v.sub_path(&id(1))] {
                let who = if path.contains("identification") { v.sp() } else { v.dp() };
                let request = Request::new("PUT", &path).with_caller(who.sub, who.scopes).with_body(bad);
                let before = dss.host.store.clone();
                let (status, reply) = dss.serve(request);
                assert_eq!(status, 400, "{bad}: {reply}");
                assert!(message(&reply).starts_with("Malformed params"), "{bad}: {reply}");
                assert!(dss.host.store == before);
            }
        }
    }
    // v1 altitudes must be numbers, though they are not used.
    let mut body = isa_body(V::One, 46.0, 7.0);
    body["extents"]["spatial_volume"]["altitude_lo"] = json!("low");
    assert!(dss.refused_put(SP1, &V::One.isa_path(&id(1)), &body).1.starts_with("Malformed params"));
    // Fields the API does not have are ignored, and `null` is a field's zero value.
    body["extents"]["spatial_volume"]["altitude_lo"] = json!(null);
    body["notify_for_operations"] = json!(true);
    body["extents"]["spatial_volume"]["footprint"]["crs"] = json!("WGS84");
    assert_eq!(dss.put(SP1, &V::One.isa_path(&id(1)), &body).0, 200);
    body["flights_url"] = json!(null);
    assert_eq!(dss.refused_put(SP1, &V::One.isa_path(&id(2)), &body), (400, "Missing required flightsURL".into()));
}

#[test]
fn missing_urls_and_extents_are_400() {
    let mut dss = Dss::new();
    let no_url = |body: &Value| {
        let mut body = body.clone();
        let object = body.as_object_mut().unwrap();
        object.remove("flights_url");
        object.remove("callbacks");
        object.remove("uss_base_url");
        body
    };
    let created = dss.create_isa(V::One, 9, &isa_body(V::One, 46.0, 7.0));
    let update = format!("{}/{}", V::One.isa_path(&id(9)), str_of(&created["service_area"]["version"]));
    let cases: [(Who, String, Value, &str); 9] = [
        (SP1, V::One.isa_path(&id(1)), no_url(&isa_body(V::One, 46.0, 7.0)), "Missing required flightsURL"),
        (DP1, V::One.sub_path(&id(1)), no_url(&sub_body(V::One, 46.0, 7.0)), "Missing required callbacks"),
        (
            DP1,
            V::One.sub_path(&id(1)),
            json!({"extents": extents(V::One, &square(46.0, 7.0), None, None), "callbacks": {}}),
            "Missing required callbacks",
        ),
        (SP2, V::Two.isa_path(&id(1)), no_url(&isa_body(V::Two, 46.0, 7.0)), "Missing required USS base URL"),
        (DP2, V::Two.sub_path(&id(1)), no_url(&sub_body(V::Two, 46.0, 7.0)), "Missing required USS base URL"),
        // A v1 footprint without vertices: the reference words it otherwise for an ISA's create.
        (
            SP1,
            V::One.isa_path(&id(1)),
            isa_with(V::One, json!({"time_end": at(minutes(60))})),
            "Missing or malformed required extents",
        ),
        (
            SP1,
            update,
            isa_with(V::One, json!({"spatial_volume": {"footprint": {"vertices": []}}})),
            "Missing required extents",
        ),
        (DP1, V::One.sub_path(&id(1)), sub_with(V::One, json!(null)), "Missing required extents"),
        (
            SP2,
            V::Two.isa_path(&id(1)),
            json!({"uss_base_url": "https://sp2.example.com"}),
            "Error parsing Volume4D: Neither outline_polygon nor outline_circle were specified in volume",
        ),
    ];
    for (who, path, body, why) in cases {
        assert_eq!(dss.refused_put(who, &path, &body), (400, why.to_string()), "{path} {body}");
    }
}

#[test]
fn malformed_times_are_400() {
    let mut dss = Dss::new();
    let with_start = |v: V, start: Value| {
        let mut e = extents(v, &square(46.0, 7.0), None, Some(minutes(60)));
        e["time_start"] = start;
        e
    };
    for (start, why) in [
        (
            json!({"value": at(0), "format": "ISO8601"}),
            "Error parsing Volume4D: Invalid time format 'ISO8601'; expected 'RFC3339'",
        ),
        (json!({"value": at(0)}), "Error parsing Volume4D: Invalid time format ''; expected 'RFC3339'"),
        (
            json!({"value": "", "format": "RFC3339"}),
            "Error parsing Volume4D: Time structure specified, but `value` was missing",
        ),
        (
            json!({"value": "2030-13-01T00:00:00Z", "format": "RFC3339"}),
            "Error parsing Volume4D: `2030-13-01T00:00:00Z`: day or month out of range",
        ),
    ] {
        assert_eq!(refused_by_writes(&mut dss, V::Two, &with_start(V::Two, start)), (400, why.to_string()));
    }
    let why = "Error parsing Volume4D: `yesterday` is not an RFC 3339 date-time".to_string();
    assert_eq!(refused_by_writes(&mut dss, V::One, &with_start(V::One, json!("yesterday"))), (400, why));
}

#[test]
fn bad_footprints_circles_and_altitudes_are_400_on_writes() {
    let mut dss = Dss::new();
    let center = Some((46.0, 7.0));
    let m = |value: f64| Some((value, "M"));
    let with_square = |mut extra: Value| {
        extra["outline_polygon"] = polygon(&square(46.0, 7.0))["outline_polygon"].clone();
        extra
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            polygon(&[(46.0, 7.0), (46.1, 7.0)]),
            "Not enough points in polygon: a polygon needs at least 3 vertices, this one has 2",
        ),
        (
            json!({"outline_polygon": {}}),
            "Not enough points in polygon: a polygon needs at least 3 vertices, this one has 0",
        ),
        (
            polygon(&[(46.0, 7.0), (96.0, 7.0), (46.1, 7.1)]),
            "Coordinates did not create a well-formed area: point 1 (lat 96",
        ),
        (
            polygon(&[(46.0, 7.0), (46.1, 187.0), (46.1, 7.1)]),
            "Coordinates did not create a well-formed area: point 1 (lat 46.1",
        ),
        (
            polygon(&[(46.0, 7.0), (46.1, 7.1), (46.0, 7.1), (46.1, 7.0)]),
            "Intersection found between polygon edge 0 and 2",
        ),
        (polygon(&[(46.0, 7.0), (46.1, 7.0), (46.1, 7.1), (46.0, 7.0)]), "Intersection found between polygon edge"),
        // A repeated vertex: with 3 vertices no two edges are far enough apart to cross.
        (
            polygon(&[(46.0, 7.0), (46.0, 7.0), (46.1, 7.1)]),
            "Error validating loop: invalid polygon: vertices 0 and 1 are identical",
        ),
        (polygon(&huge()), "Area too large: the area is"),
        (circle(center, None), "Error parsing Volume4D: Missing `radius` from circle"),
        (circle(None, m(100.0)), "Error parsing Volume4D: Missing `center` from circle"),
        (
            circle(center, Some((100.0, "FT"))),
            "Error parsing Volume4D: Only circle radius units of 'M' are acceptable for UTM",
        ),
        (circle(center, m(0.0)), "Radius must be larger than 0: "),
        (circle(center, m(-5.0)), "Radius must be larger than 0: "),
        (circle(Some((91.0, 7.0)), m(100.0)), "Coordinates did not create a well-formed area: "),
        (json!({}), "Error parsing Volume4D: Neither outline_polygon nor outline_circle were specified in volume"),
        (
            with_square(circle(center, m(100.0))),
            "Error parsing Volume4D: Only one of outline_circle or outline_polygon may be specified",
        ),
        (
            with_square(json!({"altitude_lower": {"value": 0, "reference": "AGL", "units": "M"}})),
            "Error parsing Volume4D: Invalid altitude reference 'AGL'; expected 'W84'",
        ),
        (
            with_square(json!({"altitude_upper": {"value": 0, "reference": "W84", "units": "FT"}})),
            "Error parsing Volume4D: Invalid units 'FT'; expected 'M'",
        ),
    ];
    for (volume, why) in cases {
        let (status, message) = refused_by_writes(&mut dss, V::Two, &v2_volume(volume.clone()));
        assert_eq!(status, 400, "{volume}: {message}");
        assert!(message.starts_with(why), "{volume}: `{message}` does not start with `{why}`");
    }
    // v1 footprints follow the same polygon rules.
    for (points, why) in [
        (vec![(46.0, 7.0), (46.1, 7.0)], "Not enough points in polygon"),
        (huge(), "Area too large"),
        (vec![(46.0, 7.0), (46.1, 7.1), (46.0, 7.1), (46.1, 7.0)], "Intersection found between polygon edge 0 and 2"),
    ] {
        let (status, message) =
            refused_by_writes(&mut dss, V::One, &extents(V::One, &points, Some(0), Some(minutes(60))));
        assert_eq!(status, 400);
        assert!(message.starts_with(why), "{message}");
    }
    // A circle is covered, without an area limit; so is a polygon without area (a line).
    let big_circle =
        json!({"outline_circle": {"center": {"lat": 46.0, "lng": 7.0}, "radius": {"value": 30_000, "units": "M"}}});
    assert_eq!(dss.put(SP2, &V::Two.isa_path(&id(1)), &isa_with(V::Two, v2_volume(big_circle))).0, 200);
    let line = polygon(&[(46.0, 7.0), (46.01, 7.0), (46.02, 7.0)]);
    assert_eq!(dss.put(SP2, &V::Two.isa_path(&id(2)), &isa_with(V::Two, v2_volume(line))).0, 200);
}

#[test]
fn bad_search_areas_and_times_are_400_and_areas_over_the_limit_413() {
    let mut dss = Dss::new();
    let too_large = area_of(&huge());
    let crossing = area_of(&[(46.0, 7.0), (46.1, 7.1), (46.0, 7.1), (46.1, 7.0)]);
    for v in BOTH {
        for (area, status, why) in [
            ("46.0,7.0,46.1,7.0,46.1", 400, "Odd number of coordinates in area string"),
            ("", 400, "Odd number of coordinates in area string"),
            ("46.0,7.0,46.1,7.0", 400, "Not enough points in polygon"),
            ("46.0,7.0,46.1,x,46.1,7.1", 400, "Coordinates did not create a well-formed area: `x` is not a number"),
            ("46.0,7.0,146.1,7.0,46.1,7.1", 400, "Coordinates did not create a well-formed area: point 1"),
            (crossing.as_str(), 400, "Intersection found between polygon edge 0 and 2"),
            (too_large.as_str(), 413, "Area too large: the area is"),
        ] {
            for path in [v.isa_search(area), v.sub_search(area)] {
                let (got, reply) = dss.get(v.dp(), &path);
                assert_eq!(got, status, "{path}: {reply}");
                assert!(message(&reply).starts_with(why), "{path}: {reply}");
            }
        }
        for path in [format!("{}/identification_service_areas", v.prefix()), format!("{}/subscriptions", v.prefix())] {
            assert_eq!(dss.get(v.dp(), &path), (400, json!({"message": "Missing area"})));
        }
        for which in ["earliest", "latest"] {
            let (status, reply) =
                dss.get(v.dp(), &format!("{}&{which}_time=yesterday", v.isa_search(&area(46.0, 7.0))));
            assert_eq!(status, 400);
            assert!(message(&reply).starts_with(&format!("Unable to convert {which} timestamp: ")), "{reply}");
        }
    }
    // Each number is trimmed of spaces, as the reference does.
    assert_eq!(dss.get(DP1, "/v1/dss/identification_service_areas?area=46.0,%207.0,46.01,7.0,46.01,7.01").0, 200);
    assert!(dss.host.store.is_empty());
}

/// The reference checks a write's version, then its body's URL and extent, then its id
/// (a subscription's update: its id before its body), then a create's URL scheme, then the
/// covering, then the state.
#[test]
fn checks_run_in_the_reference_order() {
    let mut dss = Dss::new();
    let http = |mut body: Value| {
        body["uss_base_url"] = json!("http://sp.example.com");
        body
    };
    let huge_v2 = isa_with(V::Two, extents(V::Two, &huge(), Some(0), Some(minutes(60))));
    let no_outline = isa_with(V::Two, v2_volume(json!({})));
    let neither = "Error parsing Volume4D: Neither outline_polygon nor outline_circle were specified in volume";
    let bad_id = V::Two.isa_path("x");
    assert_eq!(
        dss.refused_put(SP2, &format!("{bad_id}/-1"), &no_outline).1,
        "Parsed negative value for nanosecond timestamp for version"
    );
    assert_eq!(
        dss.refused_put(SP2, &bad_id, &json!({"extents": no_outline["extents"]})).1,
        "Missing required USS base URL"
    );
    assert_eq!(dss.refused_put(SP2, &bad_id, &no_outline).1, neither);
    assert_eq!(dss.refused_put(SP2, &bad_id, &http(huge_v2.clone())).1, "Invalid ID format: `x`");
    assert_eq!(dss.refused_put(SP2, &V::Two.isa_path(&id(1)), &http(huge_v2.clone())).1, "rid url must use TLS");
    // Updates do not look at the scheme: the covering speaks.
    assert!(
        dss.refused_put(SP2, &format!("{}/1", V::Two.isa_path(&id(1))), &http(huge_v2)).1.starts_with("Area too large")
    );
    // The covering before the state, and the time rules (the state's) before a taken id.
    let late = isa_with(V::Two, extents(V::Two, &huge(), Some(-minutes(10)), Some(minutes(60))));
    assert!(dss.refused_put(SP2, &format!("{}/1", V::Two.isa_path(&id(1))), &late).1.starts_with("Area too large"));
    // A subscription's update reads its id before its body; an ISA's after.
    let malformed = |dss: &mut Dss, who: Who, path: &str| {
        let request = Request::new("PUT", path).with_caller(who.sub, who.scopes).with_body("{");
        let (status, reply) = dss.serve(request);
        (status, message(&reply).to_string())
    };
    assert_eq!(
        malformed(&mut dss, DP2, &format!("{}/1", V::Two.sub_path("x"))),
        (400, "Invalid ID format: `x`".into())
    );
    assert!(malformed(&mut dss, DP2, &V::Two.sub_path("x")).1.starts_with("Malformed params"));
    assert!(malformed(&mut dss, SP2, &format!("{}/1", V::Two.isa_path("x"))).1.starts_with("Malformed params"));
    // Authorization comes first of all: a malformed body without credentials is a 401.
    assert_eq!(dss.serve(Request::new("PUT", &V::One.isa_path("x")).with_body("{")).0, 401);
    assert!(dss.host.store.is_empty());
}
