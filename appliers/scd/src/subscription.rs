//! SCD subscriptions (dss-semantics §1.9), explicit and implicit (§1.5 step 5).

use crate::api::{
    Command, Extent, NewSubscription, Output, PutSubscription, Query, QueryOutput, SubscriptionView, Volume,
};
use crate::auth;
use crate::constraint;
use crate::entry::{manager, now};
use crate::geo;
use crate::json::PutSubscriptionParameters;
use crate::oir;
use crate::ovn;
use crate::render::error;
use crate::request::{Reply, area_of_interest, bad_request, body, check_base_url, entity_id};
use crate::rfc3339::{NANOS_PER_DAY, NANOS_PER_MINUTE, Nanos};
use crate::search;
use crate::store::{OIRS, SUBSCRIPTIONS, SubscriptionRecord, dependents};
use crate::volume::{self, VolumeError};
use wasmraft_sdk::http::{Handled, Request};
use wasmraft_sdk::{Ctx, Error, Id};

/// The longest a subscription may last.
const MAX_DURATION: Nanos = NANOS_PER_DAY;
/// How far in the past a subscription may start, and may start after its dependents.
const MAX_CLOCK_SKEW: Nanos = 5 * NANOS_PER_MINUTE;

// ---- Requests ----

pub fn handle_put(request: &Request, id: &str, version: Option<&str>) -> Reply {
    auth::authorize(request, auth::SUBSCRIPTION)?;
    let params: PutSubscriptionParameters = body(request)?;
    let id = entity_id(id).map_err(bad_request)?;
    // As the reference, the base URL's scheme is checked but not its presence.
    check_base_url(request, &params.uss_base_url).map_err(bad_request)?;
    // A subscription without a footprint is tolerated (it gets no cells); any other
    // refusal of its volume, a too large area included, is a 400.
    let volume = volume::single(&params.extents, false).map_err(|e| bad_request(e.message()))?;
    let notify_for_oirs = params.notify_for_operational_intents.unwrap_or(false);
    let notify_for_constraints = params.notify_for_constraints.unwrap_or(false);
    if !notify_for_oirs && !notify_for_constraints {
        return Err(bad_request("No notification triggers requested for Subscription"));
    }
    // The reference's answer lists the constraints in the request's volume, a search that
    // fails without a footprint (and rolls the write back): refuse it up front.
    if notify_for_constraints && volume.cells.is_empty() {
        return Err(bad_request("Missing footprint"));
    }
    Ok(Handled::Propose(Command::PutSubscription(PutSubscription {
        id,
        version: version.map(str::to_string),
        uss_base_url: params.uss_base_url,
        volume,
        notify_for_oirs,
        notify_for_constraints,
    })))
}

pub fn handle_get(request: &Request, id: &str) -> Reply {
    auth::authorize(request, auth::SUBSCRIPTION)?;
    Ok(Handled::Read(Query::GetSubscription { id: entity_id(id).map_err(bad_request)? }))
}

pub fn handle_delete(request: &Request, id: &str, version: &str) -> Reply {
    auth::authorize(request, auth::SUBSCRIPTION)?;
    let id = entity_id(id).map_err(bad_request)?;
    if version.is_empty() {
        return Err(bad_request("Missing version"));
    }
    Ok(Handled::Propose(Command::DeleteSubscription { id, version: version.to_string() }))
}

pub fn handle_query(request: &Request) -> Reply {
    auth::authorize(request, auth::SUBSCRIPTION)?;
    // Here (only) a too large area is a 413.
    let area = area_of_interest(request, |e| match e {
        VolumeError::TooLarge(m) => error(413, &m),
        e => bad_request(e.message()),
    })?;
    Ok(Handled::Read(Query::QuerySubscriptions { area }))
}

// ---- Entries ----

pub fn view(id: Id, sub: &SubscriptionRecord, dependent_oirs: Vec<Id>) -> SubscriptionView {
    SubscriptionView {
        id,
        version: sub.version.clone(),
        notification_index: sub.notification_index,
        start: sub.start,
        end: sub.end,
        uss_base_url: sub.uss_base_url.clone(),
        notify_for_oirs: sub.notify_for_oirs,
        notify_for_constraints: sub.notify_for_constraints,
        implicit: sub.implicit,
        dependent_oirs,
    }
}

