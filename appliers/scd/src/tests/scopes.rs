//! Commands proposed and queries read without `handle` (as over the host's client API) need
//! the scopes of the route that would have made them: no caller is refused, a caller without
//! them too, and either refusal leaves the state as it was.

use super::*;
use crate::{Output, Query, QueryOutput};
use wasmraft_sdk::contract::ApplierError;
use wasmraft_sdk::http::Handled;
use wasmraft_sdk::{Applier, Caller, Timestamp};

const POOL_READ: &str = "interuss.pool_status.read";
const HEARTBEAT_WRITE: &str = "interuss.pool_status.heartbeat.write";

/// What `handle` makes of `request` from a caller that holds every scope.
fn handled(request: Request) -> Handled<Command, Query> {
    let every = [SC, CP, CM, CMSA, AA, POOL_READ, HEARTBEAT_WRITE];
    Scd::handle(request.with_caller("uss1", &every).with_time(Timestamp(T0 as u64)))
}

fn proposed(request: Request) -> Command {
    match handled(request) {
        Handled::Propose(command) => command,
        Handled::Respond(r) => panic!("not proposed: {} {}", r.status, String::from_utf8_lossy(&r.body)),
        Handled::Read(_) => panic!("not proposed"),
    }
}

fn read(request: Request) -> Query {
    let Handled::Read(query) = handled(request) else { panic!("not a read") };
    query
}

fn host() -> TestHost {
    let mut host = TestHost::new();
    host.set_time(T0 as u64);
    host
}

fn as_caller(host: &mut TestHost, who: Option<Who>) {
    let caller =
        who.map(|w| Caller { subject: w.sub.into(), scopes: w.scopes.iter().map(|s| s.to_string()).collect() });
    host.set_caller(caller);
}

fn apply(host: &mut TestHost, who: Option<Who>, command: &Command) -> Result<Output, ApplierError> {
    as_caller(host, who);
    host.apply::<Scd>(Encoding::Postcard, command)
}

fn query(host: &mut TestHost, who: Option<Who>, query: &Query) -> Result<QueryOutput, ApplierError> {
    as_caller(host, who);
    host.query::<Scd>(Encoding::Postcard, query)
}

fn assert_missing_token(refusal: ApplierError) {
    assert_eq!((refusal.code.as_str(), refusal.message.as_str()), ("permission-denied", "Missing access token"));
}

fn assert_missing_scopes(refusal: ApplierError) {
    assert_eq!(refusal.code, "permission-denied");
    assert!(refusal.message.starts_with("Access token missing scopes"), "{}", refusal.message);
}

/// Refused without a caller and from `wrong`, the store untouched; applied from `right`.
fn applies_only_for(host: &mut TestHost, command: &Command, wrong: Who, right: Who) -> Output {
    let before = host.store.clone();
    assert_missing_token(apply(host, None, command).unwrap_err());
    assert!(host.store == before);
    assert_missing_scopes(apply(host, Some(wrong), command).unwrap_err());
    assert!(host.store == before);
    apply(host, Some(right), command).expect("applied with the route's scopes")
}

/// Refused without a caller and from `wrong`; answered for `right`.
fn answers_only_for(host: &mut TestHost, q: &Query, wrong: Who, right: Who) -> QueryOutput {
    assert_missing_token(query(host, None, q).unwrap_err());
    assert_missing_scopes(query(host, Some(wrong), q).unwrap_err());
    query(host, Some(right), q).expect("answered with the route's scopes")
}

/// Each `wrong` caller is the right subject (the manager), so only its scopes stop it.
fn uss1(scopes: &'static [&'static str]) -> Who {
    Who { sub: "uss1", scopes }
}

#[test]
fn oir_commands_need_the_oir_scopes() {
    let mut host = host();
    let put = proposed(Request::new("PUT", &oir_path(&id(1))).with_body(oir("Accepted", here(), &[]).to_string()));
    let Output::OirChanged { created: true, oir, .. } = applies_only_for(&mut host, &put, uss1(&[CP, CM]), uss1(&[SC]))
    else {
        panic!("not created")
    };
    let delete = proposed(Request::new("DELETE", &oir_path(&format!("{}/{}", id(1), oir.ovn))));
    let deleted = applies_only_for(&mut host, &delete, uss1(&[CP, CM]), uss1(&[CMSA]));
    assert!(matches!(deleted, Output::OirChanged { created: false, .. }));
    assert!(host.store.is_empty());
}

