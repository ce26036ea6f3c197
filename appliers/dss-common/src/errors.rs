//! The reference's error bodies: `{"message"}` for a 4xx, `{"error_message"}` for a 5xx.

use serde::Serialize;
use wasmraft_sdk::http::Response;

#[derive(Debug, Serialize)]
pub struct ErrorResponse {
    pub message: String,
}

/// The body of every 500 (`api.InternalServerErrorBody`).
#[derive(Debug, Serialize)]
pub struct InternalServerErrorBody {
    pub error_message: String,
}

/// An error response with the reference's body for `status`. (The reference appends an error
/// id, ` (E:<uuid>)`, that points into its logs; with no such logs here, messages carry none.)
pub fn error(status: u16, message: &str) -> Response {
    if status >= 500 {
        Response::json(status, &InternalServerErrorBody { error_message: message.to_string() })
    } else {
        Response::json(status, &ErrorResponse { message: message.to_string() })
    }
}

pub fn bad_request(message: impl AsRef<str>) -> Response {
    error(400, message.as_ref())
}
