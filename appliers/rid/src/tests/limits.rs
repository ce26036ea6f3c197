//! The bounds the reference lacks (docs/dss-limits.md): a 400 from `handle` through both
//! versions, and again from `apply` and `query` for what arrives without it (the host's
//! client API).

use super::*;
use crate::{Command, Query};
use dss_common::request::MAX_URL_BYTES;
use dss_geo::{MAX_CELLS, MAX_RADIUS_M, MAX_VERTICES};
use wasmraft_sdk::contract::ApplierError;
use wasmraft_sdk::http::Handled;
use wasmraft_sdk::testing::TestHost;
use wasmraft_sdk::{Applier, Caller, Encoding, Timestamp};

/// An https URL of exactly `len` bytes.
fn url(len: usize) -> String {
    let base = "https://uss.example.com/";
    format!("{base}{}", "a".repeat(len - base.len()))
}

/// `body` with its URL (whichever field `v` and the entity use) set to `url`.
fn with_url(v: V, mut body: Value, url: &str) -> Value {
    match v {
        V::One if body.get("callbacks").is_some() => body["callbacks"]["identification_service_area_url"] = json!(url),
        V::One => body["flights_url"] = json!(url),
        V::Two => body["uss_base_url"] = json!(url),
    }
    body
}

/// A convex `n`-gon of radius ~1 km around (46, 7).
fn ngon(n: usize) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let a = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            (46.0 + 0.009 * a.sin(), 7.0 + 0.013 * a.cos())
        })
        .collect()
}

/// An 11 m wide strip along 160° of the equator: ~1,000 km², under the area limit, but
/// ~29,000 cells (the equator is a cell boundary).
fn strip() -> Vec<(f64, f64)> {
    vec![(0.0, -80.0), (0.0, 80.0), (0.0001, 80.0), (0.0001, -80.0)]
}

/// Refused with a 400 saying `words`, by `handle` itself (`apply` checks what it can again).
fn refused_put(dss: &mut Dss, who: Who, path: &str, body: &Value, words: &str) {
    let (status, message) = dss.refused_put(who, path, body);
    assert_eq!(status, 400, "{message}");
    assert!(message.contains(words), "{message}");
    let Handled::Respond(refusal) = handled(Request::new("PUT", path).with_body(body.to_string()), who) else {
        panic!("not refused by handle: {path}")
    };
    assert_eq!(refusal.status, 400);
}

#[test]
fn urls_are_bounded_on_creates_and_updates() {
    let mut dss = Dss::new();
    for (n, v) in [(1, V::One), (2, V::Two)] {
        for (path, who, body) in
            [(v.isa_path(&id(n)), v.sp(), isa_body(v, 46.0, 7.0)), (v.sub_path(&id(n)), v.dp(), sub_body(v, 46.0, 7.0))]
        {
            let long = with_url(v, body.clone(), &url(MAX_URL_BYTES + 1));
            refused_put(&mut dss, who, &path, &long, "rid url is too long: 2049 bytes, at most 2048");
            let (status, reply) = dss.put(who, &path, &with_url(v, body.clone(), &url(MAX_URL_BYTES)));
            assert_eq!(status, 200, "{reply}");
            let entity = reply.get("service_area").unwrap_or(&reply["subscription"]);
            assert_eq!(url_of(v, entity), url(MAX_URL_BYTES));
            // An update's URL too (the reference checks only a create's scheme).
            let version = str_of(&entity["version"]);
            refused_put(&mut dss, who, &format!("{path}/{version}"), &long, "rid url is too long");
        }
    }
}

#[test]
fn circle_radii_are_bounded() {
    let mut dss = Dss::new();
    let circle = |meters: f64| {
        json!({"volume": {"outline_circle": {"center": {"lat": 46.0, "lng": 7.0}, "radius": {"value": meters, "units": "M"}}},
            "time_start": V::Two.time(0), "time_end": V::Two.time(minutes(60))})
    };
    for meters in [MAX_RADIUS_M + 1.0, 200_000.0, 1_000_000.0] {
        refused_put(&mut dss, SP2, &V::Two.isa_path(&id(1)), &isa_with(V::Two, circle(meters)), "Radius too large");
        refused_put(&mut dss, DP2, &V::Two.sub_path(&id(1)), &sub_with(V::Two, circle(meters)), "over the 50000 m");
    }
    assert_eq!(dss.put(SP2, &V::Two.isa_path(&id(1)), &isa_with(V::Two, circle(MAX_RADIUS_M))).0, 200);
}