#[test]
fn off_nominal_puts_need_cmsa_without_handle_too() {
    let mut host = host();
    let create = proposed(Request::new("PUT", &oir_path(&id(1))).with_body(oir("Accepted", here(), &[]).to_string()));
    let Ok(Output::OirChanged { oir: created, .. }) = apply(&mut host, Some(USS1), &create) else {
        panic!("not created")
    };
    let body = with_new_sub(oir("Contingent", here(), &[]));
    let put =
        proposed(Request::new("PUT", &oir_path(&format!("{}/{}", id(1), created.ovn))).with_body(body.to_string()));
    let before = host.store.clone();
    let refusal = apply(&mut host, Some(USS1), &put).unwrap_err();
    assert_eq!(refusal.code, "permission-denied");
    assert!(refusal.message.starts_with("Missing `utm.conformance_monitoring_sa`"), "{}", refusal.message);
    assert!(host.store == before);
    let Ok(Output::OirChanged { oir, .. }) = apply(&mut host, Some(USS1_CMSA), &put) else { panic!("not put") };
    assert_eq!(oir.state, crate::OirState::Contingent);
}

#[test]
fn constraint_commands_need_constraint_management() {
    let mut host = host();
    let body = json!({"extents": [here()], "uss_base_url": "https://cm.example.com"});
    let put = proposed(Request::new("PUT", &constraint_path(&id(5))).with_body(body.to_string()));
    let Output::ConstraintChanged { created: true, constraint, .. } =
        applies_only_for(&mut host, &put, uss1(&[SC, CP]), uss1(&[CM]))
    else {
        panic!("not created")
    };
    let delete = proposed(Request::new("DELETE", &constraint_path(&format!("{}/{}", id(5), constraint.ovn))));
    applies_only_for(&mut host, &delete, uss1(&[SC, CP]), uss1(&[CM]));
    assert!(host.store.is_empty());
}

#[test]
fn subscription_commands_need_a_subscription_scope() {
    let mut host = host();
    let body = subscription(volume(46.0, 7.0, 0, minutes(120)), true, true);
    let put = proposed(Request::new("PUT", &sub_path(&id(7))).with_body(body.to_string()));
    let Output::SubscriptionPut { subscription, .. } = applies_only_for(&mut host, &put, uss1(&[CM]), uss1(&[CP]))
    else {
        panic!("not put")
    };
    let delete = proposed(Request::new("DELETE", &sub_path(&format!("{}/{}", id(7), subscription.version))));
    applies_only_for(&mut host, &delete, uss1(&[CM, CMSA]), uss1(&[SC]));
    assert!(host.store.is_empty());
}

