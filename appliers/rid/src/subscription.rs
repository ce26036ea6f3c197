//! RID subscriptions (docs/rid.md §6): at most 10 live ones per owner in any one cell; a
//! write answers with the live ISAs in its area; a search returns only the caller's own;
//! deleting one notifies nobody.

use crate::api::{Api, Command, Output, Put, Query, QueryOutput, Subscription};
use crate::auth::Op;
use crate::request::{Kind, Reply, allowed, path_id, path_version, search_area};
use crate::store::{self, SUBSCRIPTIONS};
use crate::{isa, request, version, window};
use dss_common::entry::{now, subject};
use dss_common::rfc3339::Nanos;
use std::collections::BTreeSet;
use wasmraft_sdk::http::{Handled, Request};
use wasmraft_sdk::{Ctx, Error, Id};

/// Live subscriptions one owner may have in any one cell (`maxSubscriptionsPerArea`).
pub const MAX_PER_CELL: usize = 10;
/// The failure code of a refusal for too many subscriptions, answered 429.
pub const EXHAUSTED: &str = "exhausted";

// ---- Requests ----

pub fn handle_put(r: &Request, api: Api, id: &str, version: Option<&str>) -> Reply {
    allowed(r, api, Op::WriteSubscription)?;
    Ok(Handled::Propose(Command::PutSubscription(request::put(r, api, Kind::Subscription, id, version)?)))
}

pub fn handle_delete(r: &Request, api: Api, id: &str, version: &str) -> Reply {
    allowed(r, api, Op::WriteSubscription)?;
    let version = path_version(version)?;
    Ok(Handled::Propose(Command::DeleteSubscription { api, id: path_id(id)?, version }))
}

pub fn handle_get(r: &Request, api: Api, id: &str) -> Reply {
    allowed(r, api, Op::GetSubscription)?;
    Ok(Handled::Read(Query::GetSubscription { api, id: path_id(id)? }))
}

pub fn handle_search(r: &Request, api: Api) -> Reply {
    allowed(r, api, Op::SearchSubscriptions)?;
    Ok(Handled::Read(Query::SearchSubscriptions { api, cells: search_area(r)? }))
}

// ---- Entries ----

fn not_found(id: Id) -> String {
    format!("Subscription {id} not found")
}

/// The subscription `id` at `version`, if `caller` owns it (the version before the owner).
fn owned(ctx: &Ctx, id: Id, version: &str, caller: &str, missing: fn(String) -> Error) -> Result<Subscription, Error> {
    let sub = SUBSCRIPTIONS.get(ctx, id)?.ok_or_else(|| missing(not_found(id)))?;
    if sub.version != version {
        return Err(Error::conflict(format!("Subscription version {version} is not current")));
    }
    if sub.owner != caller {
        return Err(Error::permission_denied("Subscription is owned by different client"));
    }
    Ok(sub)
}

/// Whether `owner` already has [`MAX_PER_CELL`] live subscriptions in one of `cells`, not
/// counting `id`. (The reference counts the subscription an update replaces too, so that
/// an owner at the limit in a cell could update none of its subscriptions there.)
fn crowded(ctx: &Ctx, cells: &[u64], owner: &str, now: Nanos, id: Id) -> Result<bool, Error> {
    for &cell in cells {
        let mut others = 0;
        for found in store::owned_in_cell(ctx, owner, cell, now) {
            others += usize::from(found? != id);
        }
        if others >= MAX_PER_CELL {
            return Ok(true);
        }
    }
    Ok(false)
}

pub fn put(ctx: &mut Ctx, put: Put) -> Result<Output, Error> {
    let (owner, now) = (subject(ctx)?, now(ctx));
    // Missing is a 400 on an update.
    let old = put.version.as_deref().map(|v| owned(ctx, put.id, v, &owner, Error::bad_request)).transpose()?;
    let (start, end) = window::subscription(now, &put.extent, old.as_ref().map(|o| (o.start, o.end)))?;
    // A create's time rules come first, then whether its id is taken.
    if old.is_none() && SUBSCRIPTIONS.get(ctx, put.id)?.is_some() {
        return Err(Error::conflict(format!("Subscription {} already exists", put.id)));
    }
    if crowded(ctx, &put.extent.cells, &owner, now, put.id)? {
        return Err(Error::new(EXHAUSTED, "Too many existing subscriptions in this area already"));
    }
    // The reference resets the index to 0 on an update; it carries on here, so that its
    // owner never takes a new notification for one it has already seen.
    let notification_index = old.map_or(0, |o| o.notification_index);
    let subscription =
        Subscription { owner, url: put.url, notification_index, start, end, version: version::of_time(now) };
    SUBSCRIPTIONS.put(ctx, put.id, &subscription, &put.extent.cells)?;
    let isas = isa::in_cells(ctx, &put.extent.cells, now, None)?;
    Ok(Output::SubscriptionPut { api: put.api, id: put.id, subscription, isas })
}

pub fn delete(ctx: &mut Ctx, api: Api, id: Id, version: &str) -> Result<Output, Error> {
    let subscription = owned(ctx, id, version, &subject(ctx)?, Error::not_found)?;
    SUBSCRIPTIONS.delete(ctx, id)?;
    Ok(Output::SubscriptionDeleted { api, id, subscription })
}

/// Any caller with the route's scopes may read any subscription, as in the reference.
pub fn get(ctx: &Ctx, api: Api, id: Id) -> Result<QueryOutput, Error> {
    let subscription = SUBSCRIPTIONS.get(ctx, id)?.ok_or_else(|| Error::not_found(not_found(id)))?;
    Ok(QueryOutput::Subscription { api, id, subscription })
}

/// The caller's subscriptions in `cells` that have not ended, in id order.
pub fn search(ctx: &Ctx, api: Api, cells: &[u64]) -> Result<QueryOutput, Error> {
    let (caller, now) = (subject(ctx)?, now(ctx));
    let mut ids = BTreeSet::new();
    for &cell in cells {
        for id in store::owned_in_cell(ctx, &caller, cell, now) {
            ids.insert(id?);
        }
    }
    let subscriptions = ids
        .into_iter()
        .take(isa::MAX_RESULTS)
        .map(|id| Ok((id, SUBSCRIPTIONS.indexed(ctx, id)?)))
        .collect::<Result<_, Error>>()?;
    Ok(QueryOutput::Subscriptions { api, subscriptions })
}
