//! Notifications (dss-semantics §2.6, in docs/rid.md): an ISA write bumps the notification
//! index of every live subscription, of any owner and either version, in the cells it
//! touches, and tells the writer whom to notify, grouped by URL.

use crate::api::Subscriber;
use crate::store::SUBSCRIPTIONS;
use dss_common::rfc3339::Nanos;
use std::collections::BTreeMap;
use wasmraft_sdk::{Ctx, Error, Id};

/// Bumps the subscriptions in `cells` that end at or after `now`; returns them by URL (in
/// URL order, each URL's in id order).
pub fn subscribers(ctx: &mut Ctx, cells: &[u64], now: Nanos) -> Result<Vec<Subscriber>, Error> {
    let mut by_url: BTreeMap<String, Vec<(Id, i32)>> = BTreeMap::new();
    for id in SUBSCRIPTIONS.in_cells(ctx, cells)? {
        let mut head = SUBSCRIPTIONS.indexed(ctx, id)?;
        if head.end < now {
            continue;
        }
        // An int32 in the reference's tables, as here.
        head.notification_index = head.notification_index.wrapping_add(1);
        SUBSCRIPTIONS.put_head(ctx, id, &head)?;
        by_url.entry(head.url).or_default().push((id, head.notification_index));
    }
    Ok(by_url.into_iter().map(|(url, subscriptions)| Subscriber { url, subscriptions }).collect())
}
