//! The time rules of ISAs and subscriptions (the reference's `AdjustTimeRange`; docs/rid.md),
//! applied at the entry's time: a start omitted is now (or the entity's, on an update), an
//! explicit start at most 5 minutes in the past; an ISA needs an end; a subscription's end
//! defaults to 24 hours after its start and its window may not exceed 24 hours.

use crate::api::Extent;
use dss_common::rfc3339::{NANOS_PER_HOUR, NANOS_PER_MINUTE, Nanos};
use wasmraft_sdk::Error;

/// How far in the past an explicit start may be.
pub const MAX_CLOCK_SKEW: Nanos = 5 * NANOS_PER_MINUTE;
/// The longest subscription, and its default length.
pub const MAX_SUBSCRIPTION: Nanos = 24 * NANOS_PER_HOUR;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Isa,
    Subscription,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Isa => "IdentificationServiceArea",
            Kind::Subscription => "Subscription",
        }
    }
}

/// The window (start, end) of `extent` written at `now` over an entity whose window was
/// `old`, or the reference's 400.
pub fn adjust(kind: Kind, now: Nanos, extent: &Extent, old: Option<(Nanos, Nanos)>) -> Result<(Nanos, Nanos), Error> {
    let name = kind.name();
    let start = match extent.start {
        None => old.map_or(now, |(start, _)| start),
        Some(start) if now.saturating_sub(start) > MAX_CLOCK_SKEW => {
            return Err(Error::bad_request(format!("{name} time_start must not be in the past")));
        }
        Some(start) => start,
    };
    let end = match (extent.end, old, kind) {
        (Some(end), _, _) => end,
        (None, Some((_, end)), _) => end,
        (None, None, Kind::Subscription) => start.saturating_add(MAX_SUBSCRIPTION),
        (None, None, Kind::Isa) => return Err(Error::bad_request(format!("{name} must have an time_end"))),
    };
    // The reference's memory store also refuses an empty ISA window (as a 500).
    if end < start || (kind == Kind::Isa && end == start) {
        return Err(Error::bad_request(format!("{name} time_end must be after time_start")));
    }
    if kind == Kind::Subscription && end - start > MAX_SUBSCRIPTION {
        return Err(Error::bad_request(format!("{name} window exceeds 24 hours")));
    }
    Ok((start, end))
}
