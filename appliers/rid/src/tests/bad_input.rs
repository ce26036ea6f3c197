//! Bad input through both versions: the reference's status (400; 413 for a search area over
//! the limit), a message that says why, and nothing changed.

use super::*;

/// v2 extents with `volume` replaced.
fn v2_volume(volume: Value) -> Value {
    json!({"volume": volume, "time_start": {"value": at(0), "format": "RFC3339"},
           "time_end": {"value": at(minutes(60)), "format": "RFC3339"}})
}

fn polygon(points: &[(f64, f64)]) -> Value {
    let vertices: Vec<Value> = points.iter().map(|(lat, lng)| json!({"lat": lat, "lng": lng})).collect();
    json!({"outline_polygon": {"vertices": vertices}})
}

/// A ~100 km square: about 8,000 km², over the 2,500 km² limit.
fn huge() -> Vec<(f64, f64)> {
    vec![(46.0, 7.0), (46.9, 7.0), (46.9, 8.2), (46.0, 8.2)]
}

#[test]
fn malformed_ids_versions_and_bodies_are_400() {
    let mut dss = Dss::new();
    for v in [V::One, V::Two] {
        let body = isa_body(v, 46.0, 7.0);
        for bad_id in ["not-a-uuid", "00000000-0000-1000-8000-000000000000", ""] {
            let (status, reply) = dss.refused(v.sp(), "PUT", &v.isa_path(bad_id), Some(&body));
            assert_eq!(status, 400, "{bad_id}: {reply}");
            assert_eq!(dss.refused(v.dp(), "GET", &v.sub_path(bad_id), None).0, 400);
        }
        for bad_version in ["-1", "zz", "1.0", "8000000000000"] {
            let (status, reply) =
                dss.refused(v.sp(), "PUT", &format!("{}/{bad_version}", v.isa_path(&id(1))), Some(&body));
            assert_eq!((status, message(&reply).contains("Invalid version")), (400, true), "{bad_version}: {reply}");
        }
        for bad_body in ["", "{", "[1]", r#"{"extents": 5}"#] {
            let request =
                Request::new("PUT", &v.isa_path(&id(1))).with_caller(v.sp().sub, v.sp().scopes).with_body(bad_body);
            let before = dss.host.store.clone();
            assert_eq!(dss.serve(request).0, 400, "{bad_body}");
            assert!(dss.host.store == before);
        }
        let (status, reply) = dss.refused(v.sp(), "PUT", &v.isa_path(&id(1)), Some(&isa_with(v, json!(null))));
        assert_eq!((status, message(&reply)), (400, "Missing required extents"));
    }
    let (status, reply) = dss.refused(
        DP1,
        "PUT",
        &V::One.sub_path(&id(1)),
        Some(&json!({"extents": extents(V::One, &square(46.0, 7.0), None, None)})),
    );
    assert_eq!((status, message(&reply)), (400, "Missing required callbacks.identification_service_area_url"));
}

#[test]
fn malformed_times_are_400() {
    let mut dss = Dss::new();
    let here = extents(V::Two, &square(46.0, 7.0), None, None);
    let with_start = |start: Value| {
        let mut e = here.clone();
        e["time_start"] = start;
        e["time_end"] = json!({"value": at(minutes(60)), "format": "RFC3339"});
        isa_with(V::Two, e)
    };
    for (start, why) in [
        (json!({"value": at(0), "format": "ISO8601"}), "Invalid time format"),
        (json!({"value": "", "format": "RFC3339"}), "`value` was missing"),
        (json!({"value": "2030-13-01T00:00:00Z", "format": "RFC3339"}), "Error parsing start time"),
    ] {
        let (status, reply) = dss.refused(SP2, "PUT", &V::Two.isa_path(&id(1)), Some(&with_start(start)));
        assert_eq!((status, message(&reply).contains(why)), (400, true), "{reply}");
    }
    let mut v1 = extents(V::One, &square(46.0, 7.0), None, Some(minutes(60)));
    v1["time_start"] = json!("yesterday");
    let (status, reply) = dss.refused(SP1, "PUT", &V::One.isa_path(&id(1)), Some(&isa_with(V::One, v1)));
    assert_eq!((status, message(&reply).contains("Error parsing start time")), (400, true), "{reply}");
}

