//! Notifications (docs/rid.md §7): an ISA write bumps the notification index of every
//! live subscription, of any owner and either version, in the cells it touches, and tells
//! the writer whom to notify, grouped by URL. The subscriptions' versions stay.

use crate::api::Subscriber;
use crate::store::SUBSCRIPTIONS;
use dss_common::rfc3339::Nanos;
use std::collections::BTreeMap;
use wasmraft_sdk::{Ctx, Error, Id};

/// Bumps the subscriptions in `cells` that end at or after `now`; returns them by URL, in
/// URL order, each URL's in id order (the reference's order is a Go map's).
pub fn subscribers(ctx: &mut Ctx, cells: &[u64], now: Nanos) -> Result<Vec<Subscriber>, Error> {
    let mut by_url: BTreeMap<String, Vec<(Id, i32)>> = BTreeMap::new();
    for id in SUBSCRIPTIONS.ending_from(ctx, cells, now)? {
        let mut subscription = SUBSCRIPTIONS.indexed(ctx, id)?;
        subscription.notification_index = subscription.notification_index.saturating_add(1);
        SUBSCRIPTIONS.put_row(ctx, id, &subscription)?;
        by_url.entry(subscription.url).or_default().push((id, subscription.notification_index));
    }
    Ok(by_url.into_iter().map(|(url, subscriptions)| Subscriber { url, subscriptions }).collect())
}
