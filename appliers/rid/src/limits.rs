//! The bounds on what a command or query carries (docs/dss-limits.md), checked again where
//! `apply` and `query` receive it: a command proposed over the host's client API never went
//! through `handle`, which refuses the same inputs first. Each refusal is a 400.

use crate::api::{Command, Put, Query};
use dss_common::request::check_url_length;
use wasmraft_sdk::Error;

fn cells(cells: &[u64]) -> Result<(), Error> {
    dss_geo::check_cell_count(cells).map_err(|e| Error::bad_request(format!("Area too large: {e}")))
}

fn put(put: &Put) -> Result<(), Error> {
    check_url_length(&put.url, "rid url").map_err(Error::bad_request)?;
    cells(&put.extent.cells)
}

/// A write's URL and cells within their bounds.
pub fn check_command(command: &Command) -> Result<(), Error> {
    match command {
        Command::PutIsa(p) | Command::PutSubscription(p) => put(p),
        Command::DeleteIsa { .. } | Command::DeleteSubscription { .. } | Command::Evict => Ok(()),
    }
}

/// A search's cells within the bound.
pub fn check_query(query: &Query) -> Result<(), Error> {
    match query {
        Query::SearchIsas { cells: c, .. } | Query::SearchSubscriptions { cells: c, .. } => cells(c),
        Query::GetIsa { .. } | Query::GetSubscription { .. } => Ok(()),
    }
}
