//! # The remote-ID applier
//!
//! The DSS's remote ID service (ASTM F3411-19 "v1" at `/v1/dss` and F3411-22a "v2" at
//! `/rid/v2/dss`: identification service areas and subscriptions) as one deterministic
//! module that serves HTTP. Both versions read and write one store, so an ISA written
//! through one version notifies the other's subscriptions. It follows the reference DSS
//! (interuss/dss) route by route and error by error (docs/rid.md); the comments say where
//! it deliberately differs.
//!
//! A request is checked, decoded, validated and covered with S2 cells in [`Applier::handle`]
//! on the node that took it; what needs the state becomes a [`Command`] (replicated, then
//! applied on every node) or a [`Query`] (read at a linearizable point), whose outcome
//! [`Applier::render`] turns into the JSON response of the request's version. `apply` sees
//! only validated values and cell ids, and applies the time rules at the entry's time.

mod api;
mod auth;
mod expiry;
mod extents;
mod isa;
mod json;
mod limits;
mod notify;
mod render;
mod request;
mod routes;
mod store;
mod subscription;
mod version;
mod window;

#[cfg(test)]
mod tests;

pub use api::*;
pub use expiry::TTL;

use wasmraft_sdk::http::{self, Handled, Outcome};
use wasmraft_sdk::{Applier, Ctx, Error, Timestamp};

pub struct Rid;

impl Applier for Rid {
    const NAME: &'static str = "rid";
    const VERSION: &'static str = if cfg!(feature = "next-version") { "1.1.1" } else { "1.1.0" };
    const ROUTES: &'static [&'static str] = &["/v1/dss", "/rid/v2/dss"];

    type Command = Command;
    type Query = Query;
    type Output = Output;
    type QueryOutput = QueryOutput;

    fn apply(ctx: &mut Ctx, command: Command) -> Result<Output, Error> {
        // Its route's scopes, checked again: the host's client API proposes without `handle`.
        if let Some(options) = auth::of_command(&command) {
            auth::check(ctx.caller(), options)?;
        }
        // Its bounds, checked again: `handle` refused what exceeds them, but not every
        // command went through it.
        limits::check_command(&command)?;
        match command {
            Command::PutIsa(put) => isa::put(ctx, put),
            Command::DeleteIsa { api, id, version } => isa::delete(ctx, api, id, &version),
            Command::PutSubscription(put) => subscription::put(ctx, put),
            Command::DeleteSubscription { api, id, version } => subscription::delete(ctx, api, id, &version),
            Command::Evict => expiry::evict(ctx),
        }
    }

    fn query(ctx: &Ctx, query: Query) -> Result<QueryOutput, Error> {
        // Its route's scopes, checked again: the host's client API reads without `handle`.
        auth::check(ctx.caller(), auth::of_query(&query))?;
        limits::check_query(&query)?;
        match query {
            Query::GetIsa { api, id } => isa::get(ctx, api, id),
            Query::SearchIsas { api, cells, earliest, latest } => isa::search(ctx, api, &cells, earliest, latest),
            Query::GetSubscription { api, id } => subscription::get(ctx, api, id),
            Query::SearchSubscriptions { api, cells } => subscription::search(ctx, api, &cells),
        }
    }

    fn handle(request: http::Request) -> Handled<Command, Query> {
        routes::handle(request)
    }

    fn render(_ctx: &Ctx, outcome: Outcome<Output, QueryOutput>) -> http::Response {
        render::render(outcome)
    }

    /// Every round proposes an eviction: only `apply` can see what has ended.
    fn housekeeping(_now: Timestamp) -> Option<Command> {
        Some(Command::Evict)
    }
}

wasmraft_sdk::export_applier!(Rid);
