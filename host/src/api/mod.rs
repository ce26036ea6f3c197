//! The client API service.

mod members;
pub mod server;
