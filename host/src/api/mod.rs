//! The client API service.

pub mod server;
