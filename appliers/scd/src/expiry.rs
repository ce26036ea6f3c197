//! Eviction of what ended long ago (the reference's `db-manager evict` cron with its
//! `--scd_ttl`): OIRs, subscriptions and constraints whose end is at least the TTL before
//! the entry's time, without notifications. The reference's cron leaves constraints alone;
//! they are evicted here too, so that nothing outlives its end forever.

use crate::api::Output;
use crate::entry::now;
use crate::rfc3339::{NANOS_PER_DAY, Nanos};
use crate::search::MAX_RESULTS;
use crate::store::{CONSTRAINT_BY_END, CONSTRAINTS, OIR_BY_END, OIRS, SUBSCRIPTION_BY_END, SUBSCRIPTIONS, dependents};
use std::collections::BTreeSet;
use wasmraft_sdk::{Ctx, Error, Id, Index, Level};

/// How long an ended entity is kept (the reference's default `--scd_ttl`, 112 days).
pub const TTL: Nanos = 112 * NANOS_PER_DAY;

/// The ids (in id order) of at most `MAX_RESULTS` of the entities that ended by
/// `threshold`, the earliest ended first (as the reference's `ListExpired*` with its limit).
fn ended<V>(ctx: &Ctx, by_end: &Index<Id, V, i64>, threshold: Nanos) -> Result<BTreeSet<Id>, Error> {
    by_end.range(ctx, ..=threshold).take(MAX_RESULTS).map(|entry| entry.map(|(_, id)| id)).collect()
}

fn remove(ctx: &mut Ctx, ids: &BTreeSet<Id>, delete: impl Fn(&mut Ctx, Id) -> Result<(), Error>) -> Result<u32, Error> {
    for &id in ids {
        delete(ctx, id)?;
    }
    Ok(ids.len() as u32)
}

pub fn evict(ctx: &mut Ctx) -> Result<Output, Error> {
    let threshold = now(ctx).saturating_sub(TTL);
    let oirs = remove(ctx, &ended(ctx, &OIR_BY_END, threshold)?, |ctx, id| OIRS.delete(ctx, id))?;
    // After the OIRs: a subscription some OIR still relies on stays (which cannot happen
    // while subscriptions cover their OIRs, but a dangling reference would be a 500 later).
    let mut unused = BTreeSet::new();
    for id in ended(ctx, &SUBSCRIPTION_BY_END, threshold)? {
        if dependents(ctx, id)?.is_empty() {
            unused.insert(id);
        }
    }
    let subscriptions = remove(ctx, &unused, |ctx, id| SUBSCRIPTIONS.delete(ctx, id))?;
    let constraints = remove(ctx, &ended(ctx, &CONSTRAINT_BY_END, threshold)?, |ctx, id| CONSTRAINTS.delete(ctx, id))?;
    if oirs + subscriptions + constraints > 0 {
        ctx.log(
            Level::Info,
            &format!("evicted {oirs} OIRs, {subscriptions} subscriptions and {constraints} constraints that ended by {threshold}"),
        );
    }
    Ok(Output::Evicted { oirs, constraints, subscriptions })
}