#[test]
fn availability_needs_arbitration_without_handle_too() {
    let mut host = host();
    let get = Query::GetAvailability { uss: "uss1".into() };
    let availability = |host: &mut TestHost| match query(host, Some(ARBITER), &get) {
        Ok(QueryOutput::Availability(status)) => (status.availability, status.version),
        other => panic!("{other:?}"),
    };
    let set = proposed(Request::new("PUT", "/dss/v1/uss_availability/uss1").with_body(r#"{"availability": "Down"}"#));
    assert_missing_token(apply(&mut host, None, &set).unwrap_err());
    assert_eq!(availability(&mut host), (crate::Availability::Unknown, String::new()));
    // The message of the route's 403.
    let refusal = apply(&mut host, Some(USS1), &set).unwrap_err();
    assert_eq!(
        refusal.message,
        "Access token missing scopes (AuthOption[0]: utm.availability_arbitration) while expecting \
         [Authority: (utm.availability_arbitration)] and got utm.strategic_coordination, \
         utm.constraint_processing, utm.constraint_management"
    );
    assert_eq!(availability(&mut host).0, crate::Availability::Unknown);
    let Output::Availability(set) = applies_only_for(&mut host, &set, USS1, ARBITER) else { panic!("not set") };
    assert_eq!(availability(&mut host), (crate::Availability::Down, set.version));
}

#[test]
fn heartbeats_need_the_heartbeat_scope() {
    let mut host = host();
    let beat = proposed(
        Request::new("PUT", "/aux/v1/pool/dss_instances/heartbeat")
            .with_query("source=startup")
            .with_setting("locality", "dss-a"),
    );
    let ops = |scopes| Who { sub: "ops", scopes };
    let Output::HeartbeatRecorded(instances) =
        applies_only_for(&mut host, &beat, ops(&[POOL_READ]), ops(&[HEARTBEAT_WRITE]))
    else {
        panic!("not recorded")
    };
    assert_eq!(instances.len(), 1);
}

#[test]
fn queries_need_their_routes_scopes() {
    let mut host = host();
    let make = |host: &mut TestHost, who: Who, request: Request| apply(host, Some(who), &proposed(request)).unwrap();
    make(&mut host, USS1, Request::new("PUT", &oir_path(&id(1))).with_body(oir("Accepted", here(), &[]).to_string()));
    let constraint = json!({"extents": [here()], "uss_base_url": "https://cm.example.com"});
    make(&mut host, USS1, Request::new("PUT", &constraint_path(&id(5))).with_body(constraint.to_string()));
    let sub = subscription(volume(46.0, 7.0, 0, minutes(120)), true, true);
    make(&mut host, USS1, Request::new("PUT", &sub_path(&id(7))).with_body(sub.to_string()));
    let beat = Request::new("PUT", "/aux/v1/pool/dss_instances/heartbeat").with_query("source=startup");
    make(&mut host, Who { sub: "ops", scopes: &[HEARTBEAT_WRITE] }, beat);

    let area = json!({"area_of_interest": here()}).to_string();
    let get_oir = read(Request::new("GET", &oir_path(&id(1))));
    let QueryOutput::Oir(_) = answers_only_for(&mut host, &get_oir, uss1(&[CP, CM, AA]), uss1(&[SC])) else { panic!() };
    let query_oirs = read(Request::new("POST", "/dss/v1/operational_intent_references/query").with_body(area.clone()));
    let QueryOutput::Oirs(oirs) = answers_only_for(&mut host, &query_oirs, uss1(&[CP, CM]), uss1(&[CMSA])) else {
        panic!()
    };
    assert_eq!(oirs.len(), 1);

    let get_constraint = read(Request::new("GET", &constraint_path(&id(5))));
    let QueryOutput::Constraint(_) = answers_only_for(&mut host, &get_constraint, uss1(&[SC, CMSA]), uss1(&[CP]))
    else {
        panic!()
    };
    let query_constraints = read(Request::new("POST", "/dss/v1/constraint_references/query").with_body(area.clone()));
    let QueryOutput::Constraints(constraints) =
        answers_only_for(&mut host, &query_constraints, uss1(&[SC, AA]), uss1(&[CM]))
    else {
        panic!()
    };
    assert_eq!(constraints.len(), 1);

    let get_sub = read(Request::new("GET", &sub_path(&id(7))));
    let QueryOutput::Subscription(_) = answers_only_for(&mut host, &get_sub, uss1(&[CM, CMSA]), uss1(&[CP])) else {
        panic!()
    };
    let query_subs = read(Request::new("POST", "/dss/v1/subscriptions/query").with_body(area));
    let QueryOutput::Subscriptions(subs) = answers_only_for(&mut host, &query_subs, uss1(&[CM]), uss1(&[SC])) else {
        panic!()
    };
    assert_eq!(subs.len(), 1);

    let get_availability = read(Request::new("GET", "/dss/v1/uss_availability/uss2"));
    let QueryOutput::Availability(_) = answers_only_for(&mut host, &get_availability, uss1(&[CP, CM]), uss1(&[CMSA]))
    else {
        panic!()
    };
    let instances = read(Request::new("GET", "/aux/v1/pool/dss_instances"));
    let ops = |scopes| Who { sub: "ops", scopes };
    let QueryOutput::DssInstances(instances) =
        answers_only_for(&mut host, &instances, ops(&[HEARTBEAT_WRITE]), ops(&[POOL_READ]))
    else {
        panic!()
    };
    assert_eq!(instances.len(), 1);
}

#[test]
fn eviction_needs_no_caller() {
    let mut host = host();
    let put = proposed(Request::new("PUT", &oir_path(&id(1))).with_body(oir("Accepted", here(), &[]).to_string()));
    apply(&mut host, Some(USS1), &put).unwrap();
    host.set_time((T0 + minutes(70) + TTL) as u64);
    let evicted = apply(&mut host, None, &Command::Evict).unwrap();
    assert_eq!(evicted, Output::Evicted { oirs: 1, constraints: 0, subscriptions: 0 });
    assert!(host.store.is_empty());
}
