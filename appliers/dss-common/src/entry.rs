//! What `apply` and `query` know about the entry they run for: its time and its caller.

use crate::rfc3339::Nanos;
use wasmraft_sdk::{Ctx, Error};

/// The entry's time (the proposer's clock, monotonic across entries).
pub fn now(ctx: &Ctx) -> Nanos {
    // Nanoseconds since 1970 fit an i64 until 2262.
    Nanos::try_from(ctx.now().as_nanos()).unwrap_or(Nanos::MAX)
}

/// The USS on whose behalf the entry runs (the `sub` of its access token): SCD's manager,
/// RID's owner.
pub fn subject(ctx: &Ctx) -> Result<String, Error> {
    ctx.caller().map(|c| c.subject.clone()).ok_or_else(|| Error::permission_denied("Missing manager"))
}
