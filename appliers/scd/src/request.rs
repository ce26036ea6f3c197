//! What the request side of every SCD route shares: the reply type and the search area of
//! a `/query` body (the rest is `dss_common::request`).

use crate::api::{Command, Query, Volume};
use crate::json;
use crate::volume::{self, VolumeError};
pub use dss_common::errors::bad_request;
pub use dss_common::request::{body, check_base_url, entity_id, received_at};
use wasmraft_sdk::http::Request;
use wasmraft_sdk::http::{Handled, Response};

/// What a route decided: propose, read, or answer now (`Err` for a refusal, `Ok(Respond)`
/// for a success that needs no state).
pub type Reply = Result<Handled<Command, Query>, Response>;

/// The covered `area_of_interest` of a `/query` body; `refusal` gives the route's answer to
/// an area it cannot search.
pub fn area_of_interest(request: &Request, refusal: fn(VolumeError) -> Response) -> Result<Volume, Response> {
    let params: json::QueryParameters = body(request)?;
    let aoi = params.area_of_interest.ok_or_else(|| bad_request("Missing area_of_interest"))?;
    volume::single(&aoi, true).map_err(refusal)
}
