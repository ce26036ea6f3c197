//! The layout of the cell indexes: which entities are in a cell, found by time and altitude
//! from the index keys alone.
//!
//! An entity has one entry per cell of its footprint. Its window's length puts it in a
//! tier, ordered by end: tier `t` holds windows of at most `spans[t]`, so a search of
//! `[s, e]` reads only the ends in `[s, e + spans[t]]` there (a window that short and
//! ending later cannot reach back to `e`); the last tier holds the longer windows and reads
//! the ends from `s`. So a busy cell costs a search the entries near its window: neither
//! those that ended long ago (ended entities stay for the 112-day TTL) nor those that start
//! well after it. Ends rather than starts: plans mostly arrive in time order, so the newest
//! windows, which a new plan is searched against, are the latest to end. The altitudes end
//! the key, so the altitude predicate needs no record either.

use crate::rfc3339::Nanos;
use std::cmp::Ordering;
use wasmraft_sdk::keys::Key;

/// The tier of the windows longer than every span (ordered by end).
const LONG: u8 = u8::MAX;

/// The window lengths of the bounded tiers, shortest first (at most 254 of them).
pub struct Tiers(pub &'static [Nanos]);

/// One cell index key (the entity's id follows it in the index entry).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellKey {
    cell: u64,
    tier: u8,
    pub start: Nanos,
    pub end: Nanos,
    /// [`altitude_bits`] of the lower and upper altitudes, absent ones as -∞ and +∞: the
    /// same to the search predicates, whose `COALESCE(…, true)` accepts either.
    lo: u32,
    hi: u32,
}

/// The bits of `a` as an unsigned integer of the same order (IEEE 754 total order).
fn altitude_bits(a: f32) -> u32 {
    let bits = a.to_bits();
    if bits >> 31 == 1 { !bits } else { bits | 1 << 31 }
}

fn altitude_of(bits: u32) -> f32 {
    f32::from_bits(if bits >> 31 == 1 { bits & !(1 << 31) } else { !bits })
}

impl CellKey {
    /// The lower and upper altitudes, ∓∞ where absent.
    pub fn altitudes(&self) -> (f32, f32) {
        (altitude_of(self.lo), altitude_of(self.hi))
    }

    /// The bound of a scan of `tier` in `cell` at `end`, below (`high` false) or above
    /// every entry that ends then.
    fn bound(cell: u64, tier: u8, end: Nanos, high: bool) -> CellKey {
        let (start, alt) = if high { (Nanos::MAX, u32::MAX) } else { (Nanos::MIN, 0) };
        CellKey { cell, tier, start, end, lo: alt, hi: alt }
    }
}

impl CellKey {
    /// The fields in key order.
    fn ordered(&self) -> (u64, u8, Nanos, Nanos, u32, u32) {
        (self.cell, self.tier, self.end, self.start, self.lo, self.hi)
    }
}

/// The order of the encodings.
impl PartialOrd for CellKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.ordered().cmp(&other.ordered()))
    }
}

impl Key for CellKey {
    fn encode(&self, out: &mut Vec<u8>) {
        let (cell, tier, end, start, lo, hi) = self.ordered();
        (cell, tier, end, start).encode(out);
        (lo, hi).encode(out);
    }

    fn decode(input: &mut &[u8]) -> Option<Self> {
        let (cell, tier, end, start) = <(u64, u8, Nanos, Nanos)>::decode(input)?;
        let (lo, hi) = <(u32, u32)>::decode(input)?;
        Some(CellKey { cell, tier, start, end, lo, hi })
    }
}

impl Tiers {
    fn tier_of(&self, start: Nanos, end: Nanos) -> u8 {
        let length = end.saturating_sub(start);
        self.0.iter().position(|&span| length <= span).map_or(LONG, |t| t as u8)
    }

    /// The index keys of an entity in `cells` over `[start, end]` at altitudes `lo`-`hi`.
    pub fn keys(
        &self,
        cells: &[u64],
        (start, end): (Nanos, Nanos),
        (lo, hi): (Option<f32>, Option<f32>),
    ) -> Vec<CellKey> {
        let tier = self.tier_of(start, end);
        let (lo, hi) = (altitude_bits(lo.unwrap_or(f32::NEG_INFINITY)), altitude_bits(hi.unwrap_or(f32::INFINITY)));
        cells.iter().map(|&cell| CellKey { cell, tier, start, end, lo, hi }).collect()
    }

