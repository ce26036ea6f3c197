//! The bounds the reference lacks (docs/dss-limits.md): refused with a 400 by `handle`, and
//! again by `apply` and `query` for what arrives without it (the host's client API).

use super::*;
use crate::geo::{MAX_CELLS, MAX_VERTICES};
use crate::{Output, Query, QueryOutput};
use dss_common::request::MAX_URL_BYTES;
use dss_geo::MAX_RADIUS_M;
use wasmraft_sdk::contract::ApplierError;
use wasmraft_sdk::http::Handled;
use wasmraft_sdk::{Applier, Caller, Timestamp};

/// An https URL of exactly `len` bytes.
fn url(len: usize) -> String {
    let base = "https://uss.example.com/";
    format!("{base}{}", "a".repeat(len - base.len()))
}

/// A convex `n`-gon of radius ~1 km around (46, 7).
fn ngon(n: usize) -> Value {
    let vertices: Vec<Value> = (0..n)
        .map(|i| {
            let a = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            json!({"lat": 46.0 + 0.009 * a.sin(), "lng": 7.0 + 0.013 * a.cos()})
        })
        .collect();
    json!({ "vertices": vertices })
}

/// `here()`'s window and altitudes over another outline.
fn with_outline(key: &str, outline: Value) -> Value {
    let mut v = here();
    v["volume"].as_object_mut().unwrap().remove("outline_polygon");
    v["volume"][key] = outline;
    v
}

fn circle(radius_m: f64) -> Value {
    json!({"center": {"lat": 46.0, "lng": 7.0}, "radius": {"value": radius_m, "units": "M"}})
}

/// An 11 m wide strip along the equator from `from` to `to` degrees of longitude: about
/// 1.2 km² but 183 cells per degree (the equator is a cell boundary).
fn strip(from: f64, to: f64) -> Value {
    json!({"vertices": [{"lat": 0.0, "lng": from}, {"lat": 0.0, "lng": to},
        {"lat": 0.0001, "lng": to}, {"lat": 0.0001, "lng": from}]})
}

/// Refused with a 400 saying `words`, by `handle` itself (`apply` checks what it can again).
fn refused_with(dss: &mut Dss, method: &str, path: &str, body: &Value, words: &str) {
    let (status, reply) = dss.refused(USS1, method, path, Some(body));
    assert_eq!(status, 400, "{reply}");
    assert!(message(&reply).contains(words), "{reply}");
    let request = Request::new(method, path).with_body(body.to_string()).with_caller(USS1.sub, USS1.scopes);
    let mut request = request.with_time(Timestamp(T0 as u64));
    for (name, value) in &dss.settings {
        request = request.with_setting(name, value);
    }
    let Handled::Respond(refusal) = Scd::handle(request) else { panic!("not refused by handle: {method} {path}") };
    assert_eq!(refusal.status, 400);
}

#[test]
fn urls_are_bounded_on_every_write() {
    let mut dss = Dss::new();
    let mut body = oir("Accepted", here(), &[]);
    body["uss_base_url"] = json!(url(MAX_URL_BYTES + 1));
    refused_with(&mut dss, "PUT", &oir_path(&id(1)), &body, "uss_base_url is too long: 2049 bytes");
    body["uss_base_url"] = json!(url(MAX_URL_BYTES));
    body["new_subscription"] = json!({"uss_base_url": url(MAX_URL_BYTES + 1)});
    refused_with(&mut dss, "PUT", &oir_path(&id(1)), &body, "too long");
    body["new_subscription"] = json!({"uss_base_url": url(MAX_URL_BYTES)});
    let created = dss.create_oir(USS1, 1, &body);
    assert_eq!(created["uss_base_url"], json!(url(MAX_URL_BYTES)));

    let mut c = json!({"extents": [here()], "uss_base_url": url(MAX_URL_BYTES + 1)});
    refused_with(&mut dss, "PUT", &constraint_path(&id(2)), &c, "too long");
    c["uss_base_url"] = json!(url(MAX_URL_BYTES));
    assert_eq!(dss.put(USS1, &constraint_path(&id(2)), &c).0, 201);

    let mut s = subscription(here(), true, false);
    s["uss_base_url"] = json!(url(MAX_URL_BYTES + 1));
    refused_with(&mut dss, "PUT", &sub_path(&id(3)), &s, "too long");
    // Even where http is allowed, as the scheme's check is then skipped.
    dss.settings.push(("allow-http-base-urls", "true"));
    refused_with(&mut dss, "PUT", &sub_path(&id(3)), &s, "too long");
    s["uss_base_url"] = json!(url(MAX_URL_BYTES));
    dss.create_sub(USS1, 3, &s);
}

