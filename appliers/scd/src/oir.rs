//! Operational intent references (dss-semantics §1.5, §1.6, §1.12): the four routes'
//! request checks, and the upsert with its subscription handling and key check.

use crate::api::{
    AirspaceConflict, Availability, Command, ConstraintRef, NewSubscription, OirRef, OirState, Output, PutOir, Query,
    QueryOutput, Volume,
};
use crate::auth::{self, CMSA};
use crate::constraint;
use crate::entry::{manager, now};
use crate::json::PutOperationalIntentReferenceParameters;
use crate::notify::{self, Indices, Topic};
use crate::ovn::{self, NO_OVN_PHRASE, OvnSet};
use crate::render::{MISSING_OVNS, error};
use crate::request::{Reply, area_of_interest, bad_request, body, check_base_url, entity_id, received_at};
use crate::rfc3339::Nanos;
use crate::search;
use crate::store::{Availabilities, OIRS, OirRecord, SUBSCRIPTIONS, SubscriptionRecord, dependents};
use crate::subscription;
use crate::volume::{self, Required};
use wasmraft_sdk::http::{Handled, Request};
use wasmraft_sdk::{Caller, Ctx, Error, Id};

// ---- Requests (on the node that took them) ----

pub fn handle_put(request: &Request, id: &str, ovn: Option<&str>) -> Reply {
    let caller = auth::authorize(request, auth::OIR_PUT)?;
    let params: PutOperationalIntentReferenceParameters = body(request)?;
    let put = validate_put(request, id, ovn, params).map_err(bad_request)?;
    check_off_nominal(Some(caller), put.state).map_err(|e| error(403, e.message()))?;
    Ok(Handled::Propose(Command::PutOir(put)))
}

/// Only a CMSA caller may declare an off-nominal state; checked in `handle` (after the body,
/// as the reference does) and again in `apply`, for puts proposed without `handle`.
fn check_off_nominal(caller: Option<&Caller>, state: OirState) -> Result<(), Error> {
    if state.is_off_nominal() && !caller.is_some_and(|c| c.has_scope(CMSA)) {
        return Err(Error::permission_denied(format!(
            "Missing `{CMSA}` Conformance Monitoring for Situational Awareness scope to transition to CMSA state: {} (see SCD0100)",
            state.as_str()
        )));
    }
    Ok(())
}

/// The reference's `validateAndReturnOIRUpsertParams`, in its order.
fn validate_put(
    request: &Request,
    id: &str,
    ovn: Option<&str>,
    params: PutOperationalIntentReferenceParameters,
) -> Result<PutOir, String> {
    let id = entity_id(id)?;
    if params.uss_base_url.is_empty() {
        return Err("Missing required UssBaseUrl".into());
    }
    // An empty subscription_id counts as none (`IDFromOptionalString`).
    let subscription_id = match params.subscription_id.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            Id::parse(s).filter(Id::is_v4).ok_or_else(|| format!("Invalid ID format for Subscription ID: `{s}`"))?,
        ),
    };
    let new_subscription = match params.new_subscription {
        None => None,
        Some(n) if n.uss_base_url.is_empty() => {
            return Err(
                "Missing required USS base url for new subscription (in parameters for implicit subscription)".into()
            );
        }
        Some(_) if params.subscription_id.is_some() => {
            return Err("Cannot provide both a Subscription ID and request an implicit subscription".into());
        }
        Some(n) => Some(NewSubscription {
            uss_base_url: n.uss_base_url,
            notify_for_constraints: n.notify_for_constraints.unwrap_or(false),
        }),
    };
    check_base_url(request, &params.uss_base_url)?;
    if let Some(n) = &new_subscription {
        check_base_url(request, &n.uss_base_url)?;
    }
    let state =
        OirState::parse(&params.state).ok_or_else(|| format!("Invalid OperationalIntent state: {}", params.state))?;
    let now = received_at(request);
    let extent = volume::union(&params.extents, Required { altitudes: true, end_after: now })
        .map_err(|e| e.message().to_string())?;
    if ovn.is_none_or(str::is_empty) && state != OirState::Accepted {
        return Err(format!("Invalid state for initial version: `{}`", params.state));
    }
    let requested_ovn =
        params.requested_ovn_suffix.map(|suffix| ovn::from_requested_suffix(now, id, &suffix)).transpose()?;
    if state != OirState::Accepted && subscription_id.is_none() && new_subscription.is_none() {
        return Err(format!(
            "Provided Operational Intent Reference state `{}` requires either a subscription ID or information to create an implicit subscription",
            params.state
        ));
    }
    let key = OvnSet::new(params.key.unwrap_or_default());
    Ok(PutOir {
        id,
        ovn: ovn.map(str::to_string),
        state,
        uss_base_url: params.uss_base_url,
        extent,
        key,
        subscription_id,
        new_subscription,
        requested_ovn,
    })
}