#[test]
fn bad_footprints_circles_and_altitudes_are_400_on_writes() {
    let mut dss = Dss::new();
    let w84 = json!({"value": 0, "reference": "W84", "units": "M"});
    let cases: Vec<(Value, &str)> = vec![
        (polygon(&[(46.0, 7.0), (46.1, 7.0)]), "at least 3 vertices"),
        (polygon(&[(46.0, 7.0), (96.0, 7.0), (46.1, 7.1)]), "not on Earth"),
        (polygon(&[(46.0, 7.0), (46.1, 7.1), (46.0, 7.1), (46.1, 7.0)]), "cross"),
        (polygon(&huge()), "Area is too large"),
        (json!({"outline_circle": {"center": {"lat": 46.0, "lng": 7.0}}}), "Missing `radius`"),
        (json!({"outline_circle": {"radius": {"value": 100, "units": "M"}}}), "Missing `center`"),
        (
            json!({"outline_circle": {"center": {"lat": 46.0, "lng": 7.0}, "radius": {"value": 100, "units": "FT"}}}),
            "'M'",
        ),
        (
            json!({"outline_circle": {"center": {"lat": 46.0, "lng": 7.0}, "radius": {"value": -1, "units": "M"}}}),
            "radius",
        ),
        (json!({}), "Neither outline_polygon nor outline_circle"),
        (
            json!({"outline_polygon": polygon(&square(46.0, 7.0))["outline_polygon"],
                "outline_circle": {"center": {"lat": 46.0, "lng": 7.0}, "radius": {"value": 100, "units": "M"}}}),
            "Only one of",
        ),
        (
            json!({"outline_polygon": polygon(&square(46.0, 7.0))["outline_polygon"], "altitude_lower": {"value": 0, "reference": "AGL", "units": "M"}}),
            "expected 'W84'",
        ),
        (
            json!({"outline_polygon": polygon(&square(46.0, 7.0))["outline_polygon"], "altitude_upper": {"value": 0, "reference": "W84", "units": "FT"}}),
            "expected 'M'",
        ),
    ];
    for (volume, why) in cases {
        let (status, reply) =
            dss.refused(SP2, "PUT", &V::Two.isa_path(&id(1)), Some(&isa_with(V::Two, v2_volume(volume.clone()))));
        assert_eq!(status, 400, "{volume}: {reply}");
        assert!(message(&reply).contains(why), "{why}: {reply}");
        let (status, _) = dss.refused(DP2, "PUT", &V::Two.sub_path(&id(1)), Some(&sub_with(V::Two, v2_volume(volume))));
        assert_eq!(status, 400);
    }
    // v1 footprints: the same polygon rules, and a footprint is required.
    for (points, why) in [
        (vec![(46.0, 7.0)], "at least 3 vertices"),
        (huge(), "Area is too large"),
        (vec![(46.0, 7.0), (46.1, 7.1), (46.0, 7.1), (46.1, 7.0)], "cross"),
    ] {
        let body = isa_with(V::One, extents(V::One, &points, Some(0), Some(minutes(60))));
        let (status, reply) = dss.refused(SP1, "PUT", &V::One.isa_path(&id(1)), Some(&body));
        assert_eq!((status, message(&reply).contains(why)), (400, true), "{reply}");
    }
    let no_footprint = isa_with(V::One, json!({"time_end": at(minutes(60))}));
    let (status, reply) = dss.refused(SP1, "PUT", &V::One.isa_path(&id(1)), Some(&no_footprint));
    assert_eq!((status, message(&reply)), (400, "Missing required spatial_volume"));
    // A circle is covered (no area limit applies to circles).
    let circle = json!({"outline_circle": {"center": {"lat": 46.0, "lng": 7.0}, "radius": {"value": 300, "units": "M"}}, "altitude_lower": w84});
    let (status, reply) = dss.put(SP2, &V::Two.isa_path(&id(1)), &isa_with(V::Two, v2_volume(circle)));
    assert_eq!(status, 200, "{reply}");
}

#[test]
fn bad_search_areas_are_400_and_areas_over_the_limit_413() {
    let mut dss = Dss::new();
    let big: String = huge().iter().map(|(a, b)| format!("{a},{b}")).collect::<Vec<_>>().join(",");
    for v in [V::One, V::Two] {
        for (area, status, why) in [
            ("46.0,7.0,46.1,7.0,46.1", 400, "odd number"),
            ("46.0,7.0,46.1,7.0", 400, "not enough points"),
            ("46.0,7.0,46.1,x,46.1,7.1", 400, "not a number"),
            ("46.0,7.0,146.1,7.0,46.1,7.1", 400, "not on Earth"),
            (big.as_str(), 413, "too large"),
        ] {
            for what in ["identification_service_areas", "subscriptions"] {
                let (got, reply) = dss.get(v.dp(), &format!("{}/{what}?area={area}", v.prefix()));
                assert_eq!((got, message(&reply).contains(why)), (status, true), "{area}: {reply}");
            }
        }
    }
    // Spaces around numbers are trimmed, as the reference does.
    let (status, _) = dss.get(DP1, "/v1/dss/identification_service_areas?area=46.0,%207.0,46.01,7.0,46.01,7.01");
    assert_eq!(status, 200);
}
