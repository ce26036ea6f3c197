//! # What the DSS's appliers share
//!
//! The strategic-coordination applier (`scd`) and the remote-ID applier (`rid`) answer
//! at one base URL the way the reference DSS (interuss/dss) does: the same token checks
//! (401, then 403 naming the missing scopes), the same error bodies, the same reading of
//! JSON bodies, ids, base URLs and RFC 3339 times. Written once here, so that the two
//! services cannot drift apart.

pub mod auth;
pub mod entry;
pub mod errors;
pub mod json;
pub mod request;
pub mod rfc3339;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;
