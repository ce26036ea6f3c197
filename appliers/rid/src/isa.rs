//! Identification service areas (dss-semantics §2.4, in docs/rid.md): create, update and
//! delete notify the live subscriptions in the cells they touch; get returns one even once
//! it has ended; search returns the live ones in an area.

use crate::api::{Api, Command, IsaView, Output, Put, Query, QueryOutput};
use crate::auth::Op;
use crate::json::{V1IsaParameters, V2Parameters};
use crate::notify;
use crate::request::{Reply, allowed, path_id, path_version, query_time, search_area, written};
use crate::store::{ISAS, IsaHead};
use crate::window::{self, Kind};
use crate::{extents, version};
use dss_common::entry::{now, subject};
use dss_common::errors::bad_request;
use dss_common::request::{body, check_base_url};
use dss_common::rfc3339::Nanos;
use wasmraft_sdk::http::{Handled, Request};
use wasmraft_sdk::{Ctx, Error, Id};

/// At most this many ISAs in a search's answer (the reference's `MaxResultLimit`).
pub const MAX_RESULTS: usize = 10_000;

pub fn handle_put(r: &Request, api: Api, id: &str, version: Option<&str>) -> Reply {
    allowed(r, api, Op::WriteIsa)?;
    let version = version.map(path_version).transpose()?;
    let (url, extent, field) = match api {
        Api::V1 => {
            let p: V1IsaParameters = body(r)?;
            (p.flights_url, p.extents.map(|e| extents::v1(&e)), "flights_url")
        }
        Api::V2 => {
            let p: V2Parameters = body(r)?;
            (p.uss_base_url, p.extents.map(|e| extents::v2(&e)), "uss_base_url")
        }
    };
    if url.is_empty() {
        return Err(bad_request(format!("Missing required {field}")));
    }
    let extent = written(extent)?;
    let id = path_id(id)?;
    // As the reference: only a create checks the URL's scheme.
    if version.is_none() {
        check_base_url(r, &url, "rid url").map_err(bad_request)?;
    }
    Ok(Handled::Propose(Command::PutIsa(Put { api, id, version, url, extent })))
}

pub fn handle_delete(r: &Request, api: Api, id: &str, version: &str) -> Reply {
    allowed(r, api, Op::WriteIsa)?;
    let version = path_version(version)?;
    Ok(Handled::Propose(Command::DeleteIsa { api, id: path_id(id)?, version }))
}

pub fn handle_get(r: &Request, api: Api, id: &str) -> Reply {
    allowed(r, api, Op::GetIsa)?;
    Ok(Handled::Read(Query::GetIsa { api, id: path_id(id)? }))
}

pub fn handle_search(r: &Request, api: Api) -> Reply {
    allowed(r, api, Op::SearchIsas)?;
    let cells = search_area(r)?;
    let earliest = query_time(r, "earliest_time")?;
    let latest = query_time(r, "latest_time")?;
    Ok(Handled::Read(Query::SearchIsas { api, cells, earliest, latest }))
}

pub fn view(id: Id, head: IsaHead) -> IsaView {
    IsaView { id, owner: head.owner, url: head.url, start: head.start, end: head.end, version: head.version }
}

pub fn put(ctx: &mut Ctx, put: Put) -> Result<Output, Error> {
    let (owner, now) = (subject(ctx)?, now(ctx));
    let old = ISAS.get(ctx, put.id)?;
    match (&put.version, &old) {
        (None, Some(_)) => return Err(Error::conflict(format!("ISA {} already exists", put.id))),
        (Some(_), None) => return Err(Error::bad_request(format!("ISA {} not found", put.id))),
        (Some(version), Some(old)) => {
            if old.owner != owner {
                return Err(Error::permission_denied(format!("ISA is owned by {}, not {owner}", old.owner)));
            }
            if *version != old.version {
                return Err(Error::conflict(format!("Old version {version} does not match the ISA's {}", old.version)));
            }
        }
        (None, None) => {}
    }
    let (start, end) = window::adjust(Kind::Isa, now, &put.extent, old.as_ref().map(|o| (o.start, o.end)))?;
    // Subscriptions in the old cells hear of the move too.
    let touched = match old {
        Some(_) => dss_geo::union(&ISAS.cells(ctx, put.id)?, &put.extent.cells),
        None => put.extent.cells.clone(),
    };
    let head = IsaHead { owner, url: put.url, start, end, version: version::of_time(now) };
    ISAS.put(ctx, put.id, &head, &put.extent.cells)?;
    let subscribers = notify::subscribers(ctx, &touched, now)?;
    Ok(Output::IsaChanged { api: put.api, isa: view(put.id, head), subscribers })
}

pub fn delete(ctx: &mut Ctx, api: Api, id: Id, version: &str) -> Result<Output, Error> {
    let (caller, now) = (subject(ctx)?, now(ctx));
    let head = ISAS.get(ctx, id)?.ok_or_else(|| Error::not_found(format!("ISA {id} not found")))?;
    // The reference checks the version before the owner here.
    if head.version != version {
        return Err(Error::conflict(format!("Old version {version} does not match the ISA's {}", head.version)));
    }
    if head.owner != caller {
        return Err(Error::permission_denied(format!("ISA is owned by {}, not {caller}", head.owner)));
    }
    let cells = ISAS.cells(ctx, id)?;
    ISAS.delete(ctx, id)?;
    let subscribers = notify::subscribers(ctx, &cells, now)?;
    Ok(Output::IsaChanged { api, isa: view(id, head), subscribers })
}

pub fn get(ctx: &Ctx, api: Api, id: Id) -> Result<QueryOutput, Error> {
    let head = ISAS.get(ctx, id)?.ok_or_else(|| Error::not_found(format!("ISA {id} not found")))?;
    Ok(QueryOutput::Isa { api, isa: view(id, head) })
}

/// The ISAs in `cells` that end at or after `earliest` (at least `now`) and start by
/// `latest`, in id order.
pub fn live(ctx: &Ctx, cells: &[u64], earliest: Nanos, latest: Option<Nanos>) -> Result<Vec<IsaView>, Error> {
    let mut found = Vec::new();
    for id in ISAS.in_cells(ctx, cells)? {
        if found.len() == MAX_RESULTS {
            break;
        }
        let head = ISAS.indexed(ctx, id)?;
        if head.end >= earliest && latest.is_none_or(|latest| head.start <= latest) {
            found.push(view(id, head));
        }
    }
    Ok(found)
}

pub fn search(
    ctx: &Ctx,
    api: Api,
    cells: &[u64],
    earliest: Option<Nanos>,
    latest: Option<Nanos>,
) -> Result<QueryOutput, Error> {
    let now = now(ctx);
    let earliest = earliest.map_or(now, |e| e.max(now));
    Ok(QueryOutput::Isas { api, isas: live(ctx, cells, earliest, latest)? })
}
