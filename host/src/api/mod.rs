//! The client API over gRPC and who may call it.

pub mod authz;
pub mod gate;
pub mod server;
pub mod standard;

pub use server::ClientService;
