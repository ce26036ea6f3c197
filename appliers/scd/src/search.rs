//! The search predicates of the reference (dss-semantics §3): cells overlap, then time and,
//! for OIRs only, altitude, each `COALESCE(…, true)` where a bound is missing.

use crate::api::{Extent, Volume};
use crate::geo;
use crate::rfc3339::Nanos;
use crate::store::{CONSTRAINTS, ConstraintRecord, OIRS, OirRecord, SUBSCRIPTIONS, SubscriptionRecord};
use wasmraft_sdk::{Ctx, Error, Id};

/// The most entities a search returns (the reference's `MaxResultLimit`).
pub const MAX_RESULTS: usize = 10_000;

impl Volume {
    /// `COALESCE(start <= v.end, true) AND COALESCE(end >= v.start, true)`.
    pub fn overlaps_time(&self, start: Nanos, end: Nanos) -> bool {
        self.end.is_none_or(|e| start <= e) && self.start.is_none_or(|s| end >= s)
    }

    /// `COALESCE(upper >= v.lo, true) AND COALESCE(lower <= v.hi, true)`.
    pub fn overlaps_altitude(&self, lower: Option<f32>, upper: Option<f32>) -> bool {
        let above = match (upper, self.alt_lo) {
            (Some(upper), Some(lo)) => upper >= lo,
            _ => true,
        };
        let below = match (lower, self.alt_hi) {
            (Some(lower), Some(hi)) => lower <= hi,
            _ => true,
        };
        above && below
    }

    /// This volume widened to cover `extent` and `cells` too (old ∪ new, for notifications).
    pub fn widened(self, start: Nanos, end: Nanos, cells: &[u64]) -> Volume {
        Volume {
            start: self.start.map(|s| s.min(start)),
            end: self.end.map(|e| e.max(end)),
            cells: geo::union(&self.cells, cells),
            ..self
        }
    }
}

impl Extent {
    pub fn volume(&self) -> Volume {
        Volume {
            start: Some(self.start),
            end: Some(self.end),
            alt_lo: self.alt_lo,
            alt_hi: self.alt_hi,
            cells: self.cells.clone(),
        }
    }
}

/// OIRs in `area`: cells, altitude and time (their index keys carry all three).
pub fn oirs(ctx: &Ctx, area: &Volume) -> Result<Vec<(Id, OirRecord)>, Error> {
    OIRS.search(ctx, area, MAX_RESULTS, |_| true)
}

/// Constraints in `area`: cells and time (no altitude, as the reference: their keys have none).
pub fn constraints(ctx: &Ctx, area: &Volume) -> Result<Vec<(Id, ConstraintRecord)>, Error> {
    CONSTRAINTS.search(ctx, area, MAX_RESULTS, |_| true)
}

/// Subscriptions in `area` (cells and time) that `keep` also accepts.
pub fn subscriptions(
    ctx: &Ctx,
    area: &Volume,
    keep: impl FnMut(&SubscriptionRecord) -> bool,
) -> Result<Vec<(Id, SubscriptionRecord)>, Error> {
    SUBSCRIPTIONS.search(ctx, area, MAX_RESULTS, keep)
}
