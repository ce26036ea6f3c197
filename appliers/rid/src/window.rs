//! The time rules of ISAs and subscriptions (the reference's `AdjustTimeRange`, docs/rid.md
//! §5 and §6), applied at the entry's time: the window a write gets from its request, the
//! entity's previous window (on an update) and now.

use crate::api::Extent;
use dss_common::rfc3339::{NANOS_PER_HOUR, NANOS_PER_MINUTE, Nanos};
use wasmraft_sdk::Error;

/// How far in the past an explicit start may be.
const MAX_CLOCK_SKEW: Nanos = 5 * NANOS_PER_MINUTE;
/// The longest subscription, and the length of one whose end is not given.
const MAX_SUBSCRIPTION: Nanos = 24 * NANOS_PER_HOUR;

/// The start: as requested, at most 5 minutes in the past; else the previous one; else now.
fn start(what: &str, now: Nanos, requested: Option<Nanos>, old: Option<(Nanos, Nanos)>) -> Result<Nanos, Error> {
    match requested {
        Some(start) if now.saturating_sub(start) > MAX_CLOCK_SKEW => {
            Err(Error::bad_request(format!("{what} time_start must not be in the past")))
        }
        Some(start) => Ok(start),
        None => Ok(old.map_or(now, |(start, _)| start)),
    }
}

/// An ISA's window: its end is required (on an update, the previous one serves), and there
/// is no longest ISA.
pub fn isa(now: Nanos, extent: &Extent, old: Option<(Nanos, Nanos)>) -> Result<(Nanos, Nanos), Error> {
    const WHAT: &str = "IdentificationServiceArea";
    let start = start(WHAT, now, extent.start, old)?;
    let end = extent
        .end
        .or(old.map(|(_, end)| end))
        .ok_or_else(|| Error::bad_request(format!("{WHAT} must have an time_end")))?;
    if end < start {
        return Err(Error::bad_request(format!("{WHAT} time_end must be after time_start")));
    }
    // The reference's memory store refuses an empty window too (as a 500).
    if end == start {
        return Err(Error::bad_request("Start time must be strictly before end time"));
    }
    Ok((start, end))
}

/// A subscription's window: its end defaults to 24 hours after its start (on an update, to
/// the previous end), and it may last 24 hours at most.
pub fn subscription(now: Nanos, extent: &Extent, old: Option<(Nanos, Nanos)>) -> Result<(Nanos, Nanos), Error> {
    const WHAT: &str = "Subscription";
    let start = start(WHAT, now, extent.start, old)?;
    let end = extent.end.or(old.map(|(_, end)| end)).unwrap_or(start.saturating_add(MAX_SUBSCRIPTION));
    if end < start {
        return Err(Error::bad_request(format!("{WHAT} time_end must be after time_start")));
    }
    if end - start > MAX_SUBSCRIPTION {
        return Err(Error::bad_request(format!("{WHAT} window exceeds 24 hours")));
    }
    Ok((start, end))
}
