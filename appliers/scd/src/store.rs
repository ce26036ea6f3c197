//! The replicated state: tables, their indexes, and the stored records.
//!
//! Each spatial entity (OIR, constraint, subscription) is two rows: a small head with what
//! answers show, and its footprint (cells, time window, altitudes), which carries the cell
//! index. A search filters on the index keys alone and loads only the heads it returns, so
//! a busy cell costs key reads, not record loads. A subscription's cell index entries also
//! carry whom it tells and of what ([`Target`]), so a notification finds its subscribers in
//! the scan alone; its notification index is a third row, which only a counted
//! notification reads and bumps. The key layout is [`CellKey`]'s.

use crate::api::{Availability, OirState, Volume};
use crate::cell_index::{CellKey, Tiers};
use crate::rfc3339::Nanos;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};
use wasmraft_sdk::{Ctx, Error, Id, Index, Table};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OirRecord {
    pub manager: String,
    pub version: i32,
    pub state: OirState,
    /// The current OVN: requested by the USS, or derived from the time of the last write.
    /// (The reference also keeps past OVNs; no API exposes them, so they are not stored.)
    pub ovn: String,
    pub start: Nanos,
    pub end: Nanos,
    pub alt_lo: Option<f32>,
    pub alt_hi: Option<f32>,
    pub uss_base_url: String,
    pub subscription_id: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstraintRecord {
    pub manager: String,
    pub version: i32,
    pub ovn: String,
    pub start: Nanos,
    pub end: Nanos,
    pub alt_lo: Option<f32>,
    pub alt_hi: Option<f32>,
    pub uss_base_url: String,
}

/// A subscription as the rules see it. Its altitudes are not stored (the reference does
/// not persist them). It is stored as its [`SubscriptionHead`], its footprint with its
/// [`Target`], and its notification index.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRecord {
    pub manager: String,
    /// Changes on every write by a USS (and on implicit extension), not on notifications.
    pub version: String,
    pub notification_index: i32,
    pub uss_base_url: String,
    pub notify_for_oirs: bool,
    pub notify_for_constraints: bool,
    pub implicit: bool,
    pub start: Nanos,
    pub end: Nanos,
}

/// What a notification neither reads nor changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionHead {
    pub manager: String,
    pub version: String,
    pub implicit: bool,
    pub start: Nanos,
    pub end: Nanos,
}

/// Whom a subscription tells and of what: all that a notification reads of it besides its
/// index. Kept in its footprint and covered by its cell index entries: a write in a busy
/// cell notifies thousands of subscriptions, and a row load for each was most of its cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub uss_base_url: String,
    pub for_oirs: bool,
    pub for_constraints: bool,
}

impl SubscriptionRecord {
    fn split(&self) -> (SubscriptionHead, Target) {
        let head = SubscriptionHead {
            manager: self.manager.clone(),
            version: self.version.clone(),
            implicit: self.implicit,
            start: self.start,
            end: self.end,
        };
        let target = Target {
            uss_base_url: self.uss_base_url.clone(),
            for_oirs: self.notify_for_oirs,
            for_constraints: self.notify_for_constraints,
        };
        (head, target)
    }

