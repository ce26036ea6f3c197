//! What the request side of every RID route shares: the reply type, the caller's scopes,
//! path ids and versions, the body of a write, and a search's area and times. Every check
//! runs in the reference's order with its message (docs/rid.md §4 to §6).

use crate::api::{Api, Command, Put, Query};
use crate::auth::{self, Op};
use crate::extents::{self, AreaError, Parsed};
use crate::json::{V1IsaParameters, V1SubscriptionParameters, V1Volume4D, V2Parameters};
use crate::version;
use dss_common::errors::{bad_request, error};
use dss_common::request::{body, check_base_url, check_url_length, entity_id};
use dss_common::rfc3339::{self, Nanos};
use wasmraft_sdk::Id;
use wasmraft_sdk::http::{Request, Response};

pub type Reply = dss_common::request::Reply<Command, Query>;

/// What a route writes or reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Isa,
    Subscription,
}

/// The caller may do `op` through `api`, else 401 or 403.
pub fn allowed(request: &Request, api: Api, op: Op) -> Result<(), Response> {
    auth::authorize(request, auth::options(api, op)).map(|_| ())
}

pub fn path_id(raw: &str) -> Result<Id, Response> {
    entity_id(raw).map_err(bad_request)
}

pub fn path_version(raw: &str) -> Result<String, Response> {
    version::check(raw).map(|()| raw.to_string()).map_err(bad_request)
}

/// The write a PUT asks for: its version (an update's), its body's URL and extent, its
/// id, the URL's scheme (a create's only: the reference's updates never check it), the URL's
/// length (ours, every write's: docs/dss-limits.md) and the extent's covering. A
/// subscription's update reads its id before its body.
pub fn put(r: &Request, api: Api, kind: Kind, id: &str, version: Option<&str>) -> Result<Put, Response> {
    let version = version.map(path_version).transpose()?;
    let early_id = (kind == Kind::Subscription && version.is_some()).then(|| path_id(id)).transpose()?;
    let (url, parsed) = match api {
        Api::V1 => v1_body(r, kind, version.is_none())?,
        Api::V2 => v2_body(r)?,
    };
    let id = match early_id {
        Some(id) => id,
        None => path_id(id)?,
    };
    if version.is_none() {
        check_base_url(r, &url, "rid url").map_err(bad_request)?;
    }
    check_url_length(&url, "rid url").map_err(bad_request)?;
    let extent = parsed.cover().map_err(bad_request)?;
    Ok(Put { api, id, version, url, extent })
}

/// A v1 body: the URL (`flights_url` of an ISA, `callbacks.identification_service_area_url`
/// of a subscription), then the footprint's presence, then the extent.
fn v1_body(r: &Request, kind: Kind, creating: bool) -> Result<(String, Parsed), Response> {
    let (url, extents): (String, V1Volume4D) = match kind {
        Kind::Isa => {
            let p: V1IsaParameters = body(r)?;
            if p.flights_url.is_empty() {
                return Err(bad_request("Missing required flightsURL"));
            }
            (p.flights_url, p.extents)
        }
        Kind::Subscription => {
            let p: V1SubscriptionParameters = body(r)?;
            let url =
                p.callbacks.identification_service_area_url.ok_or_else(|| bad_request("Missing required callbacks"))?;
            (url, p.extents)
        }
    };
    if extents.spatial_volume.footprint.vertices.is_empty() {
        // The reference words it so for an ISA's create only.
        let missing = if kind == Kind::Isa && creating {
            "Missing or malformed required extents"
        } else {
            "Missing required extents"
        };
        return Err(bad_request(missing));
    }
    Ok((url, extents::v1(&extents).map_err(bad_request)?))
}

/// A v2 body (ISAs and subscriptions alike): `uss_base_url`, then the extent.
fn v2_body(r: &Request) -> Result<(String, Parsed), Response> {
    let p: V2Parameters = body(r)?;
    if p.uss_base_url.is_empty() {
        return Err(bad_request("Missing required USS base URL"));
    }
    Ok((p.uss_base_url, extents::v2(&p.extents).map_err(bad_request)?))
}

/// The covered `area=` of a search: 400 if missing or malformed, 413 if over the limit.
pub fn search_area(request: &Request) -> Result<Vec<u64>, Response> {
    let area = request.query_param("area").ok_or_else(|| bad_request("Missing area"))?;
    extents::area(&area).map_err(|e| match e {
        AreaError::TooLarge(m) => error(413, &m),
        AreaError::Invalid(m) => bad_request(m),
    })
}

/// The search's `earliest_time` or `latest_time`, if given.
pub fn search_time(request: &Request, which: &str) -> Result<Option<Nanos>, Response> {
    let parse =
        |t: String| rfc3339::parse(&t).map_err(|e| bad_request(format!("Unable to convert {which} timestamp: {e}")));
    request.query_param(&format!("{which}_time")).map(parse).transpose()
}
