//! The applier's replicated vocabulary: the commands `handle` proposes, the queries it reads
//! with, and what they produce. They travel as postcard and hold validated values only
//! (times in nanoseconds, sorted level-13 cell ids): `apply` never parses JSON or computes
//! geometry. Each names the API version it came through, which shapes the answer only: v1
//! and v2 share one store (docs/rid.md §1).

use dss_common::rfc3339::Nanos;
use serde::{Deserialize, Serialize};
use wasmraft_sdk::Id;

/// F3411-19 (`/v1/dss`) or F3411-22a (`/rid/v2/dss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Api {
    V1,
    V2,
}

/// A written extent as requested: its times as given (the defaults and time rules apply at
/// the entry's time), its footprint covered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extent {
    pub start: Option<Nanos>,
    pub end: Option<Nanos>,
    /// Sorted, deduplicated level-13 S2 cell ids; never empty.
    pub cells: Vec<u64>,
}

/// A create (no `version`) or an update of an ISA or a subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Put {
    pub api: Api,
    pub id: Id,
    pub version: Option<String>,
    /// v1 `flights_url` or `callbacks.identification_service_area_url`, v2 `uss_base_url`.
    pub url: String,
    pub extent: Extent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    PutIsa(Put),
    DeleteIsa {
        api: Api,
        id: Id,
        version: String,
    },
    PutSubscription(Put),
    DeleteSubscription {
        api: Api,
        id: Id,
        version: String,
    },
    /// Housekeeping: removes what ended [`crate::TTL`] ago or earlier.
    Evict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Query {
    GetIsa {
        api: Api,
        id: Id,
    },
    /// The ISAs in the cells that end at or after `earliest` (never before the read's time)
    /// and, if given, start at or before `latest`.
    SearchIsas {
        api: Api,
        cells: Vec<u64>,
        earliest: Option<Nanos>,
        latest: Option<Nanos>,
    },
    GetSubscription {
        api: Api,
        id: Id,
    },
    /// The caller's subscriptions in the cells that have not ended.
    SearchSubscriptions {
        api: Api,
        cells: Vec<u64>,
    },
}

/// An identification service area as stored and shown (its cells are stored apart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isa {
    pub owner: String,
    pub url: String,
    pub start: Nanos,
    pub end: Nanos,
    pub version: String,
}

/// A subscription as stored and shown (its cells are stored apart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub owner: String,
    pub url: String,
    pub notification_index: i32,
    pub start: Nanos,
    pub end: Nanos,
    pub version: String,
}

/// The subscriptions at one URL that an ISA write notified, with their new indices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscriber {
    pub url: String,
    pub subscriptions: Vec<(Id, i32)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Output {
    /// An ISA written or deleted, and the subscribers its owner must tell.
    IsaChanged {
        api: Api,
        id: Id,
        isa: Isa,
        subscribers: Vec<Subscriber>,
    },
    /// A subscription written, and the ISAs in its area that have not ended.
    SubscriptionPut {
        api: Api,
        id: Id,
        subscription: Subscription,
        isas: Vec<(Id, Isa)>,
    },
    SubscriptionDeleted {
        api: Api,
        id: Id,
        subscription: Subscription,
    },
    Evicted {
        isas: u32,
        subscriptions: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueryOutput {
    Isa { api: Api, id: Id, isa: Isa },
    Isas { api: Api, isas: Vec<(Id, Isa)> },
    Subscription { api: Api, id: Id, subscription: Subscription },
    Subscriptions { api: Api, subscriptions: Vec<(Id, Subscription)> },
}