    pub fn joined(head: SubscriptionHead, target: Target, notification_index: i32) -> Self {
        SubscriptionRecord {
            manager: head.manager,
            version: head.version,
            notification_index,
            uss_base_url: target.uss_base_url,
            notify_for_oirs: target.for_oirs,
            notify_for_constraints: target.for_constraints,
            implicit: head.implicit,
            start: head.start,
            end: head.end,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityRecord {
    pub availability: Availability,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantRecord {
    pub public_endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRecord {
    pub timestamp: Nanos,
    pub reporter: String,
    pub next_expected_before: Option<Nanos>,
}

/// Where, when and how high an entity is: its sorted, deduplicated level-13 cells, its
/// window and (OIRs only) its altitudes; and what its cell index entries carry besides its
/// id (a subscription's [`Target`]; nothing, and no bytes, for the others).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Footprint<C = ()> {
    pub start: Nanos,
    pub end: Nanos,
    pub alt_lo: Option<f32>,
    pub alt_hi: Option<f32>,
    pub cells: Vec<u64>,
    pub cover: C,
}

/// A record with a time window (kept in its footprint too) and maybe altitudes.
pub trait Windowed {
    fn window(&self) -> (Nanos, Nanos);
    fn altitudes(&self) -> (Option<f32>, Option<f32>) {
        (None, None)
    }
}

impl Windowed for OirRecord {
    fn window(&self) -> (Nanos, Nanos) {
        (self.start, self.end)
    }
    fn altitudes(&self) -> (Option<f32>, Option<f32>) {
        (self.alt_lo, self.alt_hi)
    }
}

impl Windowed for ConstraintRecord {
    fn window(&self) -> (Nanos, Nanos) {
        (self.start, self.end)
    }
}

impl Windowed for SubscriptionHead {
    fn window(&self) -> (Nanos, Nanos) {
        (self.start, self.end)
    }
}

/// Heads and footprints of one kind of spatial entity, with the index from cell to entity
/// (which covers `C`).
pub struct Entities<V: 'static, C: 'static = ()> {
    pub heads: Table<Id, V>,
    pub footprints: Table<Id, Footprint<C>>,
    by_cell: &'static Index<Id, Footprint<C>, CellKey, C>,
    tiers: &'static Tiers,
}

impl<V: Windowed + Serialize + DeserializeOwned, C: Clone + Serialize + DeserializeOwned> Entities<V, C> {
    pub fn get(&self, ctx: &Ctx, id: Id) -> Result<Option<V>, Error> {
        self.heads.get(ctx, &id)
    }

    /// The head of an entity that an index named: its absence is an inconsistency.
    pub fn indexed(&self, ctx: &Ctx, id: Id) -> Result<V, Error> {
        self.get(ctx, id)?.ok_or_else(|| {
            Error::internal(format!("an index of {} names {id}, which is not stored", self.heads.name()))
        })
    }

    pub fn cells(&self, ctx: &Ctx, id: Id) -> Result<Vec<u64>, Error> {
        Ok(self.footprints.get(ctx, &id)?.map(|f| f.cells).unwrap_or_default())
    }

    /// What the cell index of an entity that exists covers: its absence is an inconsistency.
    fn cover(&self, ctx: &Ctx, id: Id) -> Result<C, Error> {
        let footprint = self.footprints.get(ctx, &id)?;
        footprint
            .map(|f| f.cover)
            .ok_or_else(|| Error::internal(format!("{id} of {} has no footprint", self.heads.name())))
    }

    pub fn put(&self, ctx: &mut Ctx, id: Id, head: &V, cells: &[u64], cover: C) -> Result<(), Error> {
        self.heads.put(ctx, &id, head)?;
        let ((start, end), (alt_lo, alt_hi)) = (head.window(), head.altitudes());
        self.footprints.put(ctx, &id, &Footprint { start, end, alt_lo, alt_hi, cells: cells.to_vec(), cover })
    }

    pub fn delete(&self, ctx: &mut Ctx, id: Id) -> Result<(), Error> {
        self.heads.delete(ctx, &id)?;
        self.footprints.delete(ctx, &id)?;
        Ok(())
    }

    /// The entities in any of the volume's cells whose windows and altitudes overlap its
    /// own (only OIRs have altitudes in their keys), in id order, once each (one over several
    /// of the volume's cells is met once per cell), with their covers. A busy cell lists
    /// thousands of subscriptions that share a few targets: each distinct cover is decoded
    /// once, and the entities are collected, then sorted.
    pub fn in_volume(&self, ctx: &Ctx, volume: &Volume) -> Result<InVolume<C>, Error> {
        // Ids as the numbers they order as: sorting compares words, not reassembled bytes
        // (wasm has no byte swap).
        let mut ids: Vec<(u128, usize)> = Vec::new();
        // Each distinct encoded cover, by its place in `InVolume::covers`, and the places by
        // cover. Runs of entries share a cover: the last one found is tried first.
        let (mut encoded, mut places, mut last): (Vec<Vec<u8>>, BTreeMap<Vec<u8>, usize>, usize) =
            (Vec::new(), BTreeMap::new(), 0);
        // The cells are sorted, so their tiers' ranges are too. One scan runs on through
        // the ranges while the keys it meets fall in them, so empty cells and tiers cost
        // nothing; a key short of the next range starts a new scan there.
        let ranges: Vec<_> = volume
            .cells
            .iter()
            .flat_map(|&cell| self.tiers.ranges(cell, (volume.start, volume.end), (volume.alt_lo, volume.alt_hi)))
            .collect();
        let Some(&(_, end)) = ranges.last() else { return Ok(InVolume { ids: Vec::new(), covers: Vec::new() }) };
        let mut ranges = ranges.iter().peekable();
        while let Some(&&(from, _)) = ranges.peek() {
            let mut skipped_ahead = false;
            self.by_cell.visit_covered(ctx, (Bound::Included(from), Bound::Included(end)), |key, id, cover| {
                while ranges.next_if(|(_, to)| key > *to).is_some() {}
                match ranges.peek() {
                    Some((from, _)) if key < *from => {
                        skipped_ahead = true;
                        return ControlFlow::Break(());
                    }
                    Some(_) => {}
                    None => return ControlFlow::Break(()),
                }
                let (lo, hi) = key.altitudes();
                if volume.overlaps_time(key.start, key.end) && volume.overlaps_altitude(Some(lo), Some(hi)) {
                    if !encoded.get(last).is_some_and(|known| same_bytes(known, cover)) {
                        last = *places.entry(cover.to_vec()).or_insert_with(|| {
                            encoded.push(cover.to_vec());
                            encoded.len() - 1
                        });
                    }
                    ids.push((u128::from_be_bytes(id.0), last));
                }
                ControlFlow::Continue(())
            })?;
            if !skipped_ahead {
                break;
            }
        }
        let ids = sorted_once(ids).into_iter().map(|(id, at)| (Id(id.to_be_bytes()), at)).collect();
        let covers = encoded.iter().map(|bytes| self.by_cell.decode_cover(bytes)).collect::<Result<_, _>>()?;
        Ok(InVolume { ids, covers })
    }

    /// The heads of the entities in `volume` that `keep` accepts, in id order, at most
    /// `limit` of them.
    pub fn search(&self, ctx: &Ctx, volume: &Volume, limit: usize, keep: impl FnMut(&V) -> bool) -> Found<V> {
        self.search_loading(ctx, volume, limit, |ctx, id, _| self.indexed(ctx, id), keep)
    }

    /// As [`Entities::search`], with what `load` makes of each id.
    fn search_loading<T>(
        &self,
        ctx: &Ctx,
        volume: &Volume,
        limit: usize,
        load: impl Fn(&Ctx, Id, C) -> Result<T, Error>,
        mut keep: impl FnMut(&T) -> bool,
    ) -> Found<T> {
        let mut found = Vec::new();
        let InVolume { ids, covers } = self.in_volume(ctx, volume)?;
        for (id, at) in ids {
            if found.len() == limit {
                break;
            }
            let record = load(ctx, id, covers[at].clone())?;
            if keep(&record) {
                found.push((id, record));
            }
        }
        Ok(found)
    }
}

/// `ids` in order, once each (an id met in several cells has the same cover in each). A
/// counting pass deals them out by their first byte (random in a v4 UUID), then each
/// byte's few are sorted: a busy cell's write lists thousands, and a comparison sort of
/// them all was a fifth of its time in wasm. Ids that share a first byte cost a comparison
/// sort of their bucket, no worse than sorting them all.
fn sorted_once(ids: Vec<(u128, usize)>) -> Vec<(u128, usize)> {
    let first_byte = |id: u128| (id >> 120) as usize;
    let mut starts = [0usize; 257];
    for &(id, _) in &ids {
        starts[first_byte(id) + 1] += 1;
    }
    for b in 0..256 {
        starts[b + 1] += starts[b];
    }
    let mut sorted = vec![(0, 0); ids.len()];
    let mut next = starts;
    for (id, at) in ids {
        let slot = &mut next[first_byte(id)];
        sorted[*slot] = (id, at);
        *slot += 1;
    }
    for bucket in starts.windows(2) {
        sorted[bucket[0]..bucket[1]].sort_unstable_by_key(|&(id, _)| id);
    }
    sorted.dedup_by_key(|&mut (id, _)| id);
    sorted
}

/// Whether `a` and `b` hold the same bytes, compared a word at a time: comparing slices
/// calls wasi-libc's `memcmp`, which compares a byte at a time, and a busy cell's write
/// compares thousands of covers.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().expect("8 bytes"));
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    a.len() == b.len()
        && a_words.remainder() == b_words.remainder()
        && a_words.zip(b_words).all(|(x, y)| word(x) == word(y))
}

/// What [`Entities::in_volume`] found: each entity once, in id order, with where its cover
/// is in `covers` (distinct covers, each decoded once).
pub struct InVolume<C> {
    pub ids: Vec<(Id, usize)>,
    pub covers: Vec<C>,
}

/// What a search found, in id order.
pub type Found<T> = Result<Vec<(Id, T)>, Error>;

/// Subscriptions: the heads and footprints of [`Entities`], their cell index covering
/// their [`Target`]s, and their notification indices.
pub struct Subscriptions {
    pub entities: Entities<SubscriptionHead, Target>,
    pub indices: Table<Id, i32>,
}

impl Subscriptions {
    pub fn get(&self, ctx: &Ctx, id: Id) -> Result<Option<SubscriptionRecord>, Error> {
        let Some(head) = self.entities.get(ctx, id)? else { return Ok(None) };
        Ok(Some(SubscriptionRecord::joined(head, self.entities.cover(ctx, id)?, self.index_of(ctx, id)?)))
    }

    /// The notification index of a subscription that exists: its absence is an inconsistency.
    pub fn index_of(&self, ctx: &Ctx, id: Id) -> Result<i32, Error> {
        self.indices
            .get(ctx, &id)?
            .ok_or_else(|| Error::internal(format!("subscription {id} has no notification index")))
    }

    fn indexed(&self, ctx: &Ctx, id: Id, target: Target) -> Result<SubscriptionRecord, Error> {
        Ok(SubscriptionRecord::joined(self.entities.indexed(ctx, id)?, target, self.index_of(ctx, id)?))
    }

    pub fn cells(&self, ctx: &Ctx, id: Id) -> Result<Vec<u64>, Error> {
        self.entities.cells(ctx, id)
    }

    pub fn put(&self, ctx: &mut Ctx, id: Id, sub: &SubscriptionRecord, cells: &[u64]) -> Result<(), Error> {
        let (head, target) = sub.split();
        self.entities.put(ctx, id, &head, cells, target)?;
        self.indices.put(ctx, &id, &sub.notification_index)
    }

    pub fn delete(&self, ctx: &mut Ctx, id: Id) -> Result<(), Error> {
        self.entities.delete(ctx, id)?;
        self.indices.delete(ctx, &id)?;
        Ok(())
    }

    /// The subscriptions over `volume` (see [`Entities::in_volume`]) and their targets.
    pub fn in_volume(&self, ctx: &Ctx, volume: &Volume) -> Result<InVolume<Target>, Error> {
        self.entities.in_volume(ctx, volume)
    }

    pub fn search(
        &self,
        ctx: &Ctx,
        volume: &Volume,
        limit: usize,
        keep: impl FnMut(&SubscriptionRecord) -> bool,
    ) -> Found<SubscriptionRecord> {
        self.entities.search_loading(ctx, volume, limit, |ctx, id, target| self.indexed(ctx, id, target), keep)
    }
}

const HOUR: Nanos = 3_600_000_000_000;
const DAY: Nanos = 24 * HOUR;

/// OIRs are mostly flights of minutes to hours, in bands of a few to a few hundred metres.
const OIR_TIERS: Tiers = Tiers { spans: &[HOUR, DAY], heights: &[16.0, 256.0] };
pub(crate) const OIR_BY_CELL: Index<Id, Footprint, CellKey> =
    Index::new("oir/by-cell", |f| OIR_TIERS.keys(&f.cells, (f.start, f.end), (f.alt_lo, f.alt_hi)));
pub const OIR_BY_SUBSCRIPTION: Index<Id, OirRecord, Id> =
    Index::new("oir/by-subscription", |o: &OirRecord| o.subscription_id.into_iter().collect());
pub const OIR_BY_END: Index<Id, OirRecord, i64> = Index::new("oir/by-end", |o: &OirRecord| vec![o.end]);
pub const OIRS: Entities<OirRecord> = Entities {
    heads: Table::new("oir").with_indexes(&[&OIR_BY_SUBSCRIPTION, &OIR_BY_END]),
    footprints: Table::new("oir/footprint").with_indexes(&[&OIR_BY_CELL]),
    by_cell: &OIR_BY_CELL,
    tiers: &OIR_TIERS,
};

/// Constraints and subscriptions often last a day or more; one tier keeps their searches
/// to two scans per cell. No altitude tiers: subscriptions have no altitudes, and
/// constraints are few (their altitudes are still tested on the keys).
const DAY_TIERS: Tiers = Tiers { spans: &[DAY], heights: &[] };
pub(crate) const CONSTRAINT_BY_CELL: Index<Id, Footprint, CellKey> =
    Index::new("constraint/by-cell", |f| DAY_TIERS.keys(&f.cells, (f.start, f.end), (f.alt_lo, f.alt_hi)));
pub const CONSTRAINT_BY_END: Index<Id, ConstraintRecord, i64> =
    Index::new("constraint/by-end", |c: &ConstraintRecord| vec![c.end]);
pub const CONSTRAINTS: Entities<ConstraintRecord> = Entities {
    heads: Table::new("constraint").with_indexes(&[&CONSTRAINT_BY_END]),
    footprints: Table::new("constraint/footprint").with_indexes(&[&CONSTRAINT_BY_CELL]),
    by_cell: &CONSTRAINT_BY_CELL,
    tiers: &DAY_TIERS,
};

pub(crate) const SUBSCRIPTION_BY_CELL: Index<Id, Footprint<Target>, CellKey, Target> = Index::covering(
    "subscription/by-cell",
    |f| DAY_TIERS.keys(&f.cells, (f.start, f.end), (f.alt_lo, f.alt_hi)),
    |f| f.cover.clone(),
);
pub const SUBSCRIPTION_BY_END: Index<Id, SubscriptionHead, i64> =
    Index::new("subscription/by-end", |s: &SubscriptionHead| vec![s.end]);
/// The table of subscription heads (1.0.x kept whole subscriptions in it).
pub const SUBSCRIPTION_HEADS: &str = "subscription";
/// The table of subscription footprints (before 1.3 without their targets).
pub const SUBSCRIPTION_FOOTPRINTS: &str = "subscription/footprint";
pub const SUBSCRIPTIONS: Subscriptions = Subscriptions {
    entities: Entities {
        heads: Table::new(SUBSCRIPTION_HEADS).with_indexes(&[&SUBSCRIPTION_BY_END]),
        footprints: Table::new(SUBSCRIPTION_FOOTPRINTS).with_indexes(&[&SUBSCRIPTION_BY_CELL]),
        by_cell: &SUBSCRIPTION_BY_CELL,
        tiers: &DAY_TIERS,
    },
    indices: Table::new("subscription/index"),
};

/// By USS (the `sub` of its access tokens).
pub const AVAILABILITY: Table<String, AvailabilityRecord> = Table::new("availability");
/// DSS instances of the pool, by locality.
pub const PARTICIPANTS: Table<String, ParticipantRecord> = Table::new("participant");
/// The latest heartbeat of each (locality, source).
pub const HEARTBEATS: Table<(String, String), HeartbeatRecord> = Table::new("heartbeat");

/// The ids of the OIRs that rely on subscription `id`, in id order.
pub fn dependents(ctx: &Ctx, id: Id) -> Result<Vec<Id>, Error> {
    OIR_BY_SUBSCRIPTION.lookup(ctx, &id).collect()
}

/// USS availabilities, each read at most once per call (a search may list thousands of
/// OIRs of a handful of managers).
#[derive(Default)]
pub struct Availabilities(BTreeMap<String, Availability>);

impl Availabilities {
    pub fn of(&mut self, ctx: &Ctx, uss: &str) -> Result<Availability, Error> {
        if let Some(a) = self.0.get(uss) {
            return Ok(*a);
        }
        let a = AVAILABILITY.get(ctx, &uss.to_string())?.map(|r| r.availability).unwrap_or_default();
        self.0.insert(uss.to_string(), a);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::{same_bytes, sorted_once};

    #[test]
    fn same_bytes_is_slice_equality() {
        let bytes: Vec<u8> = (0..40).collect();
        for len in 0..bytes.len() {
            let a = &bytes[..len];
            assert!(same_bytes(a, a));
            assert!(!same_bytes(a, &bytes[..len + 1]), "lengths differ at {len}");
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!same_bytes(a, &b), "byte {at} of {len} differs");
            }
        }
    }

    #[test]
    fn sorted_once_is_a_sort_and_dedup() {
        // Random ids, a run sharing a first byte, and repeats (an entity met in two cells).
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut ids: Vec<(u128, usize)> = (0..3_000).map(|_| ((next() as u128) << 64 | next() as u128, 0)).collect();
        ids.extend((0..500).map(|i| ((0xAB_u128 << 120) | next() as u128, i % 3)));
        ids.extend(ids.clone().into_iter().step_by(7));
        let mut expected = ids.clone();
        expected.sort_unstable();
        expected.dedup_by_key(|&mut (id, _)| id);
        assert_eq!(sorted_once(ids), expected);
        assert_eq!(sorted_once(Vec::new()), Vec::new());
    }
}
