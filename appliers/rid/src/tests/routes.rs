//! The 20 routes, their scopes per version (a token of the other version's scopes gets
//! 403 on every route), 401 without credentials, 404 and 405.

use super::*;

/// Every route of `v` on ISA/subscription `n`, with a body where it takes one.
fn routes(v: V, n: u32) -> Vec<(&'static str, String, Option<Value>)> {
    let (isa, sub) = (v.isa_path(&id(n)), v.sub_path(&id(n)));
    vec![
        ("GET", format!("{}/identification_service_areas?area={}", v.prefix(), area(46.0, 7.0)), None),
        ("GET", isa.clone(), None),
        ("PUT", isa.clone(), Some(isa_body(v, 46.0, 7.0))),
        ("PUT", format!("{isa}/1"), Some(isa_body(v, 46.0, 7.0))),
        ("DELETE", format!("{isa}/1"), None),
        ("GET", format!("{}/subscriptions?area={}", v.prefix(), area(46.0, 7.0)), None),
        ("GET", sub.clone(), None),
        ("PUT", sub.clone(), Some(sub_body(v, 46.0, 7.0))),
        ("PUT", format!("{sub}/1"), Some(sub_body(v, 46.0, 7.0))),
        ("DELETE", format!("{sub}/1"), None),
    ]
}

#[test]
fn every_route_refuses_the_other_versions_scopes_and_anonymous_callers() {
    let mut dss = Dss::new();
    let everyone_of = |v: V| match v {
        V::One => Who { sub: "uss", scopes: &[READ, WRITE] },
        V::Two => Who { sub: "uss", scopes: &[DISPLAY, SERVICE] },
    };
    for (v, other) in [(V::One, V::Two), (V::Two, V::One)] {
        for (method, path, body) in routes(v, 1) {
            let (status, reply) = dss.refused(everyone_of(other), method, &path, body.as_ref());
            assert_eq!(status, 403, "{method} {path}: {reply}");
            assert!(message(&reply).contains("missing scopes"), "{reply}");
            let before = dss.host.store.clone();
            let mut request = Request::new(method, path.split('?').next().unwrap());
            if let Some(body) = &body {
                request = request.with_body(body.to_string());
            }
            assert_eq!(dss.serve(request).0, 401, "{method} {path}");
            assert!(dss.host.store == before);
        }
    }
}

#[test]
fn each_route_takes_the_scopes_the_reference_names() {
    let mut dss = Dss::new();
    // v1: searches, gets and subscriptions need R; ISA writes W; a subscription's get R or W.
    let v1: [&[&str]; 10] =
        [&[READ], &[READ], &[WRITE], &[WRITE], &[WRITE], &[READ], &[READ, WRITE], &[READ], &[READ], &[READ]];
    // v2: ISA searches and subscriptions need DP; ISA writes SP; gets DP or SP.
    let v2: [&[&str]; 10] = [
        &[DISPLAY],
        &[DISPLAY, SERVICE],
        &[SERVICE],
        &[SERVICE],
        &[SERVICE],
        &[DISPLAY],
        &[DISPLAY, SERVICE],
        &[DISPLAY],
        &[DISPLAY],
        &[DISPLAY],
    ];
    for (v, allowed, scopes) in [(V::One, v1, [READ, WRITE]), (V::Two, v2, [DISPLAY, SERVICE])] {
        for ((method, path, body), allowed) in routes(v, 1).into_iter().zip(allowed) {
            for scope in scopes {
                let who = Who { sub: "probe", scopes: Box::leak(Box::new([scope])) };
                let (status, reply) = dss.call(who, method, &path, body.as_ref());
                assert_eq!(status == 403, !allowed.contains(&scope), "{method} {path} with {scope}: {status} {reply}");
            }
        }
    }
}

#[test]
fn unknown_paths_are_404_and_other_methods_405() {
    let mut dss = Dss::new();
    assert_eq!(dss.get(DP1, "/v1/dss/flights").0, 404);
    assert_eq!(dss.get(DP2, "/rid/v2/dss/identification_service_areas/a/b/c").0, 404);
    assert_eq!(dss.get(DP2, "/rid/v3/dss/subscriptions").0, 404);
    let (status, _) = dss.call(SP1, "POST", "/v1/dss/identification_service_areas", None);
    assert_eq!(status, 405);
    let (status, _) = dss.call(SP2, "DELETE", &V::Two.isa_path(&id(1)), None);
    assert_eq!(status, 405);
    let (status, _) = dss.call(DP2, "GET", &format!("{}/1", V::Two.sub_path(&id(1))), None);
    assert_eq!(status, 405);
    assert!(dss.host.store.is_empty());
}
