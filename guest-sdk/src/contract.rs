//! The WIT contract's types in plain Rust (`wit/applier.wit`, package `wasmraft:applier`).
//!
//! The guest adapter converts the generated bindings to these, and the host uses them
//! directly, so host and guest share one definition of every value that crosses the boundary.

use serde::{Deserialize, Serialize};

/// The WIT package this SDK is built against, as `package@version`.
pub const ABI: &str = "wasmraft:applier@0.3.0";

/// The authenticated principal on whose behalf an entry was proposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub subject: String,
    pub scopes: Vec<String>,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// What the log says about an entry besides its command; identical on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub index: u64,
    pub term: u64,
    /// Nanoseconds since the Unix epoch, never decreasing from entry to entry.
    pub timestamp_ns: u64,
    pub caller: Option<Caller>,
    /// 32 proposer-chosen random bytes: the source of ids.
    pub entropy: [u8; 32],
}

/// How a command, query or output is serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Postcard,
    Json,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Postcard => "postcard",
            Encoding::Json => "json",
        }
    }
}

/// A serialized command or query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub encoding: Encoding,
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

impl Payload {
    pub fn json(bytes: impl Into<Vec<u8>>) -> Self {
        Payload { encoding: Encoding::Json, bytes: bytes.into() }
    }

    pub fn postcard(bytes: impl Into<Vec<u8>>) -> Self {
        Payload { encoding: Encoding::Postcard, bytes: bytes.into() }
    }
}

/// A refusal as it crosses the boundary: stable code, human message, optional body in the
/// request's encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplierError {
    pub code: String,
    pub message: String,
    #[serde(with = "serde_bytes")]
    pub body: Option<Vec<u8>>,
}

impl ApplierError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ApplierError { code: code.into(), message: message.into(), body: None }
    }
}

impl std::fmt::Display for ApplierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApplierError {}

/// Identity of an applier module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub name: String,
    pub version: String,
}

/// Log levels of the `log` interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// An HTTP request as it crosses the boundary (the caller, time and entropy travel in the
/// call's [`Meta`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    pub auth_error: Option<String>,
    pub settings: Vec<(String, String)>,
}

pub use crate::http::Response as HttpResponse;

/// What the module's `handle` decided, as it crosses the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Respond(HttpResponse),
    Propose(Payload),
    Read(Payload),
}

/// What became of a proposed command or query, as it crosses to `render`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    Applied(Vec<u8>),
    Answered(Vec<u8>),
    Failed(ApplierError),
}
