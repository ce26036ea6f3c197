//! Who may call what: the scopes of each route of each version (docs/rid.md §2), checked by
//! `dss_common::auth` as the reference's generated routers do, and again in `apply` and
//! `query` (the host's client API proposes and reads without `handle`). A token with only
//! the other version's scopes gets 403 everywhere.

use crate::api::{Api, Command, Query};
pub use dss_common::auth::{Options, authorize, check};

pub const READ: &str = "dss.read.identification_service_areas";
pub const WRITE: &str = "dss.write.identification_service_areas";
pub const DISPLAY: &str = "rid.display_provider";
pub const SERVICE: &str = "rid.service_provider";

/// What a route does, for its scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    SearchIsas,
    GetIsa,
    WriteIsa,
    SearchSubscriptions,
    GetSubscription,
    WriteSubscription,
}

pub fn options(api: Api, op: Op) -> Options {
    match (api, op) {
        (Api::V1, Op::SearchIsas | Op::GetIsa | Op::SearchSubscriptions | Op::WriteSubscription) => &[&[READ]],
        (Api::V1, Op::WriteIsa) => &[&[WRITE]],
        (Api::V1, Op::GetSubscription) => &[&[READ], &[WRITE]],
        (Api::V2, Op::SearchIsas | Op::SearchSubscriptions | Op::WriteSubscription) => &[&[DISPLAY]],
        (Api::V2, Op::WriteIsa) => &[&[SERVICE]],
        (Api::V2, Op::GetIsa | Op::GetSubscription) => &[&[DISPLAY], &[SERVICE]],
    }
}

/// The options of the route that proposes `command`; `None` for the eviction, which the
/// leader proposes as housekeeping, without a caller, and which only removes what ended.
pub fn of_command(command: &Command) -> Option<Options> {
    Some(match command {
        Command::PutIsa(put) => options(put.api, Op::WriteIsa),
        Command::DeleteIsa { api, .. } => options(*api, Op::WriteIsa),
        Command::PutSubscription(put) => options(put.api, Op::WriteSubscription),
        Command::DeleteSubscription { api, .. } => options(*api, Op::WriteSubscription),
        Command::Evict => return None,
    })
}

pub fn of_query(query: &Query) -> Options {
    match query {
        Query::GetIsa { api, .. } => options(*api, Op::GetIsa),
        Query::SearchIsas { api, .. } => options(*api, Op::SearchIsas),
        Query::GetSubscription { api, .. } => options(*api, Op::GetSubscription),
        Query::SearchSubscriptions { api, .. } => options(*api, Op::SearchSubscriptions),
    }
}
