//! Subscriber notification: every write of an OIR or constraint bumps the notification index
//! of each subscription that covers it in space and time and wants that kind of change
//! (the caller's own included, no altitude check), and tells the writer whom to notify.

use crate::api::{Subscriber, SubscriptionState, Volume};
use crate::store::SUBSCRIPTIONS;
use std::collections::BTreeMap;
use wasmraft_sdk::{Ctx, Error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    OperationalIntents,
    Constraints,
}

/// Bumps the indices of the subscriptions to `topic` in `volume`; returns them grouped by
/// base URL, in URL then subscription-id order (the reference's order is a Go map's).
pub fn subscribers(ctx: &mut Ctx, volume: &Volume, topic: Topic) -> Result<Vec<Subscriber>, Error> {
    let mut by_url: BTreeMap<String, Vec<SubscriptionState>> = BTreeMap::new();
    for id in SUBSCRIPTIONS.in_volume(ctx, volume)? {
        let mut notify = SUBSCRIPTIONS.notify_of(ctx, id)?;
        let wanted = match topic {
            Topic::OperationalIntents => notify.for_oirs,
            Topic::Constraints => notify.for_constraints,
        };
        if !wanted {
            continue;
        }
        notify.index = notify.index.saturating_add(1);
        SUBSCRIPTIONS.notify.put(ctx, &id, &notify)?;
        by_url
            .entry(notify.uss_base_url)
            .or_default()
            .push(SubscriptionState { subscription_id: id, notification_index: notify.index });
    }
    Ok(by_url.into_iter().map(|(uss_base_url, subscriptions)| Subscriber { uss_base_url, subscriptions }).collect())
}