/// A new implicit subscription for OIR `oir` (`new_subscription`), covering its extent,
/// stored, with the id PR 1655 derives (or a fresh one should that id be taken, as when
/// the same OIR asks twice at the same instant).
pub fn create_implicit(
    ctx: &mut Ctx,
    manager: &str,
    now: Nanos,
    oir: Id,
    extent: &Extent,
    new: &NewSubscription,
) -> Result<(Id, SubscriptionRecord), Error> {
    let mut id = ovn::implicit_subscription_id(now, oir);
    if SUBSCRIPTIONS.get(ctx, id)?.is_some() {
        id = ctx.new_id();
    }
    let sub = SubscriptionRecord {
        manager: manager.to_string(),
        version: ovn::from_time(now, &id.to_string()),
        notification_index: 0,
        uss_base_url: new.uss_base_url.clone(),
        notify_for_oirs: true,
        notify_for_constraints: new.notify_for_constraints,
        implicit: true,
        start: extent.start,
        end: extent.end,
    };
    SUBSCRIPTIONS.put(ctx, id, &sub, &extent.cells)?;
    Ok((id, sub))
}

/// The reference's `ensureSubscriptionCoversOIR`: an implicit subscription grows to cover
/// the OIR's extent (a new version); an explicit one that does not cover it is a 400.
/// Altitudes are not checked.
pub fn cover_extent(
    ctx: &mut Ctx,
    id: Id,
    mut sub: SubscriptionRecord,
    extent: &Extent,
    now: Nanos,
) -> Result<SubscriptionRecord, Error> {
    let refuse = |why: &str| Err(Error::bad_request(why.to_string()));
    let mut grown = false;
    if sub.start > extent.start {
        if !sub.implicit {
            return refuse("Subscription does not begin until after the OperationalIntent starts");
        }
        sub.start = extent.start;
        grown = true;
    }
    if sub.end < extent.end {
        if !sub.implicit {
            return refuse("Subscription ends before the OperationalIntent ends");
        }
        sub.end = extent.end;
        grown = true;
    }
    let cells = SUBSCRIPTIONS.cells(ctx, id)?;
    let covers = geo::contains_all(&cells, &extent.cells);
    if !covers && !sub.implicit {
        return refuse("Subscription does not cover entire spatial area of the OperationalIntent");
    }
    if grown || !covers {
        sub.version = ovn::from_time(now, &id.to_string());
        let cells = if covers { cells } else { geo::union(&cells, &extent.cells) };
        SUBSCRIPTIONS.put(ctx, id, &sub, &cells)?;
    }
    Ok(sub)
}

/// The reference's `AdjustTimeRange`: the bounds a subscription gets from its request, its
/// previous version and the entry's time.
fn time_range(requested: &Volume, old: Option<&SubscriptionRecord>, now: Nanos) -> Result<(Nanos, Nanos), Error> {
    let start = match requested.start {
        None => old.map_or(now, |o| o.start),
        Some(start) if now - start > MAX_CLOCK_SKEW => {
            return Err(Error::bad_request("Subscription time_start must not be in the past"));
        }
        Some(start) => start,
    };
    let end = requested.end.or(old.map(|o| o.end)).unwrap_or(start.saturating_add(MAX_DURATION));
    if end < start {
        return Err(Error::bad_request("Subscription time_end must be after time_start"));
    }
    if end - start > MAX_DURATION {
        return Err(Error::bad_request("Subscription window exceeds 24 hours"));
    }
    Ok((start, end))
}

/// The reference's `ValidateDependentOp`, with the requested (unstored) altitudes.
fn check_covers_dependent(ctx: &Ctx, put: &PutSubscription, start: Nanos, end: Nanos, oir: Id) -> Result<(), Error> {
    let op = OIRS.indexed(ctx, oir)?;
    let refuse =
        |what: &str| Err(Error::bad_request(format!("Subscription does not cover dependent operation{what}, {oir}")));
    if !geo::contains_all(&put.volume.cells, &OIRS.cells(ctx, oir)?) {
        return refuse(" 2d area");
    }
    let below = matches!((op.alt_lo, put.volume.alt_lo), (Some(o), Some(s)) if o < s);
    let above = matches!((op.alt_hi, put.volume.alt_hi), (Some(o), Some(s)) if o > s);
    if below || above {
        return refuse(" altitude");
    }
    if start - op.start > MAX_CLOCK_SKEW {
        return Err(Error::bad_request(format!(
            "Subscription start time does not cover dependent operation's start time, {oir}"
        )));
    }
    if op.end > end {
        return refuse("'s end time");
    }
    Ok(())
}

