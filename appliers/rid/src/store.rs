//! The replicated state: ISAs and subscriptions, one store for both API versions.
//!
//! Each entity is two rows: its head (what answers show and the rules read) and its cells,
//! which carry the index from cell to entity. A notification bumps a subscription's index
//! in its head alone, so a subscription over a large area costs one small write, and the
//! cell index is written only when an entity's cells change.

use dss_common::rfc3339::Nanos;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use wasmraft_sdk::{Ctx, Error, Id, Index, Table};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsaHead {
    pub owner: String,
    pub url: String,
    pub start: Nanos,
    pub end: Nanos,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionHead {
    pub owner: String,
    pub url: String,
    pub notification_index: i32,
    pub start: Nanos,
    pub end: Nanos,
    pub version: String,
}

/// Heads and cells of one kind of entity, with the index from cell to entity and the index
/// of heads by end time.
pub struct Entities<H: 'static> {
    heads: Table<Id, H>,
    cells: Table<Id, Vec<u64>>,
    by_cell: &'static Index<Id, Vec<u64>, u64>,
    by_end: &'static Index<Id, H, Nanos>,
}

impl<H: Serialize + DeserializeOwned> Entities<H> {
    pub fn get(&self, ctx: &Ctx, id: Id) -> Result<Option<H>, Error> {
        self.heads.get(ctx, &id)
    }

    /// The head of an entity an index named: its absence is an inconsistency.
    pub fn indexed(&self, ctx: &Ctx, id: Id) -> Result<H, Error> {
        self.get(ctx, id)?.ok_or_else(|| {
            Error::internal(format!("an index of {} names {id}, which is not stored", self.heads.name()))
        })
    }

    pub fn cells(&self, ctx: &Ctx, id: Id) -> Result<Vec<u64>, Error> {
        Ok(self.cells.get(ctx, &id)?.unwrap_or_default())
    }

    pub fn put(&self, ctx: &mut Ctx, id: Id, head: &H, cells: &[u64]) -> Result<(), Error> {
        assert!(!cells.is_empty() && cells.is_sorted(), "an entity's cells are sorted and not empty");
        self.heads.put(ctx, &id, head)?;
        self.cells.put(ctx, &id, &cells.to_vec())
    }

    /// Rewrites the head alone (a notification's bump).
    pub fn put_head(&self, ctx: &mut Ctx, id: Id, head: &H) -> Result<(), Error> {
        self.heads.put(ctx, &id, head)
    }

    pub fn delete(&self, ctx: &mut Ctx, id: Id) -> Result<(), Error> {
        self.heads.delete(ctx, &id)?;
        self.cells.delete(ctx, &id)?;
        Ok(())
    }

    /// The ids of the entities in any of `cells`, in id order.
    pub fn in_cells(&self, ctx: &Ctx, cells: &[u64]) -> Result<BTreeSet<Id>, Error> {
        let mut ids = BTreeSet::new();
        for cell in cells {
            for id in self.by_cell.lookup(ctx, cell) {
                ids.insert(id?);
            }
        }
        Ok(ids)
    }

    /// The ids (in id order) of at most `limit` of the entities that ended by `threshold`,
    /// the earliest ended first.
    pub fn ended(&self, ctx: &Ctx, threshold: Nanos, limit: usize) -> Result<BTreeSet<Id>, Error> {
        // An exclusive bound: the SDK's `Index::range` mis-bounds an inclusive end (its
        // successor key `enc(end) ‖ 0` sorts before the entries `enc(end) ‖ id`).
        self.by_end.range(ctx, ..threshold.saturating_add(1)).take(limit).map(|e| e.map(|(_, id)| id)).collect()
    }
}

const ISA_BY_CELL: Index<Id, Vec<u64>, u64> = Index::new("isa/by-cell", |cells: &Vec<u64>| cells.clone());
const ISA_BY_END: Index<Id, IsaHead, Nanos> = Index::new("isa/by-end", |h: &IsaHead| vec![h.end]);
pub const ISAS: Entities<IsaHead> = Entities {
    heads: Table::new("isa").with_indexes(&[&ISA_BY_END]),
    cells: Table::new("isa/cells").with_indexes(&[&ISA_BY_CELL]),
    by_cell: &ISA_BY_CELL,
    by_end: &ISA_BY_END,
};

const SUBSCRIPTION_BY_CELL: Index<Id, Vec<u64>, u64> =
    Index::new("subscription/by-cell", |cells: &Vec<u64>| cells.clone());
const SUBSCRIPTION_BY_END: Index<Id, SubscriptionHead, Nanos> =
    Index::new("subscription/by-end", |h: &SubscriptionHead| vec![h.end]);
pub const SUBSCRIPTIONS: Entities<SubscriptionHead> = Entities {
    heads: Table::new("subscription").with_indexes(&[&SUBSCRIPTION_BY_END]),
    cells: Table::new("subscription/cells").with_indexes(&[&SUBSCRIPTION_BY_CELL]),
    by_cell: &SUBSCRIPTION_BY_CELL,
    by_end: &SUBSCRIPTION_BY_END,
};
