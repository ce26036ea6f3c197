//! What the request side of every RID route shares: the reply type, path ids and versions,
//! and the search area of a query string (the rest is `dss_common::request`).

use crate::api::{Api, Command, Extent, Query};
use crate::auth::{Op, authorize, options};
use crate::extents::{self, ExtentError};
use crate::version;
use dss_common::errors::{bad_request, error};
use dss_common::request::entity_id;
use dss_common::rfc3339::{self, Nanos};
use wasmraft_sdk::Id;
use wasmraft_sdk::http::{Handled, Request, Response};

/// What a route decided: propose, read, or refuse now.
pub type Reply = Result<Handled<Command, Query>, Response>;

/// The caller may do `op` through `api`, else 401 or 403.
pub fn allowed(request: &Request, api: Api, op: Op) -> Result<(), Response> {
    authorize(request, options(api, op)).map(|_| ())
}

pub fn path_id(raw: &str) -> Result<Id, Response> {
    entity_id(raw).map_err(bad_request)
}

pub fn path_version(raw: &str) -> Result<String, Response> {
    version::check(raw).map(|()| raw.to_string()).map_err(bad_request)
}

/// A written extent: anything wrong with it is a 400, an area over the limit too.
pub fn written(extent: Option<Result<Extent, ExtentError>>) -> Result<Extent, Response> {
    extent
        .unwrap_or_else(|| Err(ExtentError::Invalid("Missing required extents".into())))
        .map_err(|e| bad_request(e.message()))
}

/// The covered `area=` of a search: 400 if missing or malformed, 413 if over the limit.
pub fn search_area(request: &Request) -> Result<Vec<u64>, Response> {
    let area = request.query_param("area").ok_or_else(|| bad_request("Missing area"))?;
    extents::area(&area).map_err(|e| match e {
        ExtentError::TooLarge(m) => error(413, &m),
        ExtentError::Invalid(m) => bad_request(m),
    })
}

/// An optional RFC 3339 time of the query string.
pub fn query_time(request: &Request, name: &str) -> Result<Option<Nanos>, Response> {
    request
        .query_param(name)
        .map(|t| rfc3339::parse(&t).map_err(|e| bad_request(format!("Unable to convert {name} to time: {e}"))))
        .transpose()
}