#[test]
fn circle_radii_are_bounded() {
    let mut dss = Dss::new();
    let big = with_outline("outline_circle", circle(MAX_RADIUS_M + 1.0));
    refused_with(&mut dss, "PUT", &oir_path(&id(1)), &oir("Accepted", big, &[]), "Circle too large");
    let huge = with_outline("outline_circle", circle(200_000.0));
    refused_with(&mut dss, "PUT", &oir_path(&id(1)), &oir("Accepted", huge.clone(), &[]), "over the 50000 m limit");
    refused_with(&mut dss, "PUT", &sub_path(&id(2)), &subscription(huge.clone(), true, false), "Circle too large");
    let c = json!({"extents": [huge], "uss_base_url": "https://cm.example.com"});
    refused_with(&mut dss, "PUT", &constraint_path(&id(3)), &c, "Circle too large");
    // A 400 on every search too (the reference's polygon limit is a 413 or a 500 on two).
    let query = json!({"area_of_interest": huge});
    for kind in ["operational_intent_references", "constraint_references", "subscriptions"] {
        refused_with(&mut dss, "POST", &format!("/dss/v1/{kind}/query"), &query, "Circle too large");
    }
    // At the limit (over the polygons' area limit, which circles do not have).
    let fits = with_outline("outline_circle", circle(MAX_RADIUS_M));
    dss.create_oir(USS1, 1, &oir("Accepted", fits, &[]));
}

#[test]
fn polygons_and_requests_have_at_most_so_many_vertices() {
    let mut dss = Dss::new();
    let over = with_outline("outline_polygon", ngon(MAX_VERTICES + 1));
    refused_with(&mut dss, "PUT", &oir_path(&id(1)), &oir("Accepted", over.clone(), &[]), "at most 1000 vertices");
    let query = json!({"area_of_interest": over});
    for kind in ["operational_intent_references", "constraint_references", "subscriptions"] {
        refused_with(&mut dss, "POST", &format!("/dss/v1/{kind}/query"), &query, "Too many vertices");
    }
    // Four maximal polygons and a circle: each fine, too many together.
    let full = with_outline("outline_polygon", ngon(MAX_VERTICES));
    let circle = with_outline("outline_circle", circle(500.0));
    let mut body = oir("Accepted", full.clone(), &[]);
    body["extents"] = json!([full, full, full, full, circle]);
    refused_with(&mut dss, "PUT", &oir_path(&id(1)), &body, "at most 4000 vertices together");
    body["extents"].as_array_mut().unwrap().pop();
    dss.create_oir(USS1, 1, &body);
}

#[test]
fn coverings_and_their_union_have_at_most_so_many_cells() {
    let mut dss = Dss::new();
    // Under the area limit, but ~29,000 cells.
    let long = with_outline("outline_polygon", strip(-80.0, 80.0));
    refused_with(&mut dss, "PUT", &oir_path(&id(1)), &oir("Accepted", long.clone(), &[]), "more than 20000");
    refused_with(&mut dss, "POST", "/dss/v1/subscriptions/query", &json!({"area_of_interest": long}), "20000");
    // Two of ~11,000 each: fine apart, too many together.
    let west = with_outline("outline_polygon", strip(0.0, 60.0));
    let east = with_outline("outline_polygon", strip(60.0, 120.0));
    let mut body = oir("Accepted", west.clone(), &[]);
    body["extents"] = json!([west, east]);
    refused_with(&mut dss, "PUT", &oir_path(&id(1)), &body, "more than 20000");
    let mut c = json!({"extents": [west, east], "uss_base_url": "https://cm.example.com"});
    refused_with(&mut dss, "PUT", &constraint_path(&id(2)), &c, "more than 20000");
    c["extents"] = json!([west]);
    assert_eq!(dss.put(USS1, &constraint_path(&id(2)), &c).0, 201);
}

// ---- Without `handle` ----

fn proposed(request: Request) -> Command {
    let request = request.with_caller("uss1", &[SC, CP, CM]).with_time(Timestamp(T0 as u64));
    match Scd::handle(request) {
        Handled::Propose(command) => command,
        _ => panic!("not proposed"),
    }
}

fn host() -> TestHost {
    let mut host = TestHost::new();
    host.set_time(T0 as u64);
    host.set_caller(Some(Caller { subject: "uss1".into(), scopes: [SC, CP, CM].map(String::from).to_vec() }));
    host
}

fn apply(host: &mut TestHost, command: &Command) -> Result<Output, ApplierError> {
    host.apply::<Scd>(Encoding::Postcard, command)
}

fn assert_refused(refusal: Result<impl std::fmt::Debug, ApplierError>, words: &str) {
    let refusal = refusal.unwrap_err();
    assert_eq!(refusal.code, "bad-request", "{refusal:?}");
    assert!(refusal.message.contains(words), "{refusal:?}");
}

