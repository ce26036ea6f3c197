//! What the request side of every route shares: the reply type, body decoding, path
//! segments, the receiving node's clock, and the checks of ids and base URLs.

use crate::errors::{bad_request, error};
use crate::rfc3339::Nanos;
use serde::de::DeserializeOwned;
use wasmraft_sdk::Id;
use wasmraft_sdk::http::{Handled, Request, Response, percent_decode};

/// What a route decided: propose `C`, read `Q`, or answer now (`Err` for a refusal,
/// `Ok(Respond)` for a success that needs no state).
pub type Reply<C, Q> = Result<Handled<C, Q>, Response>;

/// Decodes the first JSON value of `body`, as Go's `json.NewDecoder(body).Decode` does
/// (trailing bytes are not looked at). Deep nesting never overflows the stack: in a typed
/// field serde_json's recursion limit makes it an error, and under a field the types do not
/// have it is skipped without recursion (the body is then refused for what it lacks).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    match serde_json::Deserializer::from_slice(body).into_iter::<T>().next() {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(format!("Malformed params: {e}")),
        None => Err("Malformed params: the request has no JSON body".to_string()),
    }
}

/// The body as `T`, or the 400 the reference gives for a body that does not decode.
pub fn body<T: DeserializeOwned>(request: &Request) -> Result<T, Response> {
    decode(&request.body).map_err(bad_request)
}

/// The path's segments, percent-decoded (as Go's `URL.Path`), empty ones kept, for routing
/// as the reference's generated routers match: `[^/]*` path parameters (so an empty one is
/// matched, and refused by its handler).
pub fn segments(path: &str) -> Vec<String> {
    path.strip_prefix('/').unwrap_or(path).split('/').map(percent_decode).collect()
}

/// A path the API has, with another method: 405 naming the allowed methods (the reference
/// answers 404).
pub fn not_allowed(allowed: &str) -> Response {
    error(405, &format!("Method not allowed; this path allows {allowed}")).with_header("allow", allowed)
}

/// The receiving node's clock, for the checks made before proposing (an end in the past,
/// a requested OVN's time).
pub fn received_at(request: &Request) -> Nanos {
    Nanos::try_from(request.time.as_nanos()).unwrap_or(Nanos::MAX)
}

/// A path id: a version-4 UUID in any form Go's `uuid.Parse` takes (bare hex, as USS
/// clients send `uuid4().hex`; hyphenated; braced; `urn:uuid:`), as the reference takes it
/// although the API's pattern names only the hyphenated one; else 400.
pub fn entity_id(raw: &str) -> Result<Id, String> {
    Id::parse(raw).filter(Id::is_v4).ok_or_else(|| format!("Invalid ID format: `{raw}`"))
}

/// The reference's `ValidateUSSBaseURL` (SCD, `what` = "uss_base_url") and `ValidateURL`
/// (RID, "rid url"): https only, unless the node allows http base URLs.
pub fn check_base_url(request: &Request, url: &str, what: &str) -> Result<(), String> {
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
        Some("http") => Err(format!("{what} must use TLS")),
        _ => Err(format!("{what} must support https scheme")),
    }
}

/// The longest URL an entity may store, in bytes. Neither the reference nor the API files
/// bound URLs (docs/dss-limits.md); a base URL this long is no real USS's, and each one is
/// kept (and listed to writers) by every node.
pub const MAX_URL_BYTES: usize = 2048;

/// A URL of at most [`MAX_URL_BYTES`], checked in `handle` and again in `apply` (`what`
/// names the field, as [`check_base_url`] does).
pub fn check_url_length(url: &str, what: &str) -> Result<(), String> {
    if url.len() > MAX_URL_BYTES {
        return Err(format!("{what} is too long: {} bytes, at most {MAX_URL_BYTES}", url.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "uss_base_url";

    #[test]
    fn base_urls_must_be_https_unless_allowed() {
        let r = Request::new("PUT", "/");
        assert_eq!(check_base_url(&r, "https://uss.example.com/utm", URL), Ok(()));
        assert_eq!(check_base_url(&r, "HTTPS://uss.example.com", URL), Ok(()));
        assert_eq!(check_base_url(&r, "http://uss.example.com", URL), Err("uss_base_url must use TLS".into()));
        assert!(check_base_url(&r, "ftp://uss.example.com", URL).unwrap_err().contains("https scheme"));
        assert!(check_base_url(&r, "uss.example.com", URL).is_err());
        let allowed = Request::new("PUT", "/").with_setting("allow-http-base-urls", "true");
        assert_eq!(check_base_url(&allowed, "http://localhost:8080", URL), Ok(()));
    }

    #[test]
    fn urls_are_bounded() {
        let longest = format!("https://{}", "a".repeat(MAX_URL_BYTES - 8));
        assert_eq!(check_url_length(&longest, URL), Ok(()));
        let over = format!("{longest}a");
        assert_eq!(check_url_length(&over, URL), Err("uss_base_url is too long: 2049 bytes, at most 2048".into()));
    }

    #[test]
    fn ids_must_be_v4() {
        assert!(entity_id("0000000a-0000-4000-8000-000000000000").is_ok());
        assert!(entity_id("0000000a-0000-1000-8000-000000000000").is_err());
        assert_eq!(entity_id("a0"), Err("Invalid ID format: `a0`".into()));
    }
}