pub fn handle_get(request: &Request, id: &str) -> Reply {
    auth::authorize(request, auth::OIR)?;
    Ok(Handled::Read(Query::GetOir { id: entity_id(id).map_err(bad_request)? }))
}

pub fn handle_delete(request: &Request, id: &str, ovn: &str) -> Reply {
    auth::authorize(request, auth::OIR)?;
    let id = entity_id(id).map_err(bad_request)?;
    if ovn.is_empty() {
        return Err(bad_request("Missing OVN for operational intent to modify"));
    }
    Ok(Handled::Propose(Command::DeleteOir { id, ovn: ovn.to_string() }))
}

pub fn handle_query(request: &Request) -> Reply {
    auth::authorize(request, auth::OIR)?;
    // Every refusal of the area is a 400 here, a too large one included.
    let area = area_of_interest(request, |e| bad_request(e.message()))?;
    Ok(Handled::Read(Query::QueryOirs { area }))
}

// ---- Entries ----

/// The reference as a caller sees it: the OVN only to its manager.
pub fn view(id: Id, oir: &OirRecord, availability: Availability, caller: &str) -> OirRef {
    OirRef {
        id,
        manager: oir.manager.clone(),
        availability,
        version: oir.version,
        state: oir.state,
        ovn: if oir.manager == caller { oir.ovn.clone() } else { NO_OVN_PHRASE.to_string() },
        start: oir.start,
        end: oir.end,
        uss_base_url: oir.uss_base_url.clone(),
        subscription_id: oir.subscription_id,
    }
}

/// Whether `sub` is implicit and serves OIR `id` alone: then it goes when the OIR lets go of it.
fn implicit_and_only_for(ctx: &Ctx, sub: Id, record: &SubscriptionRecord, id: Id) -> Result<bool, Error> {
    if !record.implicit {
        return Ok(false);
    }
    match dependents(ctx, sub)?.as_slice() {
        [] => Err(Error::internal(format!("implicit subscription {sub} has no dependent operational intents"))),
        [only] => Ok(*only == id),
        _ => Ok(false),
    }
}

/// The reference's `validateUpsertRequestAgainstPreviousOIR`.
fn check_against_old(old: Option<&OirRecord>, manager: &str, path_ovn: &str) -> Result<(), Error> {
    match old {
        Some(old) if old.manager != manager => Err(Error::permission_denied(format!(
            "OperationalIntent owned by {}, but {manager} attempted to modify",
            old.manager
        ))),
        // Creating over an existing OIR lands here too (its path OVN is empty).
        Some(old) if old.ovn != path_ovn => {
            Err(Error::conflict(format!("Current version is {} but client specified version {path_ovn}", old.ovn)))
        }
        // Updating nothing: the reference's NotFound, a 400 on this path.
        None if !path_ovn.is_empty() => {
            Err(Error::bad_request(format!("OperationalIntent does not exist and therefore is not version {path_ovn}")))
        }
        _ => Ok(()),
    }
}

