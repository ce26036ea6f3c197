//! Who may call what, as the reference's generated routers check it before any handler
//! runs: 401 without verified credentials, 403 without the scopes of at least one option.
//! The appliers' `apply` and `query` check again, per command and query, since the host's
//! client API proposes and reads without going through `handle`.

use crate::errors::error;
use wasmraft_sdk::http::{Request, Response};
use wasmraft_sdk::{Caller, Error};

/// Alternatives, each a set of scopes that must all be held.
pub type Options = &'static [&'static [&'static str]];

const MISSING_TOKEN: &str = "Missing access token";

/// The caller, if it holds every scope of one of `options`; else the 401 or 403 to answer.
pub fn authorize(request: &Request, options: Options) -> Result<&Caller, Response> {
    let Some(caller) = &request.caller else {
        return Err(error(401, request.auth_error.as_deref().unwrap_or(MISSING_TOKEN)));
    };
    missing_scopes(caller, options).map(|()| caller).map_err(|why| error(403, &why))
}

/// [`authorize`] for `apply` and `query`. The SDK has no code for a 401, so a missing caller
/// is a permission-denied too (as it answers over HTTP, 403).
pub fn check(caller: Option<&Caller>, options: Options) -> Result<(), Error> {
    let caller = caller.ok_or_else(|| Error::permission_denied(MISSING_TOKEN))?;
    missing_scopes(caller, options).map_err(Error::permission_denied)
}

/// `Ok` if `caller` holds every scope of one of `options`; else the reference's 403 message.
fn missing_scopes(caller: &Caller, options: Options) -> Result<(), String> {
    let mut failures = Vec::new();
    for (i, option) in options.iter().enumerate() {
        let missing: Vec<&str> = option.iter().copied().filter(|s| !caller.has_scope(s)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        failures.push(format!("AuthOption[{i}]: {}", missing.join(", ")));
    }
    let expected: Vec<String> =
        options.iter().map(|option| format!("[Authority: ({})]", option.join(" AND "))).collect();
    Err(format!(
        "Access token missing scopes ({}) while expecting {} and got {}",
        failures.join(" ; "),
        expected.join(" OR "),
        caller.scopes.join(", ")
    ))
}
