//! The 20 routes and their scopes per version (a token of only the other version's scopes
//! gets 403 on every route), 401 without credentials, 404 and 405, the scopes checked again
//! without `handle`, and determinism.

use super::*;
use crate::{Command, Output, Query};
use wasmraft_sdk::contract::ApplierError;
use wasmraft_sdk::http::Handled;
use wasmraft_sdk::{Applier, Caller, Encoding, Id, Timestamp};

/// Every route of `v` on ISA and subscription `n`, with a body where it takes one.
fn routes(v: V, n: u32) -> Vec<(&'static str, String, Option<Value>)> {
    let (isa, sub) = (v.isa_path(&id(n)), v.sub_path(&id(n)));
    vec![
        ("GET", v.isa_search(&area(46.0, 7.0)), None),
        ("GET", isa.clone(), None),
        ("PUT", isa.clone(), Some(isa_body(v, 46.0, 7.0))),
        ("PUT", format!("{isa}/1"), Some(isa_body(v, 46.0, 7.0))),
        ("DELETE", format!("{isa}/1"), None),
        ("GET", v.sub_search(&area(46.0, 7.0)), None),
        ("GET", sub.clone(), None),
        ("PUT", sub.clone(), Some(sub_body(v, 46.0, 7.0))),
        ("PUT", format!("{sub}/1"), Some(sub_body(v, 46.0, 7.0))),
        ("DELETE", format!("{sub}/1"), None),
    ]
}

#[test]
fn every_route_refuses_the_other_versions_scopes_and_anonymous_callers() {
    let mut dss = Dss::new();
    let all_of = |v: V| match v {
        V::One => Who { sub: "uss", scopes: &[READ, WRITE] },
        V::Two => Who { sub: "uss", scopes: &[DISPLAY, SERVICE] },
    };
    for (v, other) in [(V::One, V::Two), (V::Two, V::One)] {
        for (method, path, body) in routes(v, 1) {
            let (status, reply) = dss.refused(all_of(other), method, &path, body.as_ref());
            assert_eq!(status, 403, "{method} {path}: {reply}");
            assert!(message(&reply).starts_with("Access token missing scopes"), "{reply}");
            let before = dss.host.store.clone();
            let (path, query) = path.split_once('?').unwrap_or((&path, ""));
            let mut anonymous = Request::new(method, path).with_query(query);
            if let Some(body) = &body {
                anonymous = anonymous.with_body(body.to_string());
            }
            assert_eq!(dss.serve(anonymous.clone()), (401, json!({"message": "Missing access token"})));
            let (status, reply) = dss.serve(anonymous.with_auth_error("token is expired"));
            assert_eq!((status, message(&reply)), (401, "token is expired"), "{method} {path}");
            assert!(dss.host.store == before);
        }
    }
}

#[test]
fn each_route_takes_the_scopes_the_reference_names() {
    let mut dss = Dss::new();
    // v1: searches, gets and subscription writes need R; ISA writes W; a subscription's get R or W.
    let v1: [&[&str]; 10] =
        [&[READ], &[READ], &[WRITE], &[WRITE], &[WRITE], &[READ], &[READ, WRITE], &[READ], &[READ], &[READ]];
    // v2: ISA searches and subscription writes need DP; ISA writes SP; gets DP or SP.
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
    for (v, accepted, scopes) in [(V::One, v1, [READ, WRITE]), (V::Two, v2, [DISPLAY, SERVICE])] {
        for ((method, path, body), accepted) in routes(v, 1).into_iter().zip(accepted) {
            for scope in scopes {
                let who = Who { sub: "probe", scopes: Box::leak(Box::new([scope])) };
                let (status, reply) = dss.call(who, method, &path, body.as_ref());
                assert_eq!(status == 403, !accepted.contains(&scope), "{method} {path} with {scope}: {status} {reply}");
            }
        }
    }
}

