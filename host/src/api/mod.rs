//! The gRPC APIs: the protocol types and the client service.

pub mod proto;
pub mod server;
