//! What this version changes in the stored layout, converted when it replaces an older
//! version of the applier (an upgrade through the log: all or nothing, on every node).
//!
//! - 1.0.x → 1.1: a subscription was one row, its notification index in it; it is now a
//!   head and a [`Notify`] row. The head keeps its table, key, window and end (so the
//!   end index and the cell index stay as they are).

use crate::rfc3339::Nanos;
use crate::store::{Notify, SUBSCRIPTION_HEADS, SUBSCRIPTIONS, SubscriptionHead};
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

/// 1.0.x's subscription rows, read and rewritten in place without touching their indexes.
pub(crate) const SUBSCRIPTIONS_V1_0: Table<Id, SubscriptionV1_0> = Table::new(SUBSCRIPTION_HEADS);
const HEADS_IN_PLACE: Table<Id, SubscriptionHead> = Table::new(SUBSCRIPTION_HEADS);

pub fn from(ctx: &mut Ctx, previous: &Info) -> Result<(), Error> {
    if !previous.version.starts_with("1.0.") {
        return Ok(());
    }
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
        let notify = Notify {
            uss_base_url: sub.uss_base_url,
            for_oirs: sub.notify_for_oirs,
            for_constraints: sub.notify_for_constraints,
            index: sub.notification_index,
        };
        HEADS_IN_PLACE.put(ctx, &id, &head)?;
        SUBSCRIPTIONS.notify.put(ctx, &id, &notify)?;
    }
    ctx.log(Level::Info, &format!("migrated {count} subscriptions from {} to the 1.1 layout", previous.version));
    Ok(())
}
