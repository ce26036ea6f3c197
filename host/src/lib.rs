//! wasmraft: a replicated state-machine host whose state machine is a WebAssembly component.
//!
//! - [`runtime`]: applies entries through the applier, deterministically and atomically.
//! - [`cli`]: the `wasmraft` command.

pub mod api;
pub mod apply;
pub mod cli;
pub mod consensus;
pub mod entry;
pub mod log;
pub mod node;
pub mod runtime;
pub mod snapshot;
pub mod transport;

