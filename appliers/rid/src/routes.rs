//! Routing of the 10 routes of each version (docs/rid.md §2), as the reference's generated
//! routers match: `[^/]*` path parameters (an empty one is matched, and refused by its
//! handler). A path the API does not have is a 404; a path it has with another method is a
//! 405 naming the allowed methods (the reference answers 404).

use crate::api::Api;
use crate::request::Reply;
use crate::{isa, subscription};
use dss_common::errors::error;
use dss_common::request::{not_allowed, segments};
use wasmraft_sdk::http::{Handled, Request};

pub fn handle(request: Request) -> Handled<crate::Command, crate::Query> {
    route(&request).unwrap_or_else(Handled::Respond)
}

fn route(r: &Request) -> Reply {
    let segments = segments(&r.path);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    match path.as_slice() {
        ["v1", "dss", rest @ ..] => dss(r, Api::V1, rest),
        ["rid", "v2", "dss", rest @ ..] => dss(r, Api::V2, rest),
        _ => Err(error(404, "No such route")),
    }
}

/// The routes under a version's `/dss`.
fn dss(r: &Request, api: Api, path: &[&str]) -> Reply {
    match (path, r.method.as_str()) {
        (["identification_service_areas"], "GET") => isa::handle_search(r, api),
        (["identification_service_areas", id], "GET") => isa::handle_get(r, api, id),
        (["identification_service_areas", id], "PUT") => isa::handle_put(r, api, id, None),
        (["identification_service_areas", id, version], "PUT") => isa::handle_put(r, api, id, Some(version)),
        (["identification_service_areas", id, version], "DELETE") => isa::handle_delete(r, api, id, version),
        (["subscriptions"], "GET") => subscription::handle_search(r, api),
        (["subscriptions", id], "GET") => subscription::handle_get(r, api, id),
        (["subscriptions", id], "PUT") => subscription::handle_put(r, api, id, None),
        (["subscriptions", id, version], "PUT") => subscription::handle_put(r, api, id, Some(version)),
        (["subscriptions", id, version], "DELETE") => subscription::handle_delete(r, api, id, version),
        (["identification_service_areas" | "subscriptions"], _) => Err(not_allowed("GET")),
        (["identification_service_areas" | "subscriptions", _], _) => Err(not_allowed("GET, PUT")),
        (["identification_service_areas" | "subscriptions", _, _], _) => Err(not_allowed("PUT, DELETE")),
        _ => Err(error(404, "No such route")),
    }
}