/// The subscription the OIR will rely on (§1.5 step 5): a new implicit one, none, or the
/// one it names, which must be the caller's and cover the OIR (an implicit one grows to).
fn attach(
    ctx: &mut Ctx,
    put: &PutOir,
    manager: &str,
    now: Nanos,
    previous: Option<(Id, SubscriptionRecord)>,
) -> Result<Option<(Id, SubscriptionRecord)>, Error> {
    let Some(sid) = put.subscription_id else {
        return match &put.new_subscription {
            Some(new) => subscription::create_implicit(ctx, manager, now, put.id, &put.extent, new).map(Some),
            None => Ok(None),
        };
    };
    let sub = match previous {
        Some((previous_id, sub)) if previous_id == sid => sub,
        _ => SUBSCRIPTIONS
            .get(ctx, sid)?
            .ok_or_else(|| Error::bad_request(format!("Specified Subscription {sid} does not exist")))?,
    };
    if sub.manager != manager {
        return Err(Error::permission_denied("Specified Subscription is owned by different client"));
    }
    Ok(Some((sid, subscription::cover_extent(ctx, sid, sub, &put.extent, now)?)))
}

pub fn put(ctx: &mut Ctx, put: PutOir, indices: Indices) -> Result<Output, Error> {
    check_off_nominal(ctx.caller(), put.state)?;
    let manager = manager(ctx)?;
    let now = now(ctx);
    let old = OIRS.get(ctx, put.id)?;
    check_against_old(old.as_ref(), &manager, put.ovn.as_deref().unwrap_or(""))?;

    let previous = match old.as_ref().and_then(|o| o.subscription_id) {
        Some(sid) => SUBSCRIPTIONS.get(ctx, sid)?.map(|s| (sid, s)),
        None => None,
    };
    // Without a subscription_id the previous subscription is let go of, even when a new
    // implicit one is requested; an implicit one that served only this OIR then goes.
    let remove_previous = match &previous {
        Some((sid, sub)) if put.subscription_id != Some(*sid) => {
            implicit_and_only_for(ctx, *sid, sub, put.id)?.then_some(*sid)
        }
        _ => None,
    };
    let attached = attach(ctx, &put, &manager, now, previous)?;
    // After the implicit subscription was made or grown: a 409 here undoes it (the
    // entry's writes are all or nothing).
    if !put.state.is_off_nominal() {
        check_key(ctx, &manager, &put, attached.as_ref().map(|(_, s)| s))?;
    }

    let record = OirRecord {
        manager,
        version: old.as_ref().map_or(1, |o| o.version.saturating_add(1)),
        state: put.state,
        ovn: put.requested_ovn.unwrap_or_else(|| ovn::from_time(now, &put.id.to_string())),
        start: put.extent.start,
        end: put.extent.end,
        alt_lo: put.extent.alt_lo,
        alt_hi: put.extent.alt_hi,
        uss_base_url: put.uss_base_url,
        subscription_id: attached.map(|(sid, _)| sid),
    };
    // Subscribers hear of the change over the old and the new extent.
    let mut volume = put.extent.volume();
    if let Some(old) = &old {
        volume = volume.widened(old.start, old.end, &OIRS.cells(ctx, put.id)?);
    }
    OIRS.put(ctx, put.id, &record, &put.extent.cells, ())?;
    if let Some(sid) = remove_previous {
        SUBSCRIPTIONS.delete(ctx, sid)?;
    }
    let notified = notify::notified(ctx, volume, Topic::OperationalIntents, indices)?;
    let availability = Availabilities::default().of(ctx, &record.manager)?;
    let oir = view(put.id, &record, availability, &record.manager);
    Ok(Output::oir_changed(put.ovn.is_none(), oir, notified))
}

