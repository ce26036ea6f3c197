//! Who may call what: the scope options of each route (checked by `dss_common::auth` as the
//! reference's generated router does), per route and per command and query.

use crate::api::{Command, Query};

pub const SC: &str = "utm.strategic_coordination";
pub const CMSA: &str = "utm.conformance_monitoring_sa";
pub const CM: &str = "utm.constraint_management";
pub const CP: &str = "utm.constraint_processing";
pub const AA: &str = "utm.availability_arbitration";
const ISA_READ: &str = "dss.read.identification_service_areas";
const ISA_WRITE: &str = "dss.write.identification_service_areas";
const POOL_READ: &str = "interuss.pool_status.read";
const HEARTBEAT_WRITE: &str = "interuss.pool_status.heartbeat.write";

pub use dss_common::auth::{Options, authorize, check};

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

/// The options of the route that proposes `command`; `None` for the eviction, which the
/// leader proposes as housekeeping, without a caller, and which only removes what expired.
pub fn of_command(command: &Command) -> Option<Options> {
    Some(match command {
        Command::PutOir(_) => OIR_PUT,
        Command::DeleteOir { .. } => OIR,
        Command::PutConstraint(_) | Command::DeleteConstraint { .. } => CONSTRAINT_WRITE,
        Command::PutSubscription(_) | Command::DeleteSubscription { .. } => SUBSCRIPTION,
        Command::SetAvailability(_) => AVAILABILITY_WRITE,
        Command::RecordHeartbeat(_) => HEARTBEAT,
        Command::Evict => return None,
        Command::TimeIndexed(command) => return of_command(command),
    })
}

/// The options of the route that reads with `query`.
pub fn of_query(query: &Query) -> Options {
    match query {
        Query::GetOir { .. } | Query::QueryOirs { .. } => OIR,
        Query::GetConstraint { .. } | Query::QueryConstraints { .. } => CONSTRAINT_READ,
        Query::GetSubscription { .. } | Query::QuerySubscriptions { .. } => SUBSCRIPTION,
        Query::GetAvailability { .. } => AVAILABILITY_READ,
        Query::DssInstances => POOL,
        Query::TimeIndexed(query) => of_query(query),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmraft_sdk::http::Request;

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
