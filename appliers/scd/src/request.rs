//! What the request side of every route shares: the reply type, body decoding, and the
//! checks of ids and base URLs.

use crate::api::{Command, Query, Volume};
use crate::json;
use crate::render::error;
use crate::rfc3339::Nanos;
use crate::volume::{self, VolumeError};
use serde::de::DeserializeOwned;
use wasmraft_sdk::Id;
use wasmraft_sdk::http::{Handled, Request, Response};

/// What a route decided: propose, read, or answer now (`Err` for a refusal, `Ok(Respond)`
/// for a success that needs no state).
pub type Reply = Result<Handled<Command, Query>, Response>;

/// The receiving node's clock, for the checks made before proposing (an end in the past,
/// a requested OVN's time).
pub fn received_at(request: &Request) -> Nanos {
    Nanos::try_from(request.time.as_nanos()).unwrap_or(Nanos::MAX)
}

pub fn bad_request(message: impl AsRef<str>) -> Response {
    error(400, message.as_ref())
}

/// The body as `T`, or the 400 the reference gives for a body that does not decode.
pub fn body<T: DeserializeOwned>(request: &Request) -> Result<T, Response> {
    json::decode(&request.body).map_err(bad_request)
}

/// The covered `area_of_interest` of a `/query` body; `refusal` gives the route's answer to
/// an area it cannot search.
pub fn area_of_interest(request: &Request, refusal: fn(VolumeError) -> Response) -> Result<Volume, Response> {
    let params: json::QueryParameters = body(request)?;
    let aoi = params.area_of_interest.ok_or_else(|| bad_request("Missing area_of_interest"))?;
    volume::single(&aoi, true).map_err(refusal)
}

/// A path id: a version-4 UUID in any form Go's `uuid.Parse` takes (bare hex, as USS
/// clients send `uuid4().hex`; hyphenated; braced; `urn:uuid:`), as the reference takes it
/// although the API's pattern names only the hyphenated one; else 400.
pub fn entity_id(raw: &str) -> Result<Id, String> {
    Id::parse(raw).filter(Id::is_v4).ok_or_else(|| format!("Invalid ID format: `{raw}`"))
}

/// The reference's `ValidateUSSBaseURL`: https only, unless the node allows http base URLs.
pub fn check_base_url(request: &Request, url: &str) -> Result<(), String> {
    if request.setting("allow-http-base-urls") == Some("true") {
        return Ok(());
    }
    // The scheme as Go's url.Parse finds it: a letter, then letters, digits, `+`, `-` or `.`,
    // before the first `:`.
    let scheme = url.split_once(':').map(|(s, _)| s).filter(|s| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    match scheme.map(str::to_ascii_lowercase).as_deref() {
        Some("https") => Ok(()),
        Some("http") => Err("uss_base_url must use TLS".into()),
        _ => Err("uss_base_url must support https scheme".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_https_unless_allowed() {
        let r = Request::new("PUT", "/");
        assert_eq!(check_base_url(&r, "https://uss.example.com/utm"), Ok(()));
        assert_eq!(check_base_url(&r, "HTTPS://uss.example.com"), Ok(()));
        assert_eq!(check_base_url(&r, "http://uss.example.com"), Err("uss_base_url must use TLS".into()));
        assert!(check_base_url(&r, "ftp://uss.example.com").unwrap_err().contains("https scheme"));
        assert!(check_base_url(&r, "uss.example.com").is_err());
        let allowed = Request::new("PUT", "/").with_setting("allow-http-base-urls", "true");
        assert_eq!(check_base_url(&allowed, "http://localhost:8080"), Ok(()));
    }

    #[test]
    fn ids_must_be_v4() {
        assert!(entity_id("0000000a-0000-4000-8000-000000000000").is_ok());
        assert!(entity_id("0000000a-0000-1000-8000-000000000000").is_err());
        assert_eq!(entity_id("a0"), Err("Invalid ID format: `a0`".into()));
    }
}
