//! The replicated state: tables, their indexes, and the stored records.
//!
//! Each spatial entity (OIR, constraint, subscription) is two rows: a small head with what
//! answers show, and its footprint (cells, time window, altitudes), which carries the cell
//! index. A search filters on the index keys alone and loads only the heads it returns, so
//! a busy cell costs key reads, not record loads. A subscription has a third row, what a
//! notification reads and bumps ([`Notify`]). The key layout is [`CellKey`]'s.

use crate::api::{Availability, OirState, Volume};
use crate::cell_index::{CellKey, Tiers};
use crate::rfc3339::Nanos;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
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
/// not persist them). It is stored as two rows: its [`SubscriptionHead`] and its [`Notify`].
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

/// Whom a subscription tells, of what, and how many times it has: all that a notification
/// reads and writes, in a row of its own without indexes. A write in a busy cell notifies
/// thousands of subscriptions; each costs a small row rewritten, not a head whose indexes
/// must be checked against its previous version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    pub uss_base_url: String,
    pub for_oirs: bool,
    pub for_constraints: bool,
    pub index: i32,
}

impl SubscriptionRecord {
    fn split(&self) -> (SubscriptionHead, Notify) {
        let head = SubscriptionHead {
            manager: self.manager.clone(),
            version: self.version.clone(),
            implicit: self.implicit,
            start: self.start,
            end: self.end,
        };
        let notify = Notify {
            uss_base_url: self.uss_base_url.clone(),
            for_oirs: self.notify_for_oirs,
            for_constraints: self.notify_for_constraints,
            index: self.notification_index,
        };
        (head, notify)
    }

    pub fn joined(head: SubscriptionHead, notify: Notify) -> Self {
        SubscriptionRecord {
            manager: head.manager,
            version: head.version,
            notification_index: notify.index,
            uss_base_url: notify.uss_base_url,
            notify_for_oirs: notify.for_oirs,
            notify_for_constraints: notify.for_constraints,
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
/// window and (OIRs only) its altitudes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    pub start: Nanos,
    pub end: Nanos,
    pub alt_lo: Option<f32>,
    pub alt_hi: Option<f32>,
    pub cells: Vec<u64>,
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

/// Heads and footprints of one kind of spatial entity, with the index from cell to entity.
pub struct Entities<V: 'static> {
    pub heads: Table<Id, V>,
    footprints: Table<Id, Footprint>,
    by_cell: &'static Index<Id, Footprint, CellKey>,
    tiers: &'static Tiers,
}

impl<V: Windowed + Serialize + serde::de::DeserializeOwned> Entities<V> {
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

    pub fn put(&self, ctx: &mut Ctx, id: Id, head: &V, cells: &[u64]) -> Result<(), Error> {
        self.heads.put(ctx, &id, head)?;
        let ((start, end), (alt_lo, alt_hi)) = (head.window(), head.altitudes());
        self.footprints.put(ctx, &id, &Footprint { start, end, alt_lo, alt_hi, cells: cells.to_vec() })
    }

    pub fn delete(&self, ctx: &mut Ctx, id: Id) -> Result<(), Error> {
        self.heads.delete(ctx, &id)?;
        self.footprints.delete(ctx, &id)?;
        Ok(())
    }

    /// Ids of the entities in any of the volume's cells whose windows and altitudes overlap
    /// its own (only OIRs have altitudes in their keys), in id order.
    pub fn in_volume(&self, ctx: &Ctx, volume: &Volume) -> Result<BTreeSet<Id>, Error> {
        let mut ids = BTreeSet::new();
        // The cells are sorted, so their tiers' ranges are too. One scan runs on through
        // the ranges while the keys it meets fall in them, so empty cells and tiers cost
        // nothing; a key short of the next range starts a new scan there.
        let ranges: Vec<_> =
            volume.cells.iter().flat_map(|&cell| self.tiers.ranges(cell, volume.start, volume.end)).collect();
        let Some(&(_, last)) = ranges.last() else { return Ok(ids) };
        let mut ranges = ranges.iter().peekable();
        'scan: while let Some((from, _)) = ranges.peek() {
            for entry in self.by_cell.range(ctx, (Bound::Included(*from), Bound::Included(last))) {
                let (key, id) = entry?;
                while ranges.next_if(|(_, to)| key > *to).is_some() {}
                match ranges.peek() {
                    Some((from, _)) if key < *from => continue 'scan,
                    Some(_) => {}
                    None => break,
                }
                let (lo, hi) = key.altitudes();
                if volume.overlaps_time(key.start, key.end) && volume.overlaps_altitude(Some(lo), Some(hi)) {
                    ids.insert(id);
                }
            }
            break;
        }
        Ok(ids)
    }

    /// The heads of the entities in `volume` that `keep` accepts, in id order, at most
    /// `limit` of them.
    pub fn search(&self, ctx: &Ctx, volume: &Volume, limit: usize, keep: impl FnMut(&V) -> bool) -> Found<V> {
        self.search_loading(ctx, volume, limit, |ctx, id| self.indexed(ctx, id), keep)
    }

    /// As [`Entities::search`], with what `load` makes of each id.
    fn search_loading<T>(
        &self,
        ctx: &Ctx,
        volume: &Volume,
        limit: usize,
        load: impl Fn(&Ctx, Id) -> Result<T, Error>,
        mut keep: impl FnMut(&T) -> bool,
    ) -> Found<T> {
        let mut found = Vec::new();
        for id in self.in_volume(ctx, volume)? {
            if found.len() == limit {
                break;
            }
            let record = load(ctx, id)?;
            if keep(&record) {
                found.push((id, record));
            }
        }
        Ok(found)
    }
}

/// What a search found, in id order.
pub type Found<T> = Result<Vec<(Id, T)>, Error>;

/// Subscriptions: the heads and footprints of [`Entities`], and their [`Notify`] rows.
pub struct Subscriptions {
    entities: Entities<SubscriptionHead>,
    pub notify: Table<Id, Notify>,
}

impl Subscriptions {
    pub fn get(&self, ctx: &Ctx, id: Id) -> Result<Option<SubscriptionRecord>, Error> {
        let Some(head) = self.entities.get(ctx, id)? else { return Ok(None) };
        Ok(Some(SubscriptionRecord::joined(head, self.notify_of(ctx, id)?)))
    }

