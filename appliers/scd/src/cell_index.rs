//! The layout of the cell indexes: which entities are in a cell, found by time and altitude
//! from the index keys alone.
//!
//! An entity has one entry per cell of its footprint. Its window's length puts it in a
//! time tier, ordered by end: tier `t` holds windows of at most `spans[t]`, so a search of
//! `[s, e]` reads only the ends in `[s, e + spans[t]]` there (a window that short and
//! ending later cannot reach back to `e`); the last tier holds the longer windows and reads
//! the ends from `s`. So a busy cell costs a search the entries near its window: neither
//! those that ended long ago (ended entities stay for the 112-day TTL) nor those that start
//! well after it. Ends rather than starts: plans mostly arrive in time order, so the newest
//! windows, which a new plan is searched against, are the latest to end.
//!
//! With altitude tiers (OIRs), an entity of a bounded time tier whose height is at most
//! `heights[a]` is also filed under altitude tier `a`, by the bucket of `spans[t]` its end
//! falls in and then by the band of `heights[a]` its lower altitude falls in: a search
//! reads, per bucket of its end range, only the bands that can reach its altitudes. So a
//! cell full of flights at other heights costs a search a few range reads, not a key each.
//! Taller entities, those of the longest time tier and every entity of an index without
//! altitude tiers sit in the tall tier, ordered by end alone. The altitudes end the key, so
//! the altitude predicate needs no record either.

use crate::rfc3339::Nanos;
use std::cmp::Ordering;
use wasmraft_sdk::keys::Key;

/// The tier, of time or altitude, of what is longer or taller than every bound.
const LONG: u8 = u8::MAX;

/// Beyond this many buckets, a search reads a tier's whole end range as one range.
const MAX_BUCKETS: i64 = 8;

/// The window lengths of the bounded time tiers, shortest first, and the heights of the
/// bounded altitude tiers, lowest first (at most 254 of each; no heights: no altitude tiers).
pub struct Tiers {
    pub spans: &'static [Nanos],
    pub heights: &'static [f64],
}

/// One cell index key (the entity's id follows it in the index entry).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellKey {
    cell: u64,
    tier: u8,
    /// The altitude tier ([`LONG`] for the tall tier), its end's bucket and its lower
    /// altitude's band (both 0 in the tall tier).
    alt: u8,
    bucket: i64,
    band: i32,
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

/// The band of `height` that altitude `a` falls in (saturating: monotonic in `a`).
fn band_of(a: f64, height: f64) -> i32 {
    (a / height).floor() as i32
}

impl CellKey {
    /// The lower and upper altitudes, ∓∞ where absent.
    pub fn altitudes(&self) -> (f32, f32) {
        (altitude_of(self.lo), altitude_of(self.hi))
    }

    /// The fields in key order.
    fn ordered(&self) -> (u64, u8, u8, i64, i32, Nanos, Nanos, u32, u32) {
        (self.cell, self.tier, self.alt, self.bucket, self.band, self.end, self.start, self.lo, self.hi)
    }
}

/// One end of a range of keys: below (`high` false) or above every key at its place.
#[derive(Clone, Copy)]
struct Place {
    cell: u64,
    tier: u8,
    alt: u8,
    bucket: i64,
    band: i32,
    end: Nanos,
}

impl Place {
    fn bound(self, high: bool) -> CellKey {
        let Place { cell, tier, alt, bucket, band, end } = self;
        let (start, altitude) = if high { (Nanos::MAX, u32::MAX) } else { (Nanos::MIN, 0) };
        CellKey { cell, tier, alt, bucket, band, start, end, lo: altitude, hi: altitude }
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
        let (cell, tier, alt, bucket, band, end, start, lo, hi) = self.ordered();
        (cell, tier, alt, bucket).encode(out);
        (band, end, start).encode(out);
        (lo, hi).encode(out);
    }

    fn decode(input: &mut &[u8]) -> Option<Self> {
        let (cell, tier, alt, bucket) = <(u64, u8, u8, i64)>::decode(input)?;
        let (band, end, start) = <(i32, Nanos, Nanos)>::decode(input)?;
        let (lo, hi) = <(u32, u32)>::decode(input)?;
        Some(CellKey { cell, tier, alt, bucket, band, start, end, lo, hi })
    }
}

#[cfg(test)]
impl CellKey {
    /// The key as SCD 1.2 encoded it: no altitude tier, bucket or band.
    pub fn encode_v1_2(&self, out: &mut Vec<u8>) {
        (self.cell, self.tier, self.end, self.start).encode(out);
        (self.lo, self.hi).encode(out);
    }
}

