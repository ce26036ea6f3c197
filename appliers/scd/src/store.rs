//! The replicated state: tables, their indexes, and the stored records.
//!
//! Each spatial entity (OIR, constraint, subscription) is two rows: a small head with what
//! answers show, and its footprint (cells and time window), which carries the cell index.
//! The index keys are `(cell, end, start, id)`: a search starts its scan of a cell at its own
//! start, past everything that ended before (ended entities stay for the 112-day TTL, so
//! most of a busy cell's entries), and reads the starts off the keys, loading only the
//! heads that overlap it in time. Heads stay free of cell lists, and a notification-index
//! bump rewrites a head without touching the index.

use crate::api::{Availability, OirState, Volume};
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

/// A subscription. Its altitudes are not stored (the reference does not persist them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// Where and when an entity is: its sorted, deduplicated level-13 cells and its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    pub start: Nanos,
    pub end: Nanos,
    pub cells: Vec<u64>,
}

/// A cell index key: a cell, and the end and start of an entity in it.
type CellKey = (u64, Nanos, Nanos);

fn cell_keys(f: &Footprint) -> Vec<CellKey> {
    f.cells.iter().map(|&cell| (cell, f.end, f.start)).collect()
}

/// A record with a time window (kept in its footprint too).
pub trait Windowed {
    fn window(&self) -> (Nanos, Nanos);
}

impl Windowed for OirRecord {
    fn window(&self) -> (Nanos, Nanos) {
        (self.start, self.end)
    }
}

impl Windowed for ConstraintRecord {
    fn window(&self) -> (Nanos, Nanos) {
        (self.start, self.end)
    }
}

impl Windowed for SubscriptionRecord {
    fn window(&self) -> (Nanos, Nanos) {
        (self.start, self.end)
    }
}

/// Heads and footprints of one kind of spatial entity, with the index from cell to entity.
pub struct Entities<V: 'static> {
    pub heads: Table<Id, V>,
    footprints: Table<Id, Footprint>,
    by_cell: &'static Index<Id, Footprint, CellKey>,
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
        let (start, end) = head.window();
        self.footprints.put(ctx, &id, &Footprint { start, end, cells: cells.to_vec() })
    }

    /// Rewrites the head only: for changes that leave the window and cells as they are.
    pub fn put_head(&self, ctx: &mut Ctx, id: Id, head: &V) -> Result<(), Error> {
        self.heads.put(ctx, &id, head)
    }

    pub fn delete(&self, ctx: &mut Ctx, id: Id) -> Result<(), Error> {
        self.heads.delete(ctx, &id)?;
        self.footprints.delete(ctx, &id)?;
        Ok(())
    }

    /// Ids of the entities in any of the volume's cells whose windows overlap its own, in
    /// id order.
    pub fn in_volume(&self, ctx: &Ctx, volume: &Volume) -> Result<BTreeSet<Id>, Error> {
        let mut ids = BTreeSet::new();
        // `end >= volume.start`: where the scan of each cell starts.
        let from_end = volume.start.unwrap_or(Nanos::MIN);
        for &cell in &volume.cells {
            // Inclusive starts and exclusive ends only: the SDK's `Index::range` mis-bounds
            // the other two (its successor key `enc(k) ‖ 0` sorts before `enc(k) ‖ id`).
            let from = Bound::Included((cell, from_end, Nanos::MIN));
            let to =
                cell.checked_add(1).map_or(Bound::Unbounded, |next| Bound::Excluded((next, Nanos::MIN, Nanos::MIN)));
            for entry in self.by_cell.range(ctx, (from, to)) {
                let ((_, end, start), id) = entry?;
                if volume.overlaps_time(start, end) {
                    ids.insert(id);
                }
            }
        }
        Ok(ids)
    }

    /// The heads of the entities in `volume` (cells and time) that `keep` accepts, in id
    /// order, at most `limit` of them.
    pub fn search(
        &self,
        ctx: &Ctx,
        volume: &Volume,
        limit: usize,
        mut keep: impl FnMut(&V) -> bool,
    ) -> Result<Vec<(Id, V)>, Error> {
        let mut found = Vec::new();
        for id in self.in_volume(ctx, volume)? {
            if found.len() == limit {
                break;
            }
            let head = self.indexed(ctx, id)?;
            if keep(&head) {
                found.push((id, head));
            }
        }
        Ok(found)
    }
}

const OIR_BY_CELL: Index<Id, Footprint, CellKey> = Index::new("oir/by-cell", cell_keys);
pub const OIR_BY_SUBSCRIPTION: Index<Id, OirRecord, Id> =
    Index::new("oir/by-subscription", |o: &OirRecord| o.subscription_id.into_iter().collect());
pub const OIR_BY_END: Index<Id, OirRecord, i64> = Index::new("oir/by-end", |o: &OirRecord| vec![o.end]);
pub const OIRS: Entities<OirRecord> = Entities {
    heads: Table::new("oir").with_indexes(&[&OIR_BY_SUBSCRIPTION, &OIR_BY_END]),
    footprints: Table::new("oir/footprint").with_indexes(&[&OIR_BY_CELL]),
    by_cell: &OIR_BY_CELL,
};

const CONSTRAINT_BY_CELL: Index<Id, Footprint, CellKey> = Index::new("constraint/by-cell", cell_keys);
pub const CONSTRAINT_BY_END: Index<Id, ConstraintRecord, i64> =
    Index::new("constraint/by-end", |c: &ConstraintRecord| vec![c.end]);
pub const CONSTRAINTS: Entities<ConstraintRecord> = Entities {
    heads: Table::new("constraint").with_indexes(&[&CONSTRAINT_BY_END]),
    footprints: Table::new("constraint/footprint").with_indexes(&[&CONSTRAINT_BY_CELL]),
    by_cell: &CONSTRAINT_BY_CELL,
};

const SUBSCRIPTION_BY_CELL: Index<Id, Footprint, CellKey> = Index::new("subscription/by-cell", cell_keys);
pub const SUBSCRIPTION_BY_END: Index<Id, SubscriptionRecord, i64> =
    Index::new("subscription/by-end", |s: &SubscriptionRecord| vec![s.end]);
pub const SUBSCRIPTIONS: Entities<SubscriptionRecord> = Entities {
    heads: Table::new("subscription").with_indexes(&[&SUBSCRIPTION_BY_END]),
    footprints: Table::new("subscription/footprint").with_indexes(&[&SUBSCRIPTION_BY_CELL]),
    by_cell: &SUBSCRIPTION_BY_CELL,
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
