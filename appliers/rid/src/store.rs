//! The replicated state: ISAs and subscriptions, one store for both API versions.
//!
//! Each entity is two rows: what answers show ([`Isa`], [`Subscription`]) and its
//! [`Footprint`] (owner, end and cells), which carries every index. The cell indexes are
//! keyed by cell then end, so a search or a notification reads from the time it cares about
//! and never meets what has ended (ended entities stay until eviction, docs/rid.md §8); the
//! subscriptions' index by owner, cell and end counts an owner's live subscriptions in a
//! cell from its keys alone. A notification rewrites only the subscription's row, which has
//! no index.

use crate::api::{Isa, Subscription};
use dss_common::rfc3339::Nanos;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use wasmraft_sdk::{Ctx, Error, Id, Index, Table};

/// Whose an entity is and until when: what its footprint repeats of its row.
pub trait Owned {
    fn owner(&self) -> &str;
    fn end(&self) -> Nanos;
}

impl Owned for Isa {
    fn owner(&self) -> &str {
        &self.owner
    }
    fn end(&self) -> Nanos {
        self.end
    }
}

impl Owned for Subscription {
    fn owner(&self) -> &str {
        &self.owner
    }
    fn end(&self) -> Nanos {
        self.end
    }
}

/// What the indexes are built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    pub owner: String,
    pub end: Nanos,
    /// Sorted, deduplicated level-13 cell ids.
    pub cells: Vec<u64>,
}

/// The rows and footprints of one kind of entity, with its indexes by cell and by end.
pub struct Entities<R: 'static> {
    rows: Table<Id, R>,
    footprints: Table<Id, Footprint>,
    by_cell: &'static Index<Id, Footprint, (u64, Nanos)>,
    by_end: &'static Index<Id, Footprint, Nanos>,
}

impl<R: Owned + Serialize + DeserializeOwned> Entities<R> {
    pub fn get(&self, ctx: &Ctx, id: Id) -> Result<Option<R>, Error> {
        self.rows.get(ctx, &id)
    }

    /// The row of an entity an index named: its absence is an inconsistency.
    pub fn indexed(&self, ctx: &Ctx, id: Id) -> Result<R, Error> {
        self.get(ctx, id)?
            .ok_or_else(|| Error::internal(format!("an index of {} names {id}, which is not stored", self.rows.name())))
    }

    pub fn cells(&self, ctx: &Ctx, id: Id) -> Result<Vec<u64>, Error> {
        Ok(self.footprints.get(ctx, &id)?.map(|f| f.cells).unwrap_or_default())
    }

    pub fn put(&self, ctx: &mut Ctx, id: Id, row: &R, cells: &[u64]) -> Result<(), Error> {
        assert!(
            !cells.is_empty() && cells.windows(2).all(|pair| pair[0] < pair[1]),
            "an entity's cells are sorted, distinct and not empty"
        );
        self.rows.put(ctx, &id, row)?;
        let footprint = Footprint { owner: row.owner().to_string(), end: row.end(), cells: cells.to_vec() };
        self.footprints.put(ctx, &id, &footprint)
    }

    /// Rewrites the row of an entity whose owner, end and cells stay (a notification's bump).
    pub fn put_row(&self, ctx: &mut Ctx, id: Id, row: &R) -> Result<(), Error> {
        self.rows.put(ctx, &id, row)
    }

    pub fn delete(&self, ctx: &mut Ctx, id: Id) -> Result<(), Error> {
        self.rows.delete(ctx, &id)?;
        self.footprints.delete(ctx, &id)?;
        Ok(())
    }

    /// The ids, in id order, of the entities in any of `cells` that end at or after `from`.
    pub fn ending_from(&self, ctx: &Ctx, cells: &[u64], from: Nanos) -> Result<BTreeSet<Id>, Error> {
        let mut ids = BTreeSet::new();
        for &cell in cells {
            for entry in self.by_cell.range(ctx, (cell, from)..=(cell, Nanos::MAX)) {
                ids.insert(entry?.1);
            }
        }
        Ok(ids)
    }

    /// The ids, in id order, of at most `limit` of the entities that ended by `threshold`,
    /// the earliest ended first.
    pub fn ended_by(&self, ctx: &Ctx, threshold: Nanos, limit: usize) -> Result<BTreeSet<Id>, Error> {
        self.by_end.range(ctx, ..=threshold).take(limit).map(|entry| entry.map(|(_, id)| id)).collect()
    }
}

fn cell_keys(f: &Footprint) -> Vec<(u64, Nanos)> {
    f.cells.iter().map(|&cell| (cell, f.end)).collect()
}

const ISA_BY_CELL: Index<Id, Footprint, (u64, Nanos)> = Index::new("isa/by-cell", cell_keys);
const ISA_BY_END: Index<Id, Footprint, Nanos> = Index::new("isa/by-end", |f| vec![f.end]);
pub const ISAS: Entities<Isa> = Entities {
    rows: Table::new("isa"),
    footprints: Table::new("isa/footprint").with_indexes(&[&ISA_BY_CELL, &ISA_BY_END]),
    by_cell: &ISA_BY_CELL,
    by_end: &ISA_BY_END,
};

const SUBSCRIPTION_BY_CELL: Index<Id, Footprint, (u64, Nanos)> = Index::new("subscription/by-cell", cell_keys);
const SUBSCRIPTION_BY_END: Index<Id, Footprint, Nanos> = Index::new("subscription/by-end", |f| vec![f.end]);
const SUBSCRIPTION_BY_OWNER_CELL: Index<Id, Footprint, (String, u64, Nanos)> =
    Index::new("subscription/by-owner-cell", |f| f.cells.iter().map(|&cell| (f.owner.clone(), cell, f.end)).collect());
pub const SUBSCRIPTIONS: Entities<Subscription> = Entities {
    rows: Table::new("subscription"),
    footprints: Table::new("subscription/footprint").with_indexes(&[
        &SUBSCRIPTION_BY_CELL,
        &SUBSCRIPTION_BY_END,
        &SUBSCRIPTION_BY_OWNER_CELL,
    ]),
    by_cell: &SUBSCRIPTION_BY_CELL,
    by_end: &SUBSCRIPTION_BY_END,
};

/// The ids of `owner`'s subscriptions in `cell` that end at or after `from`, the earliest
/// ending first.
pub fn owned_in_cell(ctx: &Ctx, owner: &str, cell: u64, from: Nanos) -> impl Iterator<Item = Result<Id, Error>> {
    let owner = owner.to_string();
    SUBSCRIPTION_BY_OWNER_CELL
        .range(ctx, (owner.clone(), cell, from)..=(owner, cell, Nanos::MAX))
        .map(|entry| entry.map(|(_, id)| id))
}