#[test]
fn polygons_have_at_most_so_many_vertices() {
    let mut dss = Dss::new();
    for v in BOTH {
        let over = extents(v, &ngon(MAX_VERTICES + 1), Some(0), Some(minutes(60)));
        refused_put(&mut dss, v.sp(), &v.isa_path(&id(1)), &isa_with(v, over.clone()), "Too many vertices");
        refused_put(&mut dss, v.dp(), &v.sub_path(&id(1)), &sub_with(v, over), "at most 1000 vertices");
        let area = area_of(&ngon(MAX_VERTICES + 1));
        for path in [v.isa_search(&area), v.sub_search(&area)] {
            let (status, reply) = dss.get(v.dp(), &path);
            assert_eq!(
                (status, message(&reply)),
                (400, "Too many vertices: a polygon may have at most 1000 vertices, this one has 1001")
            );
        }
        let (status, reply) = dss.get(v.dp(), &v.isa_search(&area_of(&ngon(MAX_VERTICES))));
        assert_eq!(status, 200, "{reply}");
    }
    let full = extents(V::Two, &ngon(MAX_VERTICES), Some(0), Some(minutes(60)));
    assert_eq!(dss.put(SP2, &V::Two.isa_path(&id(1)), &isa_with(V::Two, full)).0, 200);
}

#[test]
fn coverings_have_at_most_so_many_cells() {
    let mut dss = Dss::new();
    for v in BOTH {
        let long = extents(v, &strip(), Some(0), Some(minutes(60)));
        refused_put(&mut dss, v.sp(), &v.isa_path(&id(1)), &isa_with(v, long.clone()), "more than 20000");
        refused_put(&mut dss, v.dp(), &v.sub_path(&id(1)), &sub_with(v, long), "Area too large");
        // A 400, not the reference's 413 for its area limit.
        for path in [v.isa_search(&area_of(&strip())), v.sub_search(&area_of(&strip()))] {
            let (status, reply) = dss.get(v.dp(), &path);
            assert_eq!(status, 400, "{reply}");
            assert!(message(&reply).contains("more than 20000"), "{reply}");
        }
    }
}

// ---- Without `handle` ----

fn handled(request: Request, who: Who) -> Handled<Command, Query> {
    Rid::handle(request.with_caller(who.sub, who.scopes).with_time(Timestamp(T0 as u64)))
}

fn host(who: Who) -> TestHost {
    let mut host = TestHost::new();
    host.set_time(T0 as u64);
    host.set_caller(Some(Caller {
        subject: who.sub.into(),
        scopes: who.scopes.iter().map(|s| s.to_string()).collect(),
    }));
    host
}

fn assert_refused<T: std::fmt::Debug>(refusal: Result<T, ApplierError>, words: &str) {
    let refusal = refusal.unwrap_err();
    assert_eq!(refusal.code, "bad-request", "{refusal:?}");
    assert!(refusal.message.contains(words), "{refusal:?}");
}

fn too_many_cells() -> Vec<u64> {
    (0..=MAX_CELLS as u64).map(|i| 0x1000_0000_0000_0000 + (i << 34)).collect()
}

#[test]
fn apply_and_query_refuse_what_handle_would() {
    for v in BOTH {
        for (path, who, body) in
            [(v.isa_path(&id(1)), v.sp(), isa_body(v, 46.0, 7.0)), (v.sub_path(&id(1)), v.dp(), sub_body(v, 46.0, 7.0))]
        {
            let mut host = host(who);
            let Handled::Propose(command) = handled(Request::new("PUT", &path).with_body(body.to_string()), who) else {
                panic!("not proposed")
            };
            let bend = |f: &dyn Fn(&mut crate::Put)| {
                let mut c = command.clone();
                let (Command::PutIsa(put) | Command::PutSubscription(put)) = &mut c else { panic!() };
                f(put);
                c
            };
            let long = bend(&|p| p.url = url(MAX_URL_BYTES + 1));
            assert_refused(host.apply::<Rid>(Encoding::Postcard, &long), "rid url is too long");
            let many = bend(&|p| p.extent.cells = too_many_cells());
            assert_refused(host.apply::<Rid>(Encoding::Postcard, &many), "more than 20000");
            assert!(host.store.is_empty());
            let at_bounds = bend(&|p| p.url = url(MAX_URL_BYTES));
            assert!(host.apply::<Rid>(Encoding::Postcard, &at_bounds).is_ok());
        }
        for path in [v.isa_search(&area(46.0, 7.0)), v.sub_search(&area(46.0, 7.0))] {
            let (path, query) = path.split_once('?').unwrap();
            let who = v.dp();
            let Handled::Read(mut read) = handled(Request::new("GET", path).with_query(query), who) else {
                panic!("not a read")
            };
            let mut host = host(who);
            assert!(host.query::<Rid>(Encoding::Postcard, &read).is_ok());
            let (Query::SearchIsas { cells, .. } | Query::SearchSubscriptions { cells, .. }) = &mut read else {
                panic!()
            };
            *cells = too_many_cells();
            assert_refused(host.query::<Rid>(Encoding::Postcard, &read), "more than 20000");
        }
    }
}
