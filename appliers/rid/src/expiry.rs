//! Eviction of what ended long ago (the reference's cron with its `--rid_ttl`, 30 minutes):
//! ISAs and subscriptions whose end is at least the TTL before the entry's time, without
//! notifications. Until then an ended entity is still returned by id, not by searches.

use crate::api::Output;
use crate::isa::MAX_RESULTS;
use crate::store::{Entities, ISAS, SUBSCRIPTIONS};
use dss_common::entry::now;
use dss_common::rfc3339::{NANOS_PER_MINUTE, Nanos};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmraft_sdk::{Ctx, Error, Level};

pub const TTL: Nanos = 30 * NANOS_PER_MINUTE;

/// Removes at most `MAX_RESULTS` of `entities` that ended by `threshold`, the earliest first.
fn remove<H: Serialize + DeserializeOwned>(
    ctx: &mut Ctx,
    entities: &Entities<H>,
    threshold: Nanos,
) -> Result<u32, Error> {
    let ended = entities.ended(ctx, threshold, MAX_RESULTS)?;
    for &id in &ended {
        entities.delete(ctx, id)?;
    }
    Ok(ended.len() as u32)
}

pub fn evict(ctx: &mut Ctx) -> Result<Output, Error> {
    let threshold = now(ctx).saturating_sub(TTL);
    let isas = remove(ctx, &ISAS, threshold)?;
    let subscriptions = remove(ctx, &SUBSCRIPTIONS, threshold)?;
    if isas + subscriptions > 0 {
        ctx.log(
            Level::Info,
            &format!("evicted {isas} ISAs and {subscriptions} subscriptions that ended by {threshold}"),
        );
    }
    Ok(Output::Evicted { isas, subscriptions })
}
