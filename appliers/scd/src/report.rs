//! DSS reports (dss-semantics §1.11): no state; answered on the node that took them.

use crate::auth;
use crate::json::ErrorReport;
use crate::request::{Reply, body};
use wasmraft_sdk::http::{Handled, Request, Response};

/// 201 with the report as read (unknown fields dropped) and a fresh `report_id`.
pub fn make(request: &Request) -> Reply {
    auth::authorize(request, auth::REPORT)?;
    let mut report: ErrorReport = body(request)?;
    report.report_id = Some(request.new_id().to_string());
    Ok(Handled::Respond(Response::json(201, &report)))
}