#[test]
fn unknown_paths_are_404_and_other_methods_405() {
    let mut dss = Dss::new();
    assert_eq!(dss.get(DP1, "/v1/dss/flights"), (404, json!({"message": "No such route"})));
    assert_eq!(dss.get(DP2, &format!("{}/a/b", V::Two.isa_path(&id(1)))).0, 404);
    assert_eq!(dss.get(DP2, "/rid/v3/dss/subscriptions").0, 404);
    for (method, path, allowed) in [
        ("POST", format!("{}/identification_service_areas", V::One.prefix()), "GET"),
        ("DELETE", V::Two.isa_path(&id(1)), "GET, PUT"),
        ("GET", format!("{}/1", V::Two.sub_path(&id(1))), "PUT, DELETE"),
    ] {
        let response = dss.host.serve::<Rid>(Request::new(method, &path).with_caller("uss", &[SERVICE]));
        assert_eq!((response.status, response.header("allow")), (405, Some(allowed)), "{method} {path}");
    }
    assert!(dss.host.store.is_empty());
}

/// What `handle` makes of `request` from sp2 with every RID scope.
fn handled(request: Request) -> Handled<Command, Query> {
    let every = [READ, WRITE, DISPLAY, SERVICE];
    Rid::handle(request.with_caller("sp2", &every).with_time(Timestamp(T0 as u64)))
}

fn apply(dss: &mut Dss, who: Option<Who>, command: &Command) -> Result<Output, ApplierError> {
    let caller =
        who.map(|w| Caller { subject: w.sub.into(), scopes: w.scopes.iter().map(|s| s.to_string()).collect() });
    dss.host.set_caller(caller);
    dss.host.apply::<Rid>(Encoding::Postcard, command)
}

/// The host's client API proposes and reads without `handle`: `apply` and `query` check
/// the scopes of the command's or query's route, in its version, and a refusal changes nothing.
#[test]
fn commands_and_queries_need_their_routes_scopes_without_handle() {
    let mut dss = Dss::new();
    let body = isa_body(V::Two, 46.0, 7.0).to_string();
    let Handled::Propose(put) = handled(Request::new("PUT", &V::Two.isa_path(&id(1))).with_body(body)) else {
        panic!("proposed")
    };
    for who in [None, Some(DP2), Some(SP1)] {
        let refusal = apply(&mut dss, who, &put).unwrap_err();
        assert_eq!(refusal.code, "permission-denied", "{who:?}");
        assert!(dss.host.store.is_empty());
    }
    assert!(matches!(apply(&mut dss, Some(SP2), &put), Ok(Output::IsaChanged { .. })));
    let Handled::Read(get) = handled(Request::new("GET", &V::One.isa_path(&id(1)))) else { panic!("read") };
    dss.host.set_caller(Some(Caller { subject: "dp".into(), scopes: vec![DISPLAY.into()] }));
    assert_eq!(dss.host.query::<Rid>(Encoding::Postcard, &get).unwrap_err().code, "permission-denied");
    dss.host.set_caller(Some(Caller { subject: "dp".into(), scopes: vec![READ.into()] }));
    assert!(dss.host.query::<Rid>(Encoding::Postcard, &get).is_ok());
    // Eviction is the leader's housekeeping: no caller needed.
    assert_eq!(apply(&mut dss, None, &Command::Evict), Ok(Output::Evicted { isas: 0, subscriptions: 0 }));
    let delete = Command::DeleteSubscription { api: crate::Api::V1, id: Id([0; 16]), version: "1".into() };
    assert_eq!(apply(&mut dss, Some(DP2), &delete).unwrap_err().code, "permission-denied");
}

#[test]
fn the_same_requests_make_the_same_state() {
    let run = || {
        let mut dss = Dss::new();
        dss.create_sub(V::One, 1, &sub_body(V::One, 46.0, 7.0));
        let created = dss.create_isa(V::Two, 2, &isa_body(V::Two, 46.0, 7.0));
        dss.set_time(minutes(1));
        let path = format!("{}/{}", V::Two.isa_path(&id(2)), str_of(&created["service_area"]["version"]));
        assert_eq!(dss.put(SP2, &path, &isa_body(V::Two, 46.001, 7.001)).0, 200);
        dss.host.store.clone()
    };
    assert_eq!(run(), run());
}
