//! USS availability (dss-semantics §1.10): any arbitrator may set any USS's; a USS marked
//! Down has its Accepted OIRs left out of other USSs' key checks.

use crate::api::{Availability, AvailabilityStatus, Command, Output, Query, QueryOutput, SetAvailability};
use crate::auth;
use crate::entry::now;
use crate::json::SetUssAvailabilityStatusParameters;
use crate::ovn;
use crate::request::{Reply, bad_request, body};
use crate::store::{AVAILABILITY, AvailabilityRecord};
use wasmraft_sdk::http::{Handled, Request};
use wasmraft_sdk::{Ctx, Error};

pub fn handle_get(request: &Request, uss: &str) -> Reply {
    auth::authorize(request, auth::AVAILABILITY_READ)?;
    if uss.is_empty() {
        return Err(bad_request("UssId not provided"));
    }
    Ok(Handled::Read(Query::GetAvailability { uss: uss.to_string() }))
}

pub fn handle_set(request: &Request, uss: &str) -> Reply {
    auth::authorize(request, auth::AVAILABILITY_WRITE)?;
    if uss.is_empty() {
        return Err(bad_request("ussID not provided."));
    }
    let params: SetUssAvailabilityStatusParameters = body(request)?;
    let availability =
        Availability::parse(&params.availability).ok_or_else(|| bad_request("Invalid availability state"))?;
    Ok(Handled::Propose(Command::SetAvailability(SetAvailability {
        uss: uss.to_string(),
        availability,
        old_version: params.old_version,
    })))
}

pub fn set(ctx: &mut Ctx, set: SetAvailability) -> Result<Output, Error> {
    let old = AVAILABILITY.get(ctx, &set.uss)?;
    match &old {
        None if !set.old_version.is_empty() => {
            return Err(Error::conflict(format!("availability for USS {} already exists", set.uss)));
        }
        Some(old) if old.version != set.old_version => {
            return Err(Error::conflict(format!("USS availability version {} is not current", set.old_version)));
        }
        _ => {}
    }
    let record = AvailabilityRecord { availability: set.availability, version: ovn::from_time(now(ctx), &set.uss) };
    AVAILABILITY.put(ctx, &set.uss, &record)?;
    Ok(Output::Availability(AvailabilityStatus {
        uss: set.uss,
        availability: record.availability,
        version: record.version,
    }))
}

/// A USS never set is Unknown, with an empty version.
pub fn get(ctx: &Ctx, uss: String) -> Result<QueryOutput, Error> {
    let record = AVAILABILITY.get(ctx, &uss)?;
    let (availability, version) = record.map(|r| (r.availability, r.version)).unwrap_or_default();
    Ok(QueryOutput::Availability(AvailabilityStatus { uss, availability, version }))
}