/// §1.6: every OIR in the extent (but this one) whose OVN is not in the key must be
/// exempt (Accepted, of a USS that is Down); with a subscription that wants constraint
/// notifications, every constraint in the extent must be in the key too.
fn check_key(ctx: &Ctx, manager: &str, put: &PutOir, attached: Option<&SubscriptionRecord>) -> Result<(), Error> {
    let area = put.extent.volume();
    let mut availabilities = Availabilities::default();
    let mut missing_oirs = Vec::new();
    for (id, oir) in search::oirs(ctx, &area)? {
        if id == put.id || put.key.contains(&oir.ovn) {
            continue;
        }
        let availability = availabilities.of(ctx, &oir.manager)?;
        if availability != Availability::Down || oir.state != OirState::Accepted {
            missing_oirs.push(view(id, &oir, availability, manager));
        }
    }
    let mut missing_constraints: Vec<ConstraintRef> = Vec::new();
    if attached.is_some_and(|s| s.notify_for_constraints) {
        for (id, c) in search::constraints(ctx, &area)? {
            if !put.key.contains(&c.ovn) {
                missing_constraints.push(constraint::view(id, &c, manager));
            }
        }
    }
    if missing_oirs.is_empty() && missing_constraints.is_empty() {
        return Ok(());
    }
    let message = "Current OVNs not provided for one or more OperationalIntents or Constraints".to_string();
    Err(Error::new(MISSING_OVNS, message.clone()).with_body(AirspaceConflict {
        message,
        missing_oirs,
        missing_constraints,
    }))
}

pub fn delete(ctx: &mut Ctx, id: Id, ovn: &str, indices: Indices) -> Result<Output, Error> {
    let manager = manager(ctx)?;
    let old = OIRS.get(ctx, id)?.ok_or_else(|| Error::not_found(format!("OperationalIntent {id} not found")))?;
    if old.manager != manager {
        return Err(Error::permission_denied(format!(
            "OperationalIntent owned by {}, but {manager} attempted to delete",
            old.manager
        )));
    }
    if old.ovn != ovn {
        return Err(Error::conflict(format!("Current version is {} but client specified version {ovn}", old.ovn)));
    }
    let remove_implicit = match old.subscription_id {
        Some(sid) => {
            let sub = SUBSCRIPTIONS
                .get(ctx, sid)?
                .ok_or_else(|| Error::internal(format!("subscription {sid} of operational intent {id} is missing")))?;
            implicit_and_only_for(ctx, sid, &sub, id)?.then_some(sid)
        }
        None => None,
    };
    // Notified before the delete, so the OIR's own implicit subscription hears of it.
    let volume = Volume {
        start: Some(old.start),
        end: Some(old.end),
        alt_lo: old.alt_lo,
        alt_hi: old.alt_hi,
        cells: OIRS.cells(ctx, id)?,
    };
    let subscribers = notify::subscribers(ctx, &volume, Topic::OperationalIntents, indices)?;
    OIRS.delete(ctx, id)?;
    if let Some(sid) = remove_implicit {
        SUBSCRIPTIONS.delete(ctx, sid)?;
    }
    let availability = Availabilities::default().of(ctx, &old.manager)?;
    Ok(Output::OirChanged { created: false, oir: view(id, &old, availability, &manager), subscribers })
}

pub fn get(ctx: &Ctx, id: Id) -> Result<QueryOutput, Error> {
    let caller = manager(ctx)?;
    let oir = OIRS.get(ctx, id)?.ok_or_else(|| Error::not_found(format!("OperationalIntent {id} not found")))?;
    let availability = Availabilities::default().of(ctx, &oir.manager)?;
    Ok(QueryOutput::Oir(view(id, &oir, availability, &caller)))
}

pub fn query(ctx: &Ctx, area: &Volume) -> Result<QueryOutput, Error> {
    Ok(QueryOutput::Oirs(refs(ctx, area, &manager(ctx)?)?))
}

/// The OIRs in `area` as `caller` sees them.
pub fn refs(ctx: &Ctx, area: &Volume, caller: &str) -> Result<Vec<OirRef>, Error> {
    let mut availabilities = Availabilities::default();
    search::oirs(ctx, area)?
        .into_iter()
        .map(|(id, oir)| Ok(view(id, &oir, availabilities.of(ctx, &oir.manager)?, caller)))
        .collect()
}
