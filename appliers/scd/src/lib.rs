//! # The strategic-coordination applier
//!
//! The DSS's strategic coordination service (ASTM F3548-21 "SCD": operational intent and
//! constraint references, subscriptions, USS availability, DSS reports) and its aux API, as
//! one deterministic module that serves HTTP. It follows the reference DSS (interuss/dss),
//! as `dss-semantics.md` describes it, route by route and error by error; the comments say
//! where it deliberately differs.
//!
//! A request is checked, decoded, validated and covered with S2 cells in [`Applier::handle`]
//! on the node that took it; what needs the state becomes a [`Command`] (replicated, then
//! applied on every node) or a [`Query`] (read at a linearizable point), whose outcome
//! [`Applier::render`] turns into the JSON response. `apply` sees only validated values
//! and cell ids: no JSON and no floating-point geometry.

mod api;
mod auth;
mod auxiliary;
mod availability;
mod cell_index;
mod constraint;
mod entry;
mod expiry;
mod geo;
mod json;
mod limits;
mod migrate;
mod notify;
mod oir;
mod ovn;
mod render;
mod report;
mod request;
mod routes;
mod search;
mod store;
mod subscription;
mod volume;

#[cfg(test)]
mod tests;

pub use api::*;
pub use expiry::TTL;
pub use ovn::NO_OVN_PHRASE;
pub use render::MISSING_OVNS;
pub use search::MAX_RESULTS;

// Shared with the remote-ID applier; `crate::rfc3339` to the modules here.
use dss_common::rfc3339;

use notify::Indices;
use wasmraft_sdk::http::{self, Handled, Outcome};
use wasmraft_sdk::{Applier, Ctx, Error, Info, Timestamp};

pub struct Scd;

impl Applier for Scd {
    const NAME: &'static str = "scd";
    const VERSION: &'static str = if cfg!(feature = "next-version") { "1.5.1" } else { "1.5.0" };
    const ROUTES: &'static [&'static str] = &["/dss/v1", "/aux/v1", "/versions"];

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
        let (command, indices) = match command {
            Command::TimeIndexed(command) => (*command, Indices::TimeOfDay),
            command => (command, Indices::Counted),
        };
        let mut output = match command {
            Command::PutOir(put) => oir::put(ctx, put, indices),
            Command::DeleteOir { id, ovn } => oir::delete(ctx, id, &ovn, indices),
            Command::PutConstraint(put) => constraint::put(ctx, put, indices),
            Command::DeleteConstraint { id, ovn } => constraint::delete(ctx, id, &ovn, indices),
            Command::PutSubscription(put) => subscription::put(ctx, put),
            Command::DeleteSubscription { id, version } => subscription::delete(ctx, id, &version),
            Command::SetAvailability(set) => availability::set(ctx, set),
            Command::RecordHeartbeat(beat) => auxiliary::record_heartbeat(ctx, beat),
            Command::Evict => expiry::evict(ctx),
            Command::TimeIndexed(_) => Err(Error::bad_request("a time-indexed command cannot wrap another")),
        }?;
        if indices == Indices::TimeOfDay {
            notify::show_in_output(&mut output, notify::time_of_day_ms(entry::now(ctx)));
        }
        Ok(output)
    }

    fn query(ctx: &Ctx, query: Query) -> Result<QueryOutput, Error> {
        // Its route's scopes, checked again: the host's client API reads without `handle`.
        auth::check(ctx.caller(), auth::of_query(&query))?;
        limits::check_query(&query)?;
        let (query, indices) = match query {
            Query::TimeIndexed(query) => (*query, Indices::TimeOfDay),
            query => (query, Indices::Counted),
        };
        let mut output = match query {
            Query::GetOir { id } => oir::get(ctx, id),
            Query::QueryOirs { area } => oir::query(ctx, &area),
            Query::GetConstraint { id } => constraint::get(ctx, id),
            Query::QueryConstraints { area } => constraint::query(ctx, &area),
            Query::GetSubscription { id } => subscription::get(ctx, id),
            Query::QuerySubscriptions { area } => subscription::query(ctx, &area),
            Query::GetAvailability { uss } => availability::get(ctx, uss),
            Query::DssInstances => auxiliary::query_instances(ctx),
            Query::TimeIndexed(_) => Err(Error::bad_request("a time-indexed query cannot wrap another")),
        }?;
        if indices == Indices::TimeOfDay {
            notify::show_in_query_output(&mut output, notify::time_of_day_ms(entry::now(ctx)));
        }
        Ok(output)
    }

    fn migrate(ctx: &mut Ctx, previous: &Info) -> Result<(), Error> {
        migrate::from(ctx, previous)
    }

    fn handle(request: http::Request) -> Handled<Command, Query> {
        routes::handle(request)
    }

    fn render(ctx: &Ctx, outcome: Outcome<Output, QueryOutput>) -> http::Response {
        render::render(ctx, outcome)
    }

    /// Every round proposes an eviction: only `apply` can see what has expired.
    fn housekeeping(_now: Timestamp) -> Option<Command> {
        Some(Command::Evict)
    }
}

wasmraft_sdk::export_applier!(Scd);
