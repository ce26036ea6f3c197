//! wasmraft: a replicated state-machine host whose state machine is a WebAssembly component.
//!
//! Where things are:
//! - [`node`]: a node's data directory, settings and wiring of its threads;
//! - [`consensus`]: the Raft thread and its Ready loop;
//! - [`apply`]: the apply thread, which runs [`runtime`] (the deterministic wasm runtime);
//! - [`log`]: the write-ahead log; [`snapshot`]: snapshot files; [`membership`]: member addresses and changes;
//!   [`durable`]: how every other file is replaced;
//! - [`transport`]: peer gRPC; [`api`]: the client API and who may call it; [`proto`]: both protocols;
//!   [`gate`]: what a door checks before it reads a call; [`budget`]: the bytes its calls may hold while they arrive;
//! - [`tls`]: certificates, the doors' TLS and who a certificate names;
//! - [`handle`]: what the doors ask of a node (propose, read, upgrade, members), with one error type;
//! - [`http`]: the HTTP front door, which hands requests to the module;
//! - [`inbox`], [`proposals`], [`status`], [`entry`]: what the threads share;
//! - [`metrics`]: what Prometheus scrapes, recorded by every thread as it goes;
//! - [`cli`]: the `wasmraft` command.

pub mod api;
pub mod apply;
pub mod budget;
pub mod cli;
pub mod consensus;
pub mod durable;
pub mod entry;
pub mod gate;
pub mod handle;
pub mod http;
pub mod inbox;
pub mod log;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod process;
pub mod proposals;
pub mod proto;
pub mod runtime;
pub mod snapshot;
pub mod status;
pub mod tls;
pub mod transport;
