//! wasmraft: a replicated state-machine host whose state machine is a WebAssembly component.
//!
//! - [`runtime`]: applies entries through the applier, deterministically and atomically.
//! - [`cli`]: the `wasmraft` command.

pub mod api;
pub mod cli;
pub mod log;
pub mod runtime;
pub mod snapshot;

