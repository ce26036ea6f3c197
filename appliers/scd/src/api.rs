//! The applier's replicated vocabulary: the commands `handle` proposes, the queries it reads
//! with, and what they produce. These travel as postcard, so they hold validated, covered
//! values only (times in nanoseconds, sorted level-13 cell ids): `apply` never parses JSON
//! or computes geometry.

use crate::notify::Topic;
use crate::ovn::OvnSet;
use crate::rfc3339::Nanos;
use serde::{Deserialize, Serialize};
use wasmraft_sdk::Id;

/// The states the DSS accepts for an operational intent (there is no "Ended": deletion ends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OirState {
    Accepted,
    Activated,
    Nonconforming,
    Contingent,
}

impl OirState {
    pub fn parse(s: &str) -> Option<OirState> {
        Some(match s {
            "Accepted" => OirState::Accepted,
            "Activated" => OirState::Activated,
            "Nonconforming" => OirState::Nonconforming,
            "Contingent" => OirState::Contingent,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OirState::Accepted => "Accepted",
            OirState::Activated => "Activated",
            OirState::Nonconforming => "Nonconforming",
            OirState::Contingent => "Contingent",
        }
    }

    /// Off-nominal states are declared as flown: no key check, and only CMSA may set them.
    pub fn is_off_nominal(self) -> bool {
        matches!(self, OirState::Nonconforming | OirState::Contingent)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Availability {
    #[default]
    Unknown,
    Normal,
    Down,
}

impl Availability {
    /// Case-insensitive, "" meaning Unknown, as the reference reads it.
    pub fn parse(s: &str) -> Option<Availability> {
        Some(match s.to_ascii_lowercase().as_str() {
            "" | "unknown" => Availability::Unknown,
            "normal" => Availability::Normal,
            "down" => Availability::Down,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Unknown => "Unknown",
            Availability::Normal => "Normal",
            Availability::Down => "Down",
        }
    }
}

/// The bounded 4D extent of an OIR or constraint (the union of its request's volumes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extent {
    pub start: Nanos,
    pub end: Nanos,
    /// Meters above the WGS84 ellipsoid, as float32 like the reference. Always present for
    /// OIRs; optional for constraints.
    pub alt_lo: Option<f32>,
    pub alt_hi: Option<f32>,
    /// Sorted, deduplicated level-13 S2 cell ids.
    pub cells: Vec<u64>,
}

/// A search volume: `None` bounds are unbounded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub start: Option<Nanos>,
    pub end: Option<Nanos>,
    pub alt_lo: Option<f32>,
    pub alt_hi: Option<f32>,
    pub cells: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSubscription {
    pub uss_base_url: String,
    pub notify_for_constraints: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutOir {
    pub id: Id,
    /// The OVN in the path; `None` creates.
    pub ovn: Option<String>,
    pub state: OirState,
    pub uss_base_url: String,
    pub extent: Extent,
    /// The key's OVNs.
    pub key: OvnSet,
    pub subscription_id: Option<Id>,
    pub new_subscription: Option<NewSubscription>,
    /// `{id}_{requested_ovn_suffix}`, already validated against the request's time.
    pub requested_ovn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutConstraint {
    pub id: Id,
    pub ovn: Option<String>,
    pub uss_base_url: String,
    pub extent: Extent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutSubscription {
    pub id: Id,
    /// The version in the path; `None` creates.
    pub version: Option<String>,
    pub uss_base_url: String,
    /// As requested: defaults (now, previous bounds, +24 h) are applied at the entry's time.
    /// The cells may be empty (a subscription without a footprint).
    pub volume: Volume,
    pub notify_for_oirs: bool,
    pub notify_for_constraints: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetAvailability {
    pub uss: String,
    pub availability: Availability,
    pub old_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The DSS instance (locality) and public endpoint of the node that took the request.
    pub locality: String,
    pub public_endpoint: String,
    pub source: String,
    /// `None`: the entry's time.
    pub timestamp: Option<Nanos>,
    pub next_expected_before: Option<Nanos>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    PutOir(PutOir),
    DeleteOir {
        id: Id,
        ovn: String,
    },
    PutConstraint(PutConstraint),
    DeleteConstraint {
        id: Id,
        ovn: String,
    },
    PutSubscription(PutSubscription),
    DeleteSubscription {
        id: Id,
        version: String,
    },
    SetAvailability(SetAvailability),
    RecordHeartbeat(Heartbeat),
    /// Removes what ended more than the TTL before the entry's time (housekeeping).
    Evict,
    /// The command, with time-of-day notification indices ([`crate::notify::Indices`]):
    /// proposed so by a node whose HTTP door has `time-based-notification-index=true`.
    /// Last, so that the variants before it keep their numbers in older entries.
    TimeIndexed(Box<Command>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Query {
    GetOir {
        id: Id,
    },
    QueryOirs {
        area: Volume,
    },
    GetConstraint {
        id: Id,
    },
    QueryConstraints {
        area: Volume,
    },
    GetSubscription {
        id: Id,
    },
    QuerySubscriptions {
        area: Volume,
    },
    GetAvailability {
        uss: String,
    },
    DssInstances,
    /// The query, showing time-of-day notification indices (see [`Command::TimeIndexed`]).
    TimeIndexed(Box<Query>),
}

/// An operational intent reference as a caller sees it (its OVN scrubbed unless it manages it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OirRef {
    pub id: Id,
    pub manager: String,
    pub availability: Availability,
    pub version: i32,
    pub state: OirState,
    pub ovn: String,
    pub start: Nanos,
    pub end: Nanos,
    pub uss_base_url: String,
    pub subscription_id: Option<Id>,
}

/// A constraint reference as a caller sees it (its availability is always Unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstraintRef {
    pub id: Id,
    pub manager: String,
    pub version: i32,
    pub ovn: String,
    pub start: Nanos,
    pub end: Nanos,
    pub uss_base_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionView {
    pub id: Id,
    pub version: String,
    pub notification_index: i32,
    pub start: Nanos,
    pub end: Nanos,
    pub uss_base_url: String,
    pub notify_for_oirs: bool,
    pub notify_for_constraints: bool,
    pub implicit: bool,
    pub dependent_oirs: Vec<Id>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionState {
    pub subscription_id: Id,
    pub notification_index: i32,
}

/// The subscriptions a writer must notify at one base URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscriber {
    pub uss_base_url: String,
    pub subscriptions: Vec<SubscriptionState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityStatus {
    pub uss: String,
    pub availability: Availability,
    /// "" when no availability was ever set for the USS.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatView {
    pub timestamp: Nanos,
    pub reporter: String,
    pub source: String,
    pub next_expected_before: Option<Nanos>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DssInstance {
    pub id: String,
    pub public_endpoint: String,
    pub most_recent_heartbeat: Option<HeartbeatView>,
}

/// The body of a 409 for missing OVNs (code [`crate::errors::MISSING_OVNS`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirspaceConflict {
    pub message: String,
    pub missing_oirs: Vec<OirRef>,
    pub missing_constraints: Vec<ConstraintRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Output {
    /// A put (`created` for a create, answered 201) or a delete.
    OirChanged {
        created: bool,
        oir: OirRef,
        subscribers: Vec<Subscriber>,
    },
    ConstraintChanged {
        created: bool,
        constraint: ConstraintRef,
        subscribers: Vec<Subscriber>,
    },
    /// The entities of each kind the subscription asked about, if it asked.
    SubscriptionPut {
        subscription: SubscriptionView,
        oirs: Option<Vec<OirRef>>,
        constraints: Option<Vec<ConstraintRef>>,
    },
    SubscriptionDeleted(SubscriptionView),
    Availability(AvailabilityStatus),
    /// After a heartbeat: the pool's instances.
    HeartbeatRecorded(Vec<DssInstance>),
    Evicted {
        oirs: u32,
        constraints: u32,
        subscriptions: u32,
    },
    /// [`Output::OirChanged`] with time-of-day indices: `render` lists the subscribers
    /// from the state after the entry, once, on the node that answers, rather than every
    /// node's `apply`. Last, so that the variants before it keep their numbers in stored
    /// outputs.
    OirChangedNotifying {
        created: bool,
        oir: OirRef,
        notify: Notify,
    },
    /// [`Output::ConstraintChanged`] as [`Output::OirChangedNotifying`].
    ConstraintChangedNotifying {
        created: bool,
        constraint: ConstraintRef,
        notify: Notify,
    },
}

/// Whom a change with time-of-day indices notifies, for `render` to list: the subscriptions
/// to `topic` over `volume`, each shown with `time_of_day` (the entry's) as its index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    pub volume: Volume,
    pub topic: Topic,
    pub time_of_day: i32,
}

/// Whom a change notifies: listed by `apply` (counted indices, bumped there), or for
/// `render` to list.
pub enum Notified {
    Listed(Vec<Subscriber>),
    Later(Notify),
}

impl Output {
    pub fn oir_changed(created: bool, oir: OirRef, notified: Notified) -> Output {
        match notified {
            Notified::Listed(subscribers) => Output::OirChanged { created, oir, subscribers },
            Notified::Later(notify) => Output::OirChangedNotifying { created, oir, notify },
        }
    }

    pub fn constraint_changed(created: bool, constraint: ConstraintRef, notified: Notified) -> Output {
        match notified {
            Notified::Listed(subscribers) => Output::ConstraintChanged { created, constraint, subscribers },
            Notified::Later(notify) => Output::ConstraintChangedNotifying { created, constraint, notify },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueryOutput {
    Oir(OirRef),
    Oirs(Vec<OirRef>),
    Constraint(ConstraintRef),
    Constraints(Vec<ConstraintRef>),
    Subscription(SubscriptionView),
    Subscriptions(Vec<SubscriptionView>),
    Availability(AvailabilityStatus),
    DssInstances(Vec<DssInstance>),
}
