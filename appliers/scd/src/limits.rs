//! The bounds on what a command or query carries (docs/dss-limits.md), checked again where
//! `apply` and `query` receive it: a command proposed over the host's client API never went
//! through `handle`, which refuses the same inputs first. Each refusal is a 400.

use crate::api::{Command, Query};
use crate::geo;
use dss_common::request::check_url_length;
use wasmraft_sdk::Error;

/// The longest OVN a USS may ask for (`requested_ovn_suffix`, stored as `{id}_{suffix}`):
/// `EntityOVN`'s `maxLength` in scd-utm.yaml. (`handle` makes at most 82 bytes of it.)
pub const MAX_OVN_BYTES: usize = 128;

const URL: &str = "uss_base_url";

fn bad(message: String) -> Error {
    Error::bad_request(message)
}

fn cells(cells: &[u64]) -> Result<(), Error> {
    geo::check_cell_count(cells).map_err(|e| bad(format!("Area too large: {e}")))
}

/// A command's URLs, cell lists and requested OVN, within their bounds.
pub fn check_command(command: &Command) -> Result<(), Error> {
    match command {
        Command::PutOir(put) => {
            check_url_length(&put.uss_base_url, URL).map_err(bad)?;
            if let Some(new) = &put.new_subscription {
                check_url_length(&new.uss_base_url, URL).map_err(bad)?;
            }
            if let Some(ovn) = &put.requested_ovn
                && ovn.len() > MAX_OVN_BYTES
            {
                return Err(bad(format!("Requested OVN is too long: {} bytes, at most {MAX_OVN_BYTES}", ovn.len())));
            }
            cells(&put.extent.cells)
        }
        Command::PutConstraint(put) => {
            check_url_length(&put.uss_base_url, URL).map_err(bad)?;
            cells(&put.extent.cells)
        }
        Command::PutSubscription(put) => {
            check_url_length(&put.uss_base_url, URL).map_err(bad)?;
            cells(&put.volume.cells)
        }
        Command::TimeIndexed(inner) => check_command(inner),
        Command::DeleteOir { .. }
        | Command::DeleteConstraint { .. }
        | Command::DeleteSubscription { .. }
        | Command::SetAvailability(_)
        | Command::RecordHeartbeat(_)
        | Command::Evict => Ok(()),
    }
}

/// A query's search area within the cell bound.
pub fn check_query(query: &Query) -> Result<(), Error> {
    match query {
        Query::QueryOirs { area } | Query::QueryConstraints { area } | Query::QuerySubscriptions { area } => {
            cells(&area.cells)
        }
        Query::TimeIndexed(inner) => check_query(inner),
        Query::GetOir { .. }
        | Query::GetConstraint { .. }
        | Query::GetSubscription { .. }
        | Query::GetAvailability { .. }
        | Query::DssInstances => Ok(()),
    }
}