    /// The notify row of a subscription that exists: its absence is an inconsistency.
    pub fn notify_of(&self, ctx: &Ctx, id: Id) -> Result<Notify, Error> {
        self.notify.get(ctx, &id)?.ok_or_else(|| Error::internal(format!("subscription {id} has no notify row")))
    }

    fn indexed(&self, ctx: &Ctx, id: Id) -> Result<SubscriptionRecord, Error> {
        Ok(SubscriptionRecord::joined(self.entities.indexed(ctx, id)?, self.notify_of(ctx, id)?))
    }

    pub fn cells(&self, ctx: &Ctx, id: Id) -> Result<Vec<u64>, Error> {
        self.entities.cells(ctx, id)
    }

    pub fn put(&self, ctx: &mut Ctx, id: Id, sub: &SubscriptionRecord, cells: &[u64]) -> Result<(), Error> {
        let (head, notify) = sub.split();
        self.entities.put(ctx, id, &head, cells)?;
        self.notify.put(ctx, &id, &notify)
    }

    pub fn delete(&self, ctx: &mut Ctx, id: Id) -> Result<(), Error> {
        self.entities.delete(ctx, id)?;
        self.notify.delete(ctx, &id)?;
        Ok(())
    }

    pub fn in_volume(&self, ctx: &Ctx, volume: &Volume) -> Result<BTreeSet<Id>, Error> {
        self.entities.in_volume(ctx, volume)
    }

    pub fn search(
        &self,
        ctx: &Ctx,
        volume: &Volume,
        limit: usize,
        keep: impl FnMut(&SubscriptionRecord) -> bool,
    ) -> Found<SubscriptionRecord> {
        self.entities.search_loading(ctx, volume, limit, |ctx, id| self.indexed(ctx, id), keep)
    }
}

const HOUR: Nanos = 3_600_000_000_000;
const DAY: Nanos = 24 * HOUR;

/// OIRs are mostly flights of minutes to hours.
const OIR_TIERS: Tiers = Tiers(&[HOUR, DAY]);
const OIR_BY_CELL: Index<Id, Footprint, CellKey> =
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
/// to two scans per cell.
const DAY_TIERS: Tiers = Tiers(&[DAY]);
const CONSTRAINT_BY_CELL: Index<Id, Footprint, CellKey> =
    Index::new("constraint/by-cell", |f| DAY_TIERS.keys(&f.cells, (f.start, f.end), (f.alt_lo, f.alt_hi)));
pub const CONSTRAINT_BY_END: Index<Id, ConstraintRecord, i64> =
    Index::new("constraint/by-end", |c: &ConstraintRecord| vec![c.end]);
pub const CONSTRAINTS: Entities<ConstraintRecord> = Entities {
    heads: Table::new("constraint").with_indexes(&[&CONSTRAINT_BY_END]),
    footprints: Table::new("constraint/footprint").with_indexes(&[&CONSTRAINT_BY_CELL]),
    by_cell: &CONSTRAINT_BY_CELL,
    tiers: &DAY_TIERS,
};

const SUBSCRIPTION_BY_CELL: Index<Id, Footprint, CellKey> =
    Index::new("subscription/by-cell", |f| DAY_TIERS.keys(&f.cells, (f.start, f.end), (f.alt_lo, f.alt_hi)));
pub const SUBSCRIPTION_BY_END: Index<Id, SubscriptionHead, i64> =
    Index::new("subscription/by-end", |s: &SubscriptionHead| vec![s.end]);
/// The table of subscription heads (1.0.x kept whole subscriptions in it).
pub const SUBSCRIPTION_HEADS: &str = "subscription";
pub const SUBSCRIPTIONS: Subscriptions = Subscriptions {
    entities: Entities {
        heads: Table::new(SUBSCRIPTION_HEADS).with_indexes(&[&SUBSCRIPTION_BY_END]),
        footprints: Table::new("subscription/footprint").with_indexes(&[&SUBSCRIPTION_BY_CELL]),
        by_cell: &SUBSCRIPTION_BY_CELL,
        tiers: &DAY_TIERS,
    },
    notify: Table::new("subscription/notify"),
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
