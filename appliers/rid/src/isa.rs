//! Identification service areas (docs/rid.md §5): a create, update or delete notifies the
//! live subscriptions in the cells it touches; a get returns an ISA even once it has ended;
//! a search returns the live ones in an area.

use crate::api::{Api, Command, Isa, Output, Put, Query, QueryOutput};
use crate::auth::Op;
use crate::request::{Kind, Reply, allowed, path_id, path_version, search_area, search_time};
use crate::store::ISAS;
use crate::{notify, request, version, window};
use dss_common::entry::{now, subject};
use dss_common::rfc3339::Nanos;
use wasmraft_sdk::http::{Handled, Request};
use wasmraft_sdk::{Ctx, Error, Id};

/// The most ISAs a search returns (the reference's `MaxResultLimit`).
pub const MAX_RESULTS: usize = 10_000;

// ---- Requests ----

pub fn handle_put(r: &Request, api: Api, id: &str, version: Option<&str>) -> Reply {
    allowed(r, api, Op::WriteIsa)?;
    Ok(Handled::Propose(Command::PutIsa(request::put(r, api, Kind::Isa, id, version)?)))
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
    let earliest = search_time(r, "earliest")?;
    let latest = search_time(r, "latest")?;
    Ok(Handled::Read(Query::SearchIsas { api, cells, earliest, latest }))
}

// ---- Entries ----

fn not_found(id: Id) -> String {
    format!("ISA {id} not found")
}

fn version_mismatch(isa: &Isa, version: &str) -> Error {
    Error::conflict(format!("ISA currently at version {} but client specified {version}", isa.version))
}

/// The ISA an update names, if `owner` may replace it at `version` (missing is a 400 on
/// an update, then the owner, then the version).
fn replaced(ctx: &Ctx, id: Id, version: &str, owner: &str) -> Result<Isa, Error> {
    let old = ISAS.get(ctx, id)?.ok_or_else(|| Error::bad_request(not_found(id)))?;
    if old.owner != owner {
        return Err(Error::permission_denied(format!("ISA owned by {}, but {owner} attempted to modify", old.owner)));
    }
    if old.version != version {
        return Err(version_mismatch(&old, version));
    }
    Ok(old)
}

pub fn put(ctx: &mut Ctx, put: Put) -> Result<Output, Error> {
    let (owner, now) = (subject(ctx)?, now(ctx));
    let old = put.version.as_deref().map(|version| replaced(ctx, put.id, version, &owner)).transpose()?;
    let (start, end) = window::isa(now, &put.extent, old.as_ref().map(|o| (o.start, o.end)))?;
    // A create's time rules come first, then whether its id is taken.
    let touched = match old {
        Some(_) => dss_geo::union(&ISAS.cells(ctx, put.id)?, &put.extent.cells),
        None if ISAS.get(ctx, put.id)?.is_some() => {
            return Err(Error::conflict(format!("ISA {} already exists", put.id)));
        }
        None => put.extent.cells.clone(),
    };
    let isa = Isa { owner, url: put.url, start, end, version: version::of_time(now) };
    ISAS.put(ctx, put.id, &isa, &put.extent.cells)?;
    // An update tells the subscriptions of the cells it leaves as well as those it enters.
    let subscribers = notify::subscribers(ctx, &touched, now)?;
    Ok(Output::IsaChanged { api: put.api, id: put.id, isa, subscribers })
}

pub fn delete(ctx: &mut Ctx, api: Api, id: Id, version: &str) -> Result<Output, Error> {
    let (caller, now) = (subject(ctx)?, now(ctx));
    let isa = ISAS.get(ctx, id)?.ok_or_else(|| Error::not_found(not_found(id)))?;
    // Here the version comes before the owner.
    if isa.version != version {
        return Err(version_mismatch(&isa, version));
    }
    if isa.owner != caller {
        return Err(Error::permission_denied(format!("ISA owned by {}, but {caller} attempted to delete", isa.owner)));
    }
    let cells = ISAS.cells(ctx, id)?;
    ISAS.delete(ctx, id)?;
    let subscribers = notify::subscribers(ctx, &cells, now)?;
    Ok(Output::IsaChanged { api, id, isa, subscribers })
}

pub fn get(ctx: &Ctx, api: Api, id: Id) -> Result<QueryOutput, Error> {
    let isa = ISAS.get(ctx, id)?.ok_or_else(|| Error::not_found(not_found(id)))?;
    Ok(QueryOutput::Isa { api, id, isa })
}

/// The ISAs in `cells` that end at or after `earliest` and start by `latest`, in id order.
pub fn in_cells(ctx: &Ctx, cells: &[u64], earliest: Nanos, latest: Option<Nanos>) -> Result<Vec<(Id, Isa)>, Error> {
    let mut found = Vec::new();
    for id in ISAS.ending_from(ctx, cells, earliest)? {
        if found.len() == MAX_RESULTS {
            break;
        }
        let isa = ISAS.indexed(ctx, id)?;
        if latest.is_none_or(|latest| isa.start <= latest) {
            found.push((id, isa));
        }
    }
    Ok(found)
}

/// An earliest time before the read's is the read's: a search never returns ended ISAs.
pub fn search(
    ctx: &Ctx,
    api: Api,
    cells: &[u64],
    earliest: Option<Nanos>,
    latest: Option<Nanos>,
) -> Result<QueryOutput, Error> {
    let now = now(ctx);
    let earliest = earliest.map_or(now, |e| e.max(now));
    Ok(QueryOutput::Isas { api, isas: in_cells(ctx, cells, earliest, latest)? })
}