pub fn put(ctx: &mut Ctx, put: PutSubscription) -> Result<Output, Error> {
    let manager = manager(ctx)?;
    let now = now(ctx);
    let old = SUBSCRIPTIONS.get(ctx, put.id)?;
    let (start, end) = time_range(&put.volume, old.as_ref(), now)?;
    let version = put.version.as_deref().unwrap_or("");
    let (notification_index, dependent_oirs) = match &old {
        None if !version.is_empty() => return Err(Error::bad_request(format!("Subscription {} not found", put.id))),
        None => (0, Vec::new()),
        Some(_) if version.is_empty() => {
            return Err(Error::conflict(format!("Subscription {} already exists", put.id)));
        }
        Some(old) if old.version != version => {
            return Err(Error::conflict(format!("Subscription version {version} is not current")));
        }
        Some(old) if old.manager != manager => {
            return Err(Error::permission_denied("Subscription is owned by different client"));
        }
        Some(old) => {
            let dependents = dependents(ctx, put.id)?;
            for &oir in &dependents {
                check_covers_dependent(ctx, &put, start, end, oir)?;
            }
            (old.notification_index, dependents)
        }
    };
    // A USS's write makes even an implicit subscription explicit, as in the reference.
    let sub = SubscriptionRecord {
        manager,
        version: ovn::from_time(now, &put.id.to_string()),
        notification_index,
        uss_base_url: put.uss_base_url,
        notify_for_oirs: put.notify_for_oirs,
        notify_for_constraints: put.notify_for_constraints,
        implicit: false,
        start,
        end,
    };
    SUBSCRIPTIONS.put(ctx, put.id, &sub, &put.volume.cells)?;

    // The OIRs are those in the stored subscription (its bounds, no altitude: none is
    // stored); the constraints those in the request's volume as sent.
    let oirs = sub
        .notify_for_oirs
        .then(|| {
            let area = Volume {
                start: Some(start),
                end: Some(end),
                alt_lo: None,
                alt_hi: None,
                cells: put.volume.cells.clone(),
            };
            if area.cells.is_empty() { Ok(Vec::new()) } else { oir::refs(ctx, &area, &sub.manager) }
        })
        .transpose()?;
    let constraints =
        sub.notify_for_constraints.then(|| constraint::refs(ctx, &put.volume, &sub.manager)).transpose()?;
    Ok(Output::SubscriptionPut { subscription: view(put.id, &sub, dependent_oirs), oirs, constraints })
}

/// The subscription `id` of the caller, or why not.
fn owned(ctx: &Ctx, id: Id) -> Result<SubscriptionRecord, Error> {
    let manager = manager(ctx)?;
    let sub = SUBSCRIPTIONS.get(ctx, id)?.ok_or_else(|| Error::not_found(format!("Subscription {id} not found")))?;
    if sub.manager != manager {
        return Err(Error::permission_denied("Subscription is owned by different client"));
    }
    Ok(sub)
}

pub fn delete(ctx: &mut Ctx, id: Id, version: &str) -> Result<Output, Error> {
    let sub = owned(ctx, id)?;
    if sub.version != version {
        return Err(Error::conflict(format!("Subscription version {version} is not current")));
    }
    if !dependents(ctx, id)?.is_empty() {
        return Err(Error::bad_request("Subscriptions with dependent Operations may not be removed"));
    }
    SUBSCRIPTIONS.delete(ctx, id)?;
    Ok(Output::SubscriptionDeleted(view(id, &sub, Vec::new())))
}

pub fn get(ctx: &Ctx, id: Id) -> Result<QueryOutput, Error> {
    let sub = owned(ctx, id)?;
    Ok(QueryOutput::Subscription(view(id, &sub, dependents(ctx, id)?)))
}

/// The caller's subscriptions in `area` that have not ended. (The reference applies its
/// result limit before keeping the caller's; here the limit counts the caller's only.)
pub fn query(ctx: &Ctx, area: &Volume) -> Result<QueryOutput, Error> {
    let manager = manager(ctx)?;
    let now = now(ctx);
    search::subscriptions(ctx, area, |s| s.manager == manager && s.end >= now)?
        .into_iter()
        .map(|(id, sub)| Ok(view(id, &sub, dependents(ctx, id)?)))
        .collect::<Result<_, Error>>()
        .map(QueryOutput::Subscriptions)
}
