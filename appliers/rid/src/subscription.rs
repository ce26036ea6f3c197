//! RID subscriptions (dss-semantics §2.5, in docs/rid.md): at most 10 live ones per owner in
//! any one cell; a write answers with the live ISAs in its area; searches return only the
//! caller's own; deleting one notifies nobody.

use crate::api::{Api, Command, Output, Put, Query, QueryOutput, SubscriptionView};
use crate::auth::Op;
use crate::json::{V1SubscriptionParameters, V2Parameters};
use crate::request::{Reply, allowed, path_id, path_version, search_area, written};
use crate::store::{SUBSCRIPTIONS, SubscriptionHead};
use crate::window::{self, Kind};
use crate::{extents, isa, version};
use dss_common::entry::{now, subject};
use dss_common::errors::bad_request;
use dss_common::request::{body, check_base_url};
use dss_common::rfc3339::Nanos;
use std::collections::BTreeMap;
use wasmraft_sdk::http::{Handled, Request};
use wasmraft_sdk::{Ctx, Error, Id};

/// Live subscriptions one owner may have in any one cell (`maxSubscriptionsPerArea`).
pub const MAX_PER_CELL: usize = 10;
/// The failure code of a refusal for too many subscriptions: 429.
pub const EXHAUSTED: &str = "exhausted";

pub fn handle_put(r: &Request, api: Api, id: &str, version: Option<&str>) -> Reply {
    allowed(r, api, Op::WriteSubscription)?;
    let version = version.map(path_version).transpose()?;
    let (url, extent) = match api {
        Api::V1 => {
            let p: V1SubscriptionParameters = body(r)?;
            let url = p.callbacks.and_then(|c| c.identification_service_area_url);
            let url = url.ok_or_else(|| bad_request("Missing required callbacks.identification_service_area_url"))?;
            (url, p.extents.map(|e| extents::v1(&e)))
        }
        Api::V2 => {
            let p: V2Parameters = body(r)?;
            if p.uss_base_url.is_empty() {
                return Err(bad_request("Missing required uss_base_url"));
            }
            (p.uss_base_url, p.extents.map(|e| extents::v2(&e)))
        }
    };
    let extent = written(extent)?;
    let id = path_id(id)?;
    if version.is_none() {
        check_base_url(r, &url, "rid url").map_err(bad_request)?;
    }
    Ok(Handled::Propose(Command::PutSubscription(Put { api, id, version, url, extent })))
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

fn view(id: Id, head: SubscriptionHead) -> SubscriptionView {
    SubscriptionView {
        id,
        owner: head.owner,
        url: head.url,
        notification_index: head.notification_index,
        start: head.start,
        end: head.end,
        version: head.version,
    }
}

/// The most live subscriptions `owner` has in any one of `cells`, not counting `except`.
fn most_in_a_cell(ctx: &Ctx, cells: &[u64], owner: &str, now: Nanos, except: Id) -> Result<usize, Error> {
    // Each subscription is read once, however many of the cells it covers.
    let mut counts: BTreeMap<Id, bool> = BTreeMap::new();
    let mut most = 0;
    for cell in cells {
        let mut here = 0;
        for id in SUBSCRIPTIONS.in_cells(ctx, std::slice::from_ref(cell))? {
            let counted = match counts.get(&id) {
                Some(&counted) => counted,
                None => {
                    let head = SUBSCRIPTIONS.indexed(ctx, id)?;
                    let counted = id != except && head.owner == owner && head.end >= now;
                    counts.insert(id, counted);
                    counted
                }
            };
            here += usize::from(counted);
        }
        most = most.max(here);
    }
    Ok(most)
}

pub fn put(ctx: &mut Ctx, put: Put) -> Result<Output, Error> {
    let (owner, now) = (subject(ctx)?, now(ctx));
    let old = SUBSCRIPTIONS.get(ctx, put.id)?;
    match (&put.version, &old) {
        (None, Some(_)) => return Err(Error::conflict(format!("Subscription {} already exists", put.id))),
        (Some(_), None) => return Err(Error::bad_request(format!("Subscription {} not found", put.id))),
        (Some(version), Some(old)) => {
            // The reference checks the version before the owner here.
            if *version != old.version {
                return Err(Error::conflict(format!(
                    "Old version {version} does not match the subscription's {}",
                    old.version
                )));
            }
            if old.owner != owner {
                return Err(Error::permission_denied(format!("Subscription is owned by {}, not {owner}", old.owner)));
            }
        }
        (None, None) => {}
    }
    let (start, end) = window::adjust(Kind::Subscription, now, &put.extent, old.as_ref().map(|o| (o.start, o.end)))?;
    // Unlike the reference, an update does not count the subscription it replaces (there,
    // an owner at the limit in a cell cannot update any of them there).
    if most_in_a_cell(ctx, &put.extent.cells, &owner, now, put.id)? >= MAX_PER_CELL {
        return Err(Error::new(EXHAUSTED, "Too many existing subscriptions in this area already"));
    }
    // Unlike the reference (which resets it to 0 on an update), the index carries on: a
    // USS would otherwise take the next notification for one it has already seen.
    let notification_index = old.map_or(0, |o| o.notification_index);
    let head = SubscriptionHead { owner, url: put.url, notification_index, start, end, version: version::of_time(now) };
    SUBSCRIPTIONS.put(ctx, put.id, &head, &put.extent.cells)?;
    let isas = isa::live(ctx, &put.extent.cells, now, None)?;
    Ok(Output::SubscriptionPut { api: put.api, subscription: view(put.id, head), isas })
}

pub fn delete(ctx: &mut Ctx, api: Api, id: Id, version: &str) -> Result<Output, Error> {
    let caller = subject(ctx)?;
    let head = SUBSCRIPTIONS.get(ctx, id)?.ok_or_else(|| Error::not_found(format!("Subscription {id} not found")))?;
    if head.version != version {
        return Err(Error::conflict(format!(
            "Old version {version} does not match the subscription's {}",
            head.version
        )));
    }
    if head.owner != caller {
        return Err(Error::permission_denied(format!("Subscription is owned by {}, not {caller}", head.owner)));
    }
    SUBSCRIPTIONS.delete(ctx, id)?;
    Ok(Output::SubscriptionDeleted { api, subscription: view(id, head) })
}

pub fn get(ctx: &Ctx, api: Api, id: Id) -> Result<QueryOutput, Error> {
    let head = SUBSCRIPTIONS.get(ctx, id)?.ok_or_else(|| Error::not_found(format!("Subscription {id} not found")))?;
    Ok(QueryOutput::Subscription { api, subscription: view(id, head) })
}

/// The caller's subscriptions in `cells` that end at or after now, in id order.
pub fn search(ctx: &Ctx, api: Api, cells: &[u64]) -> Result<QueryOutput, Error> {
    let (caller, now) = (subject(ctx)?, now(ctx));
    let mut subscriptions = Vec::new();
    for id in SUBSCRIPTIONS.in_cells(ctx, cells)? {
        let head = SUBSCRIPTIONS.indexed(ctx, id)?;
        if head.owner == caller && head.end >= now && subscriptions.len() < isa::MAX_RESULTS {
            subscriptions.push(view(id, head));
        }
    }
    Ok(QueryOutput::Subscriptions { api, subscriptions })
}