    /// The key ranges (both ends included) a search of `[start, end]` reads in `cell`, one
    /// per tier, in key order. They hold every entry whose window overlaps it, and others,
    /// which the caller tests.
    pub fn ranges(&self, cell: u64, start: Option<Nanos>, end: Option<Nanos>) -> Vec<(CellKey, CellKey)> {
        let (start, end) = (start.unwrap_or(Nanos::MIN), end.unwrap_or(Nanos::MAX));
        let short = self.0.iter().enumerate().map(|(t, span)| {
            let t = t as u8;
            (CellKey::bound(cell, t, start, false), CellKey::bound(cell, t, end.saturating_add(*span), true))
        });
        let long = (CellKey::bound(cell, LONG, start, false), CellKey::bound(cell, LONG, Nanos::MAX, true));
        short.chain([long]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn altitude_bits_keep_the_order_and_the_value() {
        let values = [f32::NEG_INFINITY, -1e30, -120.5, -0.0, 0.0, 1e-40, 0.5, 120.0, 8848.0, 1e30, f32::INFINITY];
        for pair in values.windows(2) {
            assert!(altitude_bits(pair[0]) < altitude_bits(pair[1]), "{pair:?}");
        }
        for v in values {
            assert_eq!(altitude_of(altitude_bits(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn keys_compare_as_their_encodings() {
        let tiers = Tiers(&[10]);
        let keys: Vec<CellKey> = [(0, 5), (0, 50), (3, 4), (-9, 400), (1, 2)]
            .into_iter()
            .flat_map(|w| tiers.keys(&[1, 2], w, (Some(3.0), Some(1.0))))
            .collect();
        for a in &keys {
            for b in &keys {
                assert_eq!(a.partial_cmp(b), Some(a.to_key_bytes().cmp(&b.to_key_bytes())), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn keys_round_trip_in_every_tier() {
        let tiers = Tiers(&[10, 100]);
        for (start, end) in [(0, 5), (0, 50), (0, 5000), (-7, Nanos::MAX)] {
            for key in tiers.keys(&[3, 9], (start, end), (Some(-1.5), None)) {
                assert_eq!(CellKey::from_key_bytes(&key.to_key_bytes()), Some(key));
                assert_eq!((key.start, key.end), (start, end));
                assert_eq!(key.altitudes(), (-1.5, f32::INFINITY));
            }
        }
    }

    /// Every window that overlaps the search's is inside one of its ranges, whatever its tier.
    #[test]
    fn ranges_hold_every_overlapping_window() {
        let tiers = Tiers(&[10, 100]);
        let windows: Vec<(Nanos, Nanos)> =
            (-300..300).step_by(7).flat_map(|s| [0, 3, 10, 11, 99, 100, 101, 400].map(|d| (s, s + d))).collect();
        let searches = [(Some(0), Some(0)), (Some(-50), Some(20)), (None, Some(5)), (Some(150), None), (None, None)];
        for (s, e) in searches {
            for &(start, end) in &windows {
                let overlaps = s.is_none_or(|s| end >= s) && e.is_none_or(|e| start <= e);
                let key = tiers.keys(&[42], (start, end), (None, None))[0].to_key_bytes();
                let inside = tiers
                    .ranges(42, s, e)
                    .iter()
                    .any(|(from, to)| from.to_key_bytes() <= key && key <= to.to_key_bytes());
                assert!(inside || !overlaps, "[{start}, {end}] overlaps {s:?}..{e:?} but is in no range");
                let other_cell = tiers.keys(&[43], (start, end), (None, None))[0].to_key_bytes();
                assert!(
                    !tiers
                        .ranges(42, s, e)
                        .iter()
                        .any(|(from, to)| from.to_key_bytes() <= other_cell && other_cell <= to.to_key_bytes())
                );
            }
        }
    }
}
