//! # wasmraft-sdk: write a wasmraft applier in plain Rust
//!
//! An applier is the deterministic state machine a wasmraft cluster replicates. Every node
//! applies every committed entry by calling your `apply`, so it must compute its result from
//! the command, the entry's meta (index, time, caller, entropy) and the store alone.
//!
//! ```
//! use wasmraft_sdk::{Applier, Ctx, Error, Table};
//!
//! const COUNTERS: Table<String, u64> = Table::new("counters");
//!
//! pub struct Counter;
//! impl Applier for Counter {
//!     const NAME: &'static str = "counter";
//!     const VERSION: &'static str = "1.0.0";
//!     type Command = String;          // the counter to bump
//!     type Query = String;            // the counter to read
//!     type Output = u64;
//!     type QueryOutput = u64;
//!     fn apply(ctx: &mut Ctx, name: String) -> Result<u64, Error> {
//!         let n = COUNTERS.get(ctx, &name)?.unwrap_or(0) + 1;
//!         COUNTERS.put(ctx, &name, &n)?;
//!         Ok(n)
//!     }
//!     fn query(ctx: &Ctx, name: String) -> Result<u64, Error> {
//!         Ok(COUNTERS.get(ctx, &name)?.unwrap_or(0))
//!     }
//! }
//! wasmraft_sdk::export_applier!(Counter);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --profile applier` for the cluster; the
//! same crate compiles natively, where [`testing::TestHost`] runs it in unit tests.
//!
//! Rules the host enforces (and you can rely on): an `apply` that returns an error, panics,
//! or runs out of fuel or memory changes nothing; there is no clock but [`Ctx::now`] and no
//! randomness but [`Ctx::new_id`]. Guest memory may live across several entries (the host
//! resets it at points fixed by the log index), so never let a cache change a result.

pub mod codec;
pub mod contract;
mod ctx;
mod dispatch;
mod error;
pub mod http;
mod ids;
pub mod keys;
mod sys;
mod table;
mod time;

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "applier",
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "wasmraft_sdk::bindings",
    });
}

pub use contract::{Caller, Encoding, Info, Level, Meta};
pub use ctx::{Ctx, Scan};
pub use error::{Error, codes};
pub use http::{Handled, Outcome};
pub use ids::Id;
pub use keys::Key;
pub use serde;
pub use table::{Index, IndexOf, Rows, Table};
pub use time::Timestamp;

use serde::{Serialize, de::DeserializeOwned};

/// A replicated state machine. Implement it on a unit struct and export it with
/// [`export_applier!`].
pub trait Applier: 'static {
    /// Stays the same across upgrades: an upgrade to a module with another name is refused.
    const NAME: &'static str;
    /// Semver; every upgrade must raise it.
    const VERSION: &'static str;

    /// The HTTP path prefixes [`Applier::handle`] serves (whole segments: `/kv` serves
    /// `/kv/a`, not `/kvx`). A node that hosts several appliers routes a request by them;
    /// the first applier also gets every path no applier claims. Prefixes of appliers in
    /// one cluster may not overlap.
    const ROUTES: &'static [&'static str] = &[];

    type Command: Serialize + DeserializeOwned;
    type Query: Serialize + DeserializeOwned;
    type Output: Serialize + DeserializeOwned;
    type QueryOutput: Serialize + DeserializeOwned;

    /// Applies one committed entry. Returning an error discards every write it made.
    fn apply(ctx: &mut Ctx, command: Self::Command) -> Result<Self::Output, Error>;

    /// Answers a read from the local state.
    fn query(ctx: &Ctx, query: Self::Query) -> Result<Self::QueryOutput, Error>;

    /// Runs once when this module replaces `previous` (an upgrade); converts stored data if
    /// its layout changed. An error keeps the previous module and its state.
    fn migrate(_ctx: &mut Ctx, _previous: &Info) -> Result<(), Error> {
        Ok(())
    }

    /// Answers an HTTP request on the node that received it: not replicated, and without
    /// store access. Check credentials, decode and validate, then answer at once, or hand
    /// back a command to propose or a query to run at a linearizable read point; either's
    /// outcome then goes to [`Applier::render`]. See [`http`].
    fn handle(_request: http::Request) -> http::Handled<Self::Command, Self::Query> {
        http::no_routes()
    }

    /// Turns the outcome of what `handle` asked for into the response, on the node that
    /// received the request. `ctx` reads the state the outcome came from: the applier's
    /// state just after the entry applied, or the one the query read (nothing, for a
    /// failure). So what only the answer needs (a list of whom to notify, say) can be
    /// read here, once, rather than in `apply` on every node. Its meta is empty: rendering
    /// is no entry. A retried request that had applied (see the idempotency key) renders
    /// its first output at the state of the retry.
    fn render(_ctx: &Ctx, outcome: http::Outcome<Self::Output, Self::QueryOutput>) -> http::Response {
        http::render_json(outcome)
    }

    /// Called now and then on the leader with its clock; a command returned is proposed
    /// (housekeeping, such as removing what expired).
    fn housekeeping(_now: Timestamp) -> Option<Self::Command> {
        None
    }
}

/// Exports `$ty: Applier` as the component's `state-machine` interface. Expands to nothing
/// in native builds, so the crate compiles both ways unchanged.
#[macro_export]
macro_rules! export_applier {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __WasmraftExported = $crate::guest::Adapter<$ty>;
    $crate::bindings::export_world!(__WasmraftExported with_types_in $crate::bindings);
        };
    };
}