impl Tiers {
    fn tier_of(&self, start: Nanos, end: Nanos) -> u8 {
        let length = end.saturating_sub(start);
        self.spans.iter().position(|&span| length <= span).map_or(LONG, |t| t as u8)
    }

    /// The index keys of an entity in `cells` over `[start, end]` at altitudes `lo`-`hi`.
    pub fn keys(
        &self,
        cells: &[u64],
        (start, end): (Nanos, Nanos),
        (lo, hi): (Option<f32>, Option<f32>),
    ) -> Vec<CellKey> {
        let tier = self.tier_of(start, end);
        let (lo, hi) = (lo.unwrap_or(f32::NEG_INFINITY), hi.unwrap_or(f32::INFINITY));
        // Exact in f64; an absent or infinite altitude, or a NaN, is in no bounded tier.
        let height = f64::from(hi) - f64::from(lo);
        let alt = match self.spans.get(usize::from(tier)) {
            Some(_) => self.heights.iter().position(|&h| height <= h).map_or(LONG, |a| a as u8),
            None => LONG,
        };
        let (bucket, band) = match alt {
            LONG => (0, 0),
            a => (end.div_euclid(self.spans[usize::from(tier)]), band_of(f64::from(lo), self.heights[usize::from(a)])),
        };
        let (lo, hi) = (altitude_bits(lo), altitude_bits(hi));
        cells.iter().map(|&cell| CellKey { cell, tier, alt, bucket, band, start, end, lo, hi }).collect()
    }

