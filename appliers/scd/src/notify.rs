//! Subscriber notification: every write of an OIR or constraint bumps the notification index
//! of each subscription that covers it in space and time and wants that kind of change
//! (the caller's own included, no altitude check), and tells the writer whom to notify.
//!
//! Or, as the reference with `--enable_time_based_notification_index`, bumps nothing and
//! shows every index as the milliseconds since UTC midnight ([`Indices::TimeOfDay`]): in a
//! busy cell, where every write notifies every subscription created over it in the last
//! minute, the bumps are most of a write's cost, and the list, no longer part of the
//! state, is left to `render`.

use crate::api::{Notified, Notify, Output, QueryOutput, Subscriber, SubscriptionState, Volume};
use crate::rfc3339::Nanos;
use crate::store::{InVolume, SUBSCRIPTIONS, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wasmraft_sdk::http::Request;
use wasmraft_sdk::{Ctx, Error, Id};

/// The node setting (`--http-setting time-based-notification-index=true`) that makes the
/// node's HTTP door propose and read with [`Indices::TimeOfDay`].
const TIME_BASED_SETTING: &str = "time-based-notification-index";

/// Whether the node that took `request` has [`TIME_BASED_SETTING`] on.
pub fn time_based(request: &Request) -> bool {
    request.setting(TIME_BASED_SETTING) == Some("true")
}

/// How notification indices count. Carried by each command and query (so every node
/// applies an entry alike, whatever its own settings), not by the node that applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indices {
    /// A notification bumps the subscription's stored index; answers show stored indices.
    Counted,
    /// Nothing is bumped; every index an answer shows is the milliseconds since the UTC
    /// midnight of the entry's time (the read's, for a query), as the reference's
    /// `MillisSinceMidnight`.
    TimeOfDay,
}

/// Milliseconds since the UTC midnight of `now` (Unix days are 86,400 s, as Go's are).
pub fn time_of_day_ms(now: Nanos) -> i32 {
    const DAY_MS: i64 = 86_400_000;
    let ms = now.div_euclid(1_000_000).rem_euclid(DAY_MS);
    i32::try_from(ms).expect("below 86,400,000")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Topic {
    OperationalIntents,
    Constraints,
}

/// Whom a write of `topic` over `volume` notifies, as [`subscribers`] lists them, except
/// with time-of-day indices: bumping nothing, the list is no part of the state, so it is
/// left to `render` ([`listed`]), which runs once, on the node that answers, rather than in
/// every node's apply. Call it after the entry's last write: `render` reads the state as
/// of the entry's end.
pub fn notified(ctx: &mut Ctx, volume: Volume, topic: Topic, indices: Indices) -> Result<Notified, Error> {
    match indices {
        Indices::Counted => Ok(Notified::Listed(subscribers(ctx, &volume, topic, indices)?)),
        Indices::TimeOfDay => {
            let time_of_day = time_of_day_ms(crate::entry::now(ctx));
            Ok(Notified::Later(Notify { volume, topic, time_of_day }))
        }
    }
}

/// Bumps the indices of the subscriptions to `topic` in `volume` (counted) or shows each as
/// the time of day of the entry, and lists them now.
pub fn subscribers(ctx: &mut Ctx, volume: &Volume, topic: Topic, indices: Indices) -> Result<Vec<Subscriber>, Error> {
    let found = SUBSCRIPTIONS.in_volume(ctx, volume)?;
    match indices {
        Indices::Counted => grouped(&found, topic, |id| {
            let index = SUBSCRIPTIONS.index_of(ctx, id)?.saturating_add(1);
            SUBSCRIPTIONS.indices.put(ctx, &id, &index)?;
            Ok(index)
        }),
        Indices::TimeOfDay => {
            let time_of_day = time_of_day_ms(crate::entry::now(ctx));
            grouped(&found, topic, |_| Ok(time_of_day))
        }
    }
}

/// The subscribers `notify` names, as of the state `ctx` reads (`render`'s: the entry's).
pub fn listed(ctx: &Ctx, notify: &Notify) -> Result<Vec<Subscriber>, Error> {
    let found = SUBSCRIPTIONS.in_volume(ctx, &notify.volume)?;
    grouped(&found, notify.topic, |_| Ok(notify.time_of_day))
}

/// The subscriptions `found` to `topic`, grouped by base URL, in URL then subscription-id
/// order (the reference's order is a Go map's), each shown with `index_of` it. The scan of
/// the cell index yielded each subscription's target: only a counted index costs a row
/// read and write.
fn grouped(
    found: &InVolume<Target>,
    topic: Topic,
    mut index_of: impl FnMut(Id) -> Result<i32, Error>,
) -> Result<Vec<Subscriber>, Error> {
    // One group per base URL; each distinct target leads to its URL's group, if its
    // subscriptions want the topic.
    let mut by_url: BTreeMap<&str, usize> = BTreeMap::new();
    let mut group_of: Vec<Option<usize>> = Vec::with_capacity(found.covers.len());
    for target in &found.covers {
        let next = by_url.len();
        let group = *by_url.entry(target.uss_base_url.as_str()).or_insert(next);
        let wanted = match topic {
            Topic::OperationalIntents => target.for_oirs,
            Topic::Constraints => target.for_constraints,
        };
        group_of.push(wanted.then_some(group));
    }
    let mut groups: Vec<Vec<SubscriptionState>> = vec![Vec::new(); by_url.len()];
    for &(id, target) in &found.ids {
        let Some(group) = group_of[target] else { continue };
        groups[group].push(SubscriptionState { subscription_id: id, notification_index: index_of(id)? });
    }
    Ok(by_url
        .into_iter()
        .filter_map(|(url, group)| {
            let subscriptions = std::mem::take(&mut groups[group]);
            (!subscriptions.is_empty()).then(|| Subscriber { uss_base_url: url.to_string(), subscriptions })
        })
        .collect())
}

/// Shows `index` as every notification index in `output` (for [`Indices::TimeOfDay`]). A
/// change's subscribers already show it: [`subscribers`] wrote it there.
pub fn show_in_output(output: &mut Output, index: i32) {
    match output {
        Output::SubscriptionPut { subscription, .. } | Output::SubscriptionDeleted(subscription) => {
            subscription.notification_index = index;
        }
        Output::OirChanged { .. }
        | Output::ConstraintChanged { .. }
        | Output::OirChangedNotifying { .. }
        | Output::ConstraintChangedNotifying { .. }
        | Output::Availability(_)
        | Output::HeartbeatRecorded(_)
        | Output::Evicted { .. } => {}
    }
}

/// Shows `index` as every notification index in `output` (for [`Indices::TimeOfDay`]).
pub fn show_in_query_output(output: &mut QueryOutput, index: i32) {
    match output {
        QueryOutput::Subscription(subscription) => subscription.notification_index = index,
        QueryOutput::Subscriptions(subscriptions) => {
            subscriptions.iter_mut().for_each(|s| s.notification_index = index)
        }
        QueryOutput::Oir(_)
        | QueryOutput::Oirs(_)
        | QueryOutput::Constraint(_)
        | QueryOutput::Constraints(_)
        | QueryOutput::Availability(_)
        | QueryOutput::DssInstances(_) => {}
    }
}
