//! What this version changes in the stored layout, converted when it replaces an older
//! version of the applier (an upgrade through the log: all or nothing, on every node).
//!
//! - 1.0.x → 1.1: a subscription was one row, its notification index in it; it is now a
//!   head and a notify row. The head keeps its table, key, window and end (so the end
//!   index and the cell index stay as they are).
//! - 1.0.x-1.2.x → 1.3: the notify row (base URL, topics, index) goes. The URL and topics
//!   (its [`Target`]) join the footprint, whose cell index entries now cover them, and the
//!   index gets a row of its own. The cell index keys (of OIRs, constraints and
//!   subscriptions) gain their altitude tier, bucket and band: all three are rebuilt.
//! - 1.3.x → 1.4: no stored layout change. Outputs gain two variants (a change with
//!   time-of-day indices leaves its subscribers for `render` to list), which a stored
//!   output of a retried request may hold: an older module cannot render those.

use crate::rfc3339::Nanos;
use crate::store::{
    CONSTRAINTS, Footprint, OIRS, SUBSCRIPTION_FOOTPRINTS, SUBSCRIPTION_HEADS, SUBSCRIPTIONS, SubscriptionHead, Target,
};
use serde::{Deserialize, Serialize};
use wasmraft_sdk::{Ctx, Error, Id, Info, Level, Table};

/// A subscription as 1.0.x stored it.
#[derive(Serialize, Deserialize)]
pub(crate) struct SubscriptionV1_0 {
    pub manager: String,
    pub version: String,
    pub notification_index: i32,
    pub uss_base_url: String,
    pub notify_for_oirs: bool,
    pub notify_for_constraints: bool,
    pub implicit: bool,
    pub start: Nanos,
    pub end: Nanos,
}

/// A subscription's notify row, 1.1.x and 1.2.x.
#[derive(Serialize, Deserialize)]
pub(crate) struct NotifyV1_1 {
    pub uss_base_url: String,
    pub for_oirs: bool,
    pub for_constraints: bool,
    pub index: i32,
}

/// 1.0.x's subscription rows, read and rewritten in place without touching their indexes.
pub(crate) const SUBSCRIPTIONS_V1_0: Table<Id, SubscriptionV1_0> = Table::new(SUBSCRIPTION_HEADS);
const HEADS_IN_PLACE: Table<Id, SubscriptionHead> = Table::new(SUBSCRIPTION_HEADS);
pub(crate) const NOTIFY_V1_1: Table<Id, NotifyV1_1> = Table::new("subscription/notify");
/// Subscription footprints before 1.3 and since, read and written without their index
/// (rebuilt afterwards: its old entries need not decode).
pub(crate) const FOOTPRINTS_V1_1: Table<Id, Footprint> = Table::new(SUBSCRIPTION_FOOTPRINTS);
const FOOTPRINTS_UNINDEXED: Table<Id, Footprint<Target>> = Table::new(SUBSCRIPTION_FOOTPRINTS);

pub fn from(ctx: &mut Ctx, previous: &Info) -> Result<(), Error> {
    let was = |minor: &str| previous.version.starts_with(minor);
    if was("1.0.") {
        split_subscriptions(ctx, previous)?;
    }
    if was("1.0.") || was("1.1.") || was("1.2.") {
        cover_targets(ctx, previous)?;
        let entities = OIRS.footprints.reindex(ctx)?
            + CONSTRAINTS.footprints.reindex(ctx)?
            + SUBSCRIPTIONS.entities.footprints.reindex(ctx)?;
        ctx.log(Level::Info, &format!("rebuilt the cell indexes of {entities} entities"));
    }
    Ok(())
}

/// 1.0.x → 1.1.
fn split_subscriptions(ctx: &mut Ctx, previous: &Info) -> Result<(), Error> {
    let old: Vec<(Id, SubscriptionV1_0)> = SUBSCRIPTIONS_V1_0.iter(ctx).collect::<Result<_, _>>()?;
    let count = old.len();
    for (id, sub) in old {
        let head = SubscriptionHead {
            manager: sub.manager,
            version: sub.version,
            implicit: sub.implicit,
            start: sub.start,
            end: sub.end,
        };
        let notify = NotifyV1_1 {
            uss_base_url: sub.uss_base_url,
            for_oirs: sub.notify_for_oirs,
            for_constraints: sub.notify_for_constraints,
            index: sub.notification_index,
        };
        HEADS_IN_PLACE.put(ctx, &id, &head)?;
        NOTIFY_V1_1.put(ctx, &id, &notify)?;
    }
    ctx.log(Level::Info, &format!("migrated {count} subscriptions from {} to the 1.1 layout", previous.version));
    Ok(())
}

/// 1.1.x and 1.2.x → 1.3, but for the cell indexes.
fn cover_targets(ctx: &mut Ctx, previous: &Info) -> Result<(), Error> {
    let old: Vec<(Id, NotifyV1_1)> = NOTIFY_V1_1.iter(ctx).collect::<Result<_, _>>()?;
    let count = old.len();
    for (id, notify) in old {
        let footprint = FOOTPRINTS_V1_1
            .get(ctx, &id)?
            .ok_or_else(|| Error::internal(format!("subscription {id} has no footprint")))?;
        NOTIFY_V1_1.delete(ctx, &id)?;
        let target = Target {
            uss_base_url: notify.uss_base_url,
            for_oirs: notify.for_oirs,
            for_constraints: notify.for_constraints,
        };
        let Footprint { start, end, alt_lo, alt_hi, cells, cover: () } = footprint;
        FOOTPRINTS_UNINDEXED.put(ctx, &id, &Footprint { start, end, alt_lo, alt_hi, cells, cover: target })?;
        SUBSCRIPTIONS.indices.put(ctx, &id, &notify.index)?;
    }
    ctx.log(Level::Info, &format!("migrated {count} subscriptions from {} to the 1.3 layout", previous.version));
    Ok(())
}