#[test]
fn apply_refuses_what_handle_would() {
    let mut host = host();
    let put = |n: u32, body: &Value| proposed(Request::new("PUT", &oir_path(&id(n))).with_body(body.to_string()));
    let Command::PutOir(valid) = put(1, &with_new_sub(oir("Accepted", here(), &[]))) else { panic!() };

    let mut long_url = valid.clone();
    long_url.uss_base_url = url(MAX_URL_BYTES + 1);
    assert_refused(apply(&mut host, &Command::PutOir(long_url.clone())), "uss_base_url is too long");
    // Wrapped too.
    assert_refused(apply(&mut host, &Command::TimeIndexed(Box::new(Command::PutOir(long_url)))), "too long");
    let mut long_sub_url = valid.clone();
    long_sub_url.new_subscription.as_mut().unwrap().uss_base_url = url(MAX_URL_BYTES + 1);
    assert_refused(apply(&mut host, &Command::PutOir(long_sub_url)), "too long");
    let mut many_cells = valid.clone();
    many_cells.extent.cells = (0..=MAX_CELLS as u64).map(|i| 0x1000_0000_0000_0000 + (i << 34)).collect();
    assert_refused(apply(&mut host, &Command::PutOir(many_cells.clone())), "more than 20000");
    let mut long_ovn = valid.clone();
    long_ovn.requested_ovn = Some(format!("{}_{}", id(1), "a".repeat(92)));
    assert_refused(apply(&mut host, &Command::PutOir(long_ovn)), "Requested OVN is too long: 129 bytes");

    let Command::PutConstraint(mut constraint) = proposed(
        Request::new("PUT", &constraint_path(&id(2)))
            .with_body(json!({"extents": [here()], "uss_base_url": "https://cm.example.com"}).to_string()),
    ) else {
        panic!()
    };
    constraint.uss_base_url = url(MAX_URL_BYTES + 1);
    assert_refused(apply(&mut host, &Command::PutConstraint(constraint.clone())), "too long");
    constraint.uss_base_url = url(MAX_URL_BYTES);
    constraint.extent.cells.clone_from(&many_cells.extent.cells);
    assert_refused(apply(&mut host, &Command::PutConstraint(constraint)), "more than 20000");

    let Command::PutSubscription(mut sub) =
        proposed(Request::new("PUT", &sub_path(&id(3))).with_body(subscription(here(), true, false).to_string()))
    else {
        panic!()
    };
    sub.uss_base_url = url(MAX_URL_BYTES + 1);
    assert_refused(apply(&mut host, &Command::PutSubscription(sub.clone())), "too long");
    sub.uss_base_url = url(MAX_URL_BYTES);
    sub.volume.cells.clone_from(&many_cells.extent.cells);
    assert_refused(apply(&mut host, &Command::PutSubscription(sub)), "more than 20000");
    assert!(host.store.is_empty());

    // At the bounds, accepted.
    let mut at_bounds = valid;
    at_bounds.uss_base_url = url(MAX_URL_BYTES);
    at_bounds.new_subscription.as_mut().unwrap().uss_base_url = url(MAX_URL_BYTES);
    assert!(matches!(apply(&mut host, &Command::PutOir(at_bounds)), Ok(Output::OirChanged { created: true, .. })));
}

#[test]
fn query_refuses_too_many_cells() {
    let mut host = host();
    let area = json!({"area_of_interest": here()}).to_string();
    let read = |path: &str| {
        let request = Request::new("POST", path).with_body(area.clone()).with_caller("uss1", &[SC, CP, CM]);
        match Scd::handle(request.with_time(Timestamp(T0 as u64))) {
            Handled::Read(query) => query,
            _ => panic!("not a read"),
        }
    };
    for kind in ["operational_intent_references", "constraint_references", "subscriptions"] {
        let query = read(&format!("/dss/v1/{kind}/query"));
        assert!(host.query::<Scd>(Encoding::Postcard, &query).is_ok());
        let mut big = query;
        let (Query::QueryOirs { area } | Query::QueryConstraints { area } | Query::QuerySubscriptions { area }) =
            &mut big
        else {
            panic!()
        };
        area.cells = (0..=MAX_CELLS as u64).map(|i| 0x1000_0000_0000_0000 + (i << 34)).collect();
        assert_refused(host.query::<Scd>(Encoding::Postcard, &big), "more than 20000");
        let wrapped = Query::TimeIndexed(Box::new(big));
        let refusal: Result<QueryOutput, _> = host.query::<Scd>(Encoding::Postcard, &wrapped);
        assert_refused(refusal, "more than 20000");
    }
}
