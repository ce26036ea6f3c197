//! Constraint references (dss-semantics §1.8).

use crate::api::{Command, ConstraintRef, Output, PutConstraint, Query, QueryOutput, Volume};
use crate::auth;
use crate::entry::{manager, now};
use crate::json::PutConstraintReferenceParameters;
use crate::notify::{self, Indices, Topic};
use crate::ovn::{self, NO_OVN_PHRASE};
use crate::render::error;
use crate::request::{Reply, area_of_interest, bad_request, body, check_base_url, entity_id, received_at};
use crate::search;
use crate::store::{CONSTRAINTS, ConstraintRecord};
use crate::volume::{self, Required, VolumeError};
use wasmraft_sdk::http::{Handled, Request};
use wasmraft_sdk::{Ctx, Error, Id};

// ---- Requests ----

pub fn handle_put(request: &Request, id: &str, ovn: Option<&str>) -> Reply {
    auth::authorize(request, auth::CONSTRAINT_WRITE)?;
    let params: PutConstraintReferenceParameters = body(request)?;
    let put = validate_put(request, id, ovn, params).map_err(bad_request)?;
    Ok(Handled::Propose(Command::PutConstraint(put)))
}

/// The reference's `validateAndReturnConstraintUpsertParams` (altitudes are optional).
fn validate_put(
    request: &Request,
    id: &str,
    ovn: Option<&str>,
    params: PutConstraintReferenceParameters,
) -> Result<PutConstraint, String> {
    let id = entity_id(id)?;
    if params.uss_base_url.is_empty() {
        return Err("Missing required UssBaseUrl".into());
    }
    check_base_url(request, &params.uss_base_url)?;
    let now = received_at(request);
    let extent = volume::union(&params.extents, Required { altitudes: false, end_after: now })
        .map_err(|e| e.message().to_string())?;
    Ok(PutConstraint { id, ovn: ovn.map(str::to_string), uss_base_url: params.uss_base_url, extent })
}

pub fn handle_get(request: &Request, id: &str) -> Reply {
    auth::authorize(request, auth::CONSTRAINT_READ)?;
    Ok(Handled::Read(Query::GetConstraint { id: entity_id(id).map_err(bad_request)? }))
}

pub fn handle_delete(request: &Request, id: &str, ovn: &str) -> Reply {
    auth::authorize(request, auth::CONSTRAINT_WRITE)?;
    let id = entity_id(id).map_err(bad_request)?;
    if ovn.is_empty() {
        return Err(bad_request("Missing OVN for constraint to modify"));
    }
    Ok(Handled::Propose(Command::DeleteConstraint { id, ovn: ovn.to_string() }))
}

pub fn handle_query(request: &Request) -> Reply {
    auth::authorize(request, auth::CONSTRAINT_READ)?;
    // A reference quirk kept: its constraint search fails on the area's geometry (missing,
    // invalid or too large) with a 500, while a malformed volume is a 400.
    let area = area_of_interest(request, |e| match e {
        VolumeError::Invalid(m) => bad_request(m),
        e => error(500, e.message()),
    })?;
    Ok(Handled::Read(Query::QueryConstraints { area }))
}

// ---- Entries ----

pub fn view(id: Id, c: &ConstraintRecord, caller: &str) -> ConstraintRef {
    ConstraintRef {
        id,
        manager: c.manager.clone(),
        version: c.version,
        ovn: if c.manager == caller { c.ovn.clone() } else { NO_OVN_PHRASE.to_string() },
        start: c.start,
        end: c.end,
        uss_base_url: c.uss_base_url.clone(),
    }
}

/// The constraints in `area` as `caller` sees them.
pub fn refs(ctx: &Ctx, area: &Volume, caller: &str) -> Result<Vec<ConstraintRef>, Error> {
    Ok(search::constraints(ctx, area)?.iter().map(|(id, c)| view(*id, c, caller)).collect())
}

/// The volume a constraint occupied (for notifications).
fn occupied(ctx: &Ctx, id: Id, c: &ConstraintRecord) -> Result<Volume, Error> {
    Ok(Volume {
        start: Some(c.start),
        end: Some(c.end),
        alt_lo: c.alt_lo,
        alt_hi: c.alt_hi,
        cells: CONSTRAINTS.cells(ctx, id)?,
    })
}

pub fn put(ctx: &mut Ctx, put: PutConstraint, indices: Indices) -> Result<Output, Error> {
    let manager = manager(ctx)?;
    let old = CONSTRAINTS.get(ctx, put.id)?;
    let path_ovn = put.ovn.as_deref().unwrap_or("");
    match &old {
        // Unlike an OIR's, a constraint's update of nothing is a 409.
        None if !path_ovn.is_empty() => {
            return Err(Error::conflict(format!("Old version {path_ovn} does not exist")));
        }
        Some(old) if old.manager != manager => {
            return Err(Error::permission_denied(format!(
                "Constraint owned by {}, but {manager} attempted to modify",
                old.manager
            )));
        }
        Some(old) if old.ovn != path_ovn => {
            return Err(Error::conflict(format!(
                "Current version is {} but client specified version {path_ovn}",
                old.ovn
            )));
        }
        _ => {}
    }
    let mut volume = put.extent.volume();
    if let Some(old) = &old {
        volume = volume.widened(old.start, old.end, &CONSTRAINTS.cells(ctx, put.id)?);
    }
    let record = ConstraintRecord {
        manager,
        version: old.as_ref().map_or(1, |o| o.version.saturating_add(1)),
        ovn: ovn::from_time(now(ctx), &put.id.to_string()),
        start: put.extent.start,
        end: put.extent.end,
        alt_lo: put.extent.alt_lo,
        alt_hi: put.extent.alt_hi,
        uss_base_url: put.uss_base_url,
    };
    CONSTRAINTS.put(ctx, put.id, &record, &put.extent.cells, ())?;
    let notified = notify::notified(ctx, volume, Topic::Constraints, indices)?;
    let constraint = view(put.id, &record, &record.manager);
    Ok(Output::constraint_changed(put.ovn.is_none(), constraint, notified))
}

pub fn delete(ctx: &mut Ctx, id: Id, ovn: &str, indices: Indices) -> Result<Output, Error> {
    let manager = manager(ctx)?;
    let old = CONSTRAINTS.get(ctx, id)?.ok_or_else(|| Error::not_found(format!("Constraint {id} not found")))?;
    if old.manager != manager {
        return Err(Error::permission_denied(format!(
            "Constraint owned by {}, but {manager} attempted to delete",
            old.manager
        )));
    }
    if old.ovn != ovn {
        return Err(Error::conflict(format!("Current version is {} but client specified version {ovn}", old.ovn)));
    }
    let volume = occupied(ctx, id, &old)?;
    CONSTRAINTS.delete(ctx, id)?;
    let notified = notify::notified(ctx, volume, Topic::Constraints, indices)?;
    Ok(Output::constraint_changed(false, view(id, &old, &manager), notified))
}

pub fn get(ctx: &Ctx, id: Id) -> Result<QueryOutput, Error> {
    let caller = manager(ctx)?;
    let c = CONSTRAINTS.get(ctx, id)?.ok_or_else(|| Error::not_found(format!("Constraint {id} not found")))?;
    Ok(QueryOutput::Constraint(view(id, &c, &caller)))
}

pub fn query(ctx: &Ctx, area: &Volume) -> Result<QueryOutput, Error> {
    Ok(QueryOutput::Constraints(refs(ctx, area, &manager(ctx)?)?))
}
