//! The error an applier returns: a stable code, a message, and an optional typed body.

use crate::codec;
use crate::contract::{ApplierError, Encoding};
use serde::Serialize;
use std::borrow::Cow;

/// Codes the SDK itself produces. Appliers add their own (kebab-case, stable).
pub mod codes {
    /// The command or query did not decode into the applier's type.
    pub const BAD_REQUEST: &str = "bad-request";
    /// Something the applier asked of the SDK failed (a stored value that does not decode,
    /// an output that does not encode): a bug in the applier, reported rather than trapped.
    pub const INTERNAL: &str = "internal";
    pub const NOT_FOUND: &str = "not-found";
    pub const CONFLICT: &str = "conflict";
    pub const INVALID_ARGUMENT: &str = "invalid-argument";
    pub const PERMISSION_DENIED: &str = "permission-denied";
}

type BodyEncoder = Box<dyn Fn(Encoding) -> Result<Vec<u8>, String>>;

/// An applier's refusal. Returning it from `apply` discards every write of the call.
pub struct Error {
    code: Cow<'static, str>,
    message: String,
    body: Option<BodyEncoder>,
}

impl Error {
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error { code: code.into(), message: message.into(), body: None }
    }

    /// Attaches structured detail; it is serialized in the request's encoding.
    pub fn with_body<T: Serialize + 'static>(mut self, body: T) -> Self {
        self.body = Some(Box::new(move |enc| codec::encode(enc, &body).map_err(|e| e.to_string())));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::new(codes::BAD_REQUEST, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(codes::INTERNAL, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(codes::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Error::new(codes::CONFLICT, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(codes::INVALID_ARGUMENT, message)
    }

    pub fn permission_denied(message: impl Into<String>) -> Self {
        Error::new(codes::PERMISSION_DENIED, message)
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The boundary form, with the body serialized in `encoding`.
    pub fn into_wire(self, encoding: Encoding) -> ApplierError {
        match self.body.as_ref().map(|encode| encode(encoding)) {
            None => ApplierError { code: self.code.into_owned(), message: self.message, body: None },
            Some(Ok(body)) => ApplierError { code: self.code.into_owned(), message: self.message, body: Some(body) },
            Some(Err(e)) => {
                ApplierError::new(codes::INTERNAL, format!("{} (and its error body did not encode: {e})", self.message))
            }
        }
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("has_body", &self.body.is_some())
            .finish()
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}
