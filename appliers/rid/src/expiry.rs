//! Eviction (docs/rid.md §8), as the reference's cron with its `--rid_ttl`: ISAs and
//! subscriptions that ended at least the TTL before the entry's time are removed, without
//! notifications. Until then an ended entity is returned by id, though no search finds it.

use crate::api::Output;
use crate::isa::MAX_RESULTS;
use crate::store::{Entities, ISAS, Owned, SUBSCRIPTIONS};
use dss_common::entry::now;
use dss_common::rfc3339::{NANOS_PER_MINUTE, Nanos};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmraft_sdk::{Ctx, Error, Level};

/// How long an ended ISA or subscription is kept (the reference's default `--rid_ttl`).
pub const TTL: Nanos = 30 * NANOS_PER_MINUTE;

/// Removes at most `MAX_RESULTS` of `entities` that ended by `threshold`, the earliest first
/// (as the reference lists them with its result limit).
fn remove<R: Owned + Serialize + DeserializeOwned>(
    ctx: &mut Ctx,
    entities: &Entities<R>,
    threshold: Nanos,
) -> Result<u32, Error> {
    let ended = entities.ended_by(ctx, threshold, MAX_RESULTS)?;
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
