//! What the request side of every SCD route shares: the reply type, the base URL check
//! with SCD's field name, and the search area of a `/query` body (the rest is
//! `dss_common::request`).

use crate::api::{Command, Query, Volume};
use crate::json;
use crate::volume::{self, VolumeError};
pub use dss_common::errors::bad_request;
pub use dss_common::request::{body, entity_id, received_at};
use wasmraft_sdk::http::{Request, Response};

/// What a route decided: propose, read, or answer now (`Err` for a refusal, `Ok(Respond)`
/// for a success that needs no state).
pub type Reply = dss_common::request::Reply<Command, Query>;

/// The reference's `ValidateUSSBaseURL`: https only, unless the node allows http base URLs;
/// then our bound on its length ([`dss_common::request::MAX_URL_BYTES`], checked again in
/// `apply`).
pub fn check_base_url(request: &Request, url: &str) -> Result<(), String> {
    dss_common::request::check_base_url(request, url, "uss_base_url")?;
    dss_common::request::check_url_length(url, "uss_base_url")
}

/// The covered `area_of_interest` of a `/query` body; `refusal` gives the route's answer to
/// an area it cannot search.
pub fn area_of_interest(request: &Request, refusal: fn(VolumeError) -> Response) -> Result<Volume, Response> {
    let params: json::QueryParameters = body(request)?;
    let aoi = params.area_of_interest.ok_or_else(|| bad_request("Missing area_of_interest"))?;
    volume::single(&aoi, true).map_err(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_refusals_name_the_field() {
        let r = Request::new("PUT", "/");
        assert_eq!(check_base_url(&r, "http://uss.example.com"), Err("uss_base_url must use TLS".into()));
        assert_eq!(check_base_url(&r, "uss.example.com"), Err("uss_base_url must support https scheme".into()));
    }
}
