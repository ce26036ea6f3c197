//! What `apply` and `query` know about the entry they run for (`dss_common::entry`): its
//! time and its caller, the manager.

pub use dss_common::entry::{now, subject as manager};