    /// The key ranges (both ends included) a search of `[start, end]` at altitudes
    /// `alt_lo`-`alt_hi` reads in `cell`, in key order. They hold every entry that overlaps
    /// it, and others, which the caller tests.
    pub fn ranges(
        &self,
        cell: u64,
        (start, end): (Option<Nanos>, Option<Nanos>),
        (alt_lo, alt_hi): (Option<f32>, Option<f32>),
    ) -> Vec<(CellKey, CellKey)> {
        let (start, end) = (start.unwrap_or(Nanos::MIN), end.unwrap_or(Nanos::MAX));
        let (alt_lo, alt_hi) =
            (f64::from(alt_lo.unwrap_or(f32::NEG_INFINITY)), f64::from(alt_hi.unwrap_or(f32::INFINITY)));
        let mut ranges = Vec::new();
        let tall = |tier, end| Place { cell, tier, alt: LONG, bucket: 0, band: 0, end };
        for (t, &span) in self.spans.iter().enumerate() {
            let (tier, last_end) = (t as u8, end.saturating_add(span));
            for (a, &height) in self.heights.iter().enumerate() {
                let alt = a as u8;
                // One band of slack below: an entity's height, rounded, may pass its bound.
                let bands = (band_of(alt_lo - height, height).saturating_sub(1), band_of(alt_hi, height));
                let buckets = (start.div_euclid(span), last_end.div_euclid(span));
                let place = |bucket, band| Place { cell, tier, alt, bucket, band, end: Nanos::MIN };
                if buckets.1 - buckets.0 >= MAX_BUCKETS {
                    let (low, high) = (place(buckets.0, i32::MIN), place(buckets.1, i32::MAX));
                    ranges.push((low.bound(false), Place { end: Nanos::MAX, ..high }.bound(true)));
                    continue;
                }
                for bucket in buckets.0..=buckets.1 {
                    let (low, high) = (place(bucket, bands.0), place(bucket, bands.1));
                    ranges.push((low.bound(false), Place { end: Nanos::MAX, ..high }.bound(true)));
                }
            }
            ranges.push((tall(tier, start).bound(false), tall(tier, last_end).bound(true)));
        }
        ranges.push((tall(LONG, start).bound(false), tall(LONG, Nanos::MAX).bound(true)));
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIME: Tiers = Tiers { spans: &[10, 100], heights: &[] };
    const BOTH: Tiers = Tiers { spans: &[10, 100], heights: &[2.0, 50.0] };

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
        let windows = [(0, 5), (0, 50), (3, 4), (-9, 400), (1, 2), (-25, -20)];
        let altitudes = [(Some(3.0), Some(1.0)), (Some(-7.5), Some(-6.0)), (Some(10.0), Some(40.0)), (None, Some(3.0))];
        let keys: Vec<CellKey> =
            windows.into_iter().flat_map(|w| altitudes.map(|a| BOTH.keys(&[1, 2], w, a))).flatten().collect();
        for a in &keys {
            for b in &keys {
                assert_eq!(a.partial_cmp(b), Some(a.to_key_bytes().cmp(&b.to_key_bytes())), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn keys_round_trip_in_every_tier() {
        for tiers in [&TIME, &BOTH] {
            for (start, end) in [(0, 5), (0, 50), (0, 5000), (-7, Nanos::MAX)] {
                for (lo, hi) in [(Some(-1.5), None), (Some(-1.5), Some(0.0)), (Some(3.0), Some(40.0))] {
                    for key in tiers.keys(&[3, 9], (start, end), (lo, hi)) {
                        assert_eq!(CellKey::from_key_bytes(&key.to_key_bytes()), Some(key));
                        assert_eq!((key.start, key.end), (start, end));
                        assert_eq!(key.altitudes(), (lo.unwrap(), hi.unwrap_or(f32::INFINITY)));
                    }
                }
            }
        }
    }

    /// Without altitude tiers, every entity is in the tall tier: the layout is by end alone.
    #[test]
    fn without_heights_every_entity_is_tall() {
        for key in TIME.keys(&[1], (0, 5), (Some(1.0), Some(1.5))) {
            assert_eq!((key.alt, key.bucket, key.band), (LONG, 0, 0));
        }
    }

    /// Every entity that overlaps a search in time and altitude is inside one of its ranges,
    /// whatever its tiers; none of another cell is.
    #[test]
    fn ranges_hold_every_overlapping_entity() {
        let windows: Vec<(Nanos, Nanos)> =
            (-300..300).step_by(7).flat_map(|s| [0, 3, 10, 11, 99, 100, 101, 400].map(|d| (s, s + d))).collect();
        let altitudes: Vec<(Option<f32>, Option<f32>)> = [-60.0f32, -2.0, -0.5, 0.0, 1.0, 1.9, 2.0, 3.5, 48.0, 120.0]
            .into_iter()
            .flat_map(|lo| [0.0f32, 0.5, 2.0, 2.5, 50.0, 51.0, 500.0].map(|h| (Some(lo), Some(lo + h))))
            .chain([(None, Some(3.0)), (Some(1.0), None), (None, None)])
            .collect();
        let times = [(Some(0), Some(0)), (Some(-50), Some(20)), (None, Some(5)), (Some(150), None), (None, None)];
        let heights = [
            (Some(0.0), Some(1.0)),
            (Some(-3.0), Some(-2.5)),
            (Some(49.0), Some(49.0)),
            (None, Some(2.0)),
            (None, None),
        ];
        let overlaps = |(s, e): (Option<Nanos>, Option<Nanos>), (start, end): (Nanos, Nanos)| {
            s.is_none_or(|s| end >= s) && e.is_none_or(|e| start <= e)
        };
        let overlaps_altitude = |(qlo, qhi): (Option<f32>, Option<f32>), (lo, hi): (Option<f32>, Option<f32>)| {
            hi.zip(qlo).is_none_or(|(hi, qlo)| hi >= qlo) && lo.zip(qhi).is_none_or(|(lo, qhi)| lo <= qhi)
        };
        for tiers in [&TIME, &BOTH] {
            for time in times {
                for height in heights {
                    let ranges: Vec<(Vec<u8>, Vec<u8>)> = tiers
                        .ranges(42, time, height)
                        .iter()
                        .map(|(f, t)| (f.to_key_bytes(), t.to_key_bytes()))
                        .collect();
                    let inside =
                        |key: &[u8]| ranges.iter().any(|(from, to)| from.as_slice() <= key && key <= to.as_slice());
                    for &window in &windows {
                        for &altitude in &altitudes {
                            let key = tiers.keys(&[42], window, altitude)[0].to_key_bytes();
                            let wanted = overlaps(time, window) && overlaps_altitude(height, altitude);
                            assert!(
                                inside(&key) || !wanted,
                                "{window:?} {altitude:?} overlaps {time:?} {height:?} but is in no range"
                            );
                            assert!(!inside(&tiers.keys(&[43], window, altitude)[0].to_key_bytes()));
                        }
                    }
                }
            }
        }
    }

    /// In a busy cell of short flights at every height, a search reads the entries near its
    /// own height, not the cell.
    #[test]
    fn ranges_leave_out_entities_at_other_heights() {
        let tiers = Tiers { spans: &[100], heights: &[16.0] };
        let keys: Vec<Vec<u8>> = (0..1000)
            .map(|i| tiers.keys(&[7], (0, 60), (Some(i as f32 * 10.0), Some(i as f32 * 10.0 + 1.0)))[0].to_key_bytes())
            .collect();
        let ranges = tiers.ranges(7, (Some(10), Some(70)), (Some(5000.0), Some(5001.0)));
        let read = keys
            .iter()
            .filter(|k| ranges.iter().any(|(from, to)| from.to_key_bytes() <= **k && **k <= to.to_key_bytes()))
            .count();
        assert!((1..=8).contains(&read), "{read} of 1000 read");
    }
}
