//! Who may call what: the scope options of each route, checked as the reference's generated
//! router does before any handler runs (401 without verified credentials, 403 without the
//! scopes of at least one option).

use crate::render::error;
use wasmraft_sdk::Caller;
use wasmraft_sdk::http::{Request, Response};

pub const SC: &str = "utm.strategic_coordination";
pub const CMSA: &str = "utm.conformance_monitoring_sa";
pub const CM: &str = "utm.constraint_management";
pub const CP: &str = "utm.constraint_processing";
pub const AA: &str = "utm.availability_arbitration";
const ISA_READ: &str = "dss.read.identification_service_areas";
const ISA_WRITE: &str = "dss.write.identification_service_areas";
const POOL_READ: &str = "interuss.pool_status.read";
const HEARTBEAT_WRITE: &str = "interuss.pool_status.heartbeat.write";

/// Alternatives, each a set of scopes that must all be held.
pub type Options = &'static [&'static [&'static str]];

pub const OIR: Options = &[&[SC], &[CMSA]];
pub const OIR_PUT: Options = &[&[SC], &[SC, CP], &[CMSA]];
pub const CONSTRAINT_READ: Options = &[&[CM], &[CP]];
pub const CONSTRAINT_WRITE: Options = &[&[CM]];
pub const SUBSCRIPTION: Options = &[&[CP], &[SC]];
pub const REPORT: Options = &[&[CM], &[CP], &[SC], &[CMSA], &[AA]];
pub const AVAILABILITY_READ: Options = &[&[AA], &[SC], &[CMSA]];
pub const AVAILABILITY_WRITE: Options = &[&[AA]];
pub const VALIDATE_OAUTH: Options = &[&[ISA_READ], &[ISA_WRITE]];
pub const POOL: Options = &[&[POOL_READ]];
pub const HEARTBEAT: Options = &[&[HEARTBEAT_WRITE]];

/// The caller, if it holds every scope of one of `options`; else the 401 or 403 to answer.
pub fn authorize(request: &Request, options: Options) -> Result<&Caller, Response> {
    let Some(caller) = &request.caller else {
        let why = request.auth_error.as_deref().unwrap_or("Missing access token");
        return Err(error(401, why));
    };
    let mut failures = Vec::new();
    for (i, option) in options.iter().enumerate() {
        let missing: Vec<&str> = option.iter().copied().filter(|s| !caller.has_scope(s)).collect();
        if missing.is_empty() {
            return Ok(caller);
        }
        failures.push(format!("AuthOption[{i}]: {}", missing.join(", ")));
    }
    let expected: Vec<String> =
        options.iter().map(|option| format!("[Authority: ({})]", option.join(" AND "))).collect();
    Err(error(
        403,
        &format!(
            "Access token missing scopes ({}) while expecting {} and got {}",
            failures.join(" ; "),
            expected.join(" OR "),
            caller.scopes.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_complete_option_passes() {
        let r = Request::new("GET", "/").with_caller("uss1", &[CP]);
        assert_eq!(authorize(&r, SUBSCRIPTION).unwrap().subject, "uss1");
        let r = Request::new("GET", "/").with_caller("uss1", &[CP]);
        let refused = authorize(&r, OIR_PUT).unwrap_err();
        assert_eq!(refused.status, 403);
        let body: serde_json::Value = refused.json_body().unwrap();
        assert_eq!(
            body["message"],
            "Access token missing scopes (AuthOption[0]: utm.strategic_coordination ; AuthOption[1]: \
             utm.strategic_coordination ; AuthOption[2]: utm.conformance_monitoring_sa) while expecting \
             [Authority: (utm.strategic_coordination)] OR [Authority: (utm.strategic_coordination AND \
             utm.constraint_processing)] OR [Authority: (utm.conformance_monitoring_sa)] and got utm.constraint_processing"
        );
    }

    #[test]
    fn no_credentials_is_401_with_the_reason() {
        let r = Request::new("GET", "/");
        let refused = authorize(&r, OIR).unwrap_err();
        assert_eq!(refused.status, 401);
        assert_eq!(refused.json_body::<serde_json::Value>().unwrap()["message"], "Missing access token");
        let r = Request::new("GET", "/").with_auth_error("token expired");
        assert_eq!(
            authorize(&r, OIR).unwrap_err().json_body::<serde_json::Value>().unwrap()["message"],
            "token expired"
        );
    }
}
