//! Routing, as the reference's generated routers match: `[^/]*` path parameters (so an
//! empty one is matched, and refused by its handler), declaration order (so `GET …/query`
//! is a get of the id "query"). A path the API does not have is a 404; a path it has with
//! another method is a 405 naming the allowed methods (the reference answers 404).

use crate::render::error;
use crate::request::Reply;
use crate::{Command, Query};
use crate::{auxiliary, availability, constraint, oir, report, subscription};
use dss_common::request::{self, segments};
use wasmraft_sdk::http::{Handled, Request, Response};

pub fn handle(request: Request) -> Handled<crate::Command, crate::Query> {
    let handled = route(&request).unwrap_or_else(Handled::Respond);
    match (handled, crate::notify::time_based(&request)) {
        (Handled::Propose(command), true) => Handled::Propose(Command::TimeIndexed(Box::new(command))),
        (Handled::Read(query), true) => Handled::Read(Query::TimeIndexed(Box::new(query))),
        (handled, _) => handled,
    }
}

fn not_allowed(allowed: &str) -> Reply {
    Err(request::not_allowed(allowed))
}

fn route(request: &Request) -> Reply {
    let segments = segments(&request.path);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    let r = request;
    match (path.as_slice(), request.method.as_str()) {
        (["dss", "v1", rest @ ..], method) => scd(r, rest, method),
        (["aux", "v1", rest @ ..], method) => aux(r, rest, method),
        (["versions", identity], "GET") => auxiliary::system_version(identity),
        (["versions", _], _) => not_allowed("GET"),
        _ => Err(not_found()),
    }
}

fn not_found() -> Response {
    error(404, "No such route")
}

fn scd(r: &Request, path: &[&str], method: &str) -> Reply {
    match (path, method) {
        (["operational_intent_references", "query"], "POST") => oir::handle_query(r),
        (["operational_intent_references", id], "GET") => oir::handle_get(r, id),
        (["operational_intent_references", id], "PUT") => oir::handle_put(r, id, None),
        (["operational_intent_references", id, ovn], "PUT") => oir::handle_put(r, id, Some(ovn)),
        (["operational_intent_references", id, ovn], "DELETE") => oir::handle_delete(r, id, ovn),
        (["constraint_references", "query"], "POST") => constraint::handle_query(r),
        (["constraint_references", id], "GET") => constraint::handle_get(r, id),
        (["constraint_references", id], "PUT") => constraint::handle_put(r, id, None),
        (["constraint_references", id, ovn], "PUT") => constraint::handle_put(r, id, Some(ovn)),
        (["constraint_references", id, ovn], "DELETE") => constraint::handle_delete(r, id, ovn),
        (["subscriptions", "query"], "POST") => subscription::handle_query(r),
        (["subscriptions", id], "GET") => subscription::handle_get(r, id),
        (["subscriptions", id], "PUT") => subscription::handle_put(r, id, None),
        (["subscriptions", id, version], "PUT") => subscription::handle_put(r, id, Some(version)),
        (["subscriptions", id, version], "DELETE") => subscription::handle_delete(r, id, version),
        (["reports"], "POST") => report::make(r),
        (["uss_availability", uss], "GET") => availability::handle_get(r, uss),
        (["uss_availability", uss], "PUT") => availability::handle_set(r, uss),
        (["operational_intent_references" | "constraint_references" | "subscriptions", id], _) => {
            not_allowed(if *id == "query" { "GET, POST, PUT" } else { "GET, PUT" })
        }
        (["operational_intent_references" | "constraint_references" | "subscriptions", _, _], _) => {
            not_allowed("PUT, DELETE")
        }
        (["reports"], _) => not_allowed("POST"),
        (["uss_availability", _], _) => not_allowed("GET, PUT"),
        _ => Err(not_found()),
    }
}

fn aux(r: &Request, path: &[&str], method: &str) -> Reply {
    match (path, method) {
        (["version"], "GET") => auxiliary::version(),
        (["validate_oauth"], "GET") => auxiliary::validate_oauth(r),
        (["pool"], "GET") => auxiliary::pool(r),
        (["pool", "dss_instances"], "GET") => auxiliary::handle_instances(r),
        (["pool", "dss_instances", "heartbeat"], "PUT") => auxiliary::handle_heartbeat(r),
        (["configuration", "accepted_ca_certs" | "ca_certs"], "GET") => auxiliary::ca_certs(),
        (["configuration", "global_options"], "GET") => auxiliary::global_options(r),
        (["version" | "validate_oauth" | "pool"], _)
        | (["pool", "dss_instances"], _)
        | (["configuration", "accepted_ca_certs" | "ca_certs" | "global_options"], _) => not_allowed("GET"),
        (["pool", "dss_instances", "heartbeat"], _) => not_allowed("PUT"),
        _ => Err(not_found()),
    }
}
