//! How much the node holds for its callers at once: calls waiting for an outcome, and the
//! bytes of what they carry. Every door's calls are admitted here before any work is done;
//! beyond either bound a call is refused at once as [`NodeError::Busy`] (RESOURCE_EXHAUSTED
//! on gRPC, 503 on HTTP), so that a flood of calls costs the node bounded memory and
//! leaves room for the rest.

use super::NodeError;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Calls in flight at once, on all doors.
pub const MAX_CALLS: usize = 8192;
/// The bytes those calls carry (commands, queries, modules), at once.
pub const MAX_BYTES: usize = 512 << 20;

pub struct Admission {
    calls: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    max_bytes: usize,
}

/// A call's place; released when dropped.
#[must_use]
pub struct Admitted {
    _call: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

impl Default for Admission {
    fn default() -> Admission {
        Admission::new(MAX_CALLS, MAX_BYTES)
    }
}

impl Admission {
    pub fn new(max_calls: usize, max_bytes: usize) -> Admission {
        assert!(max_bytes <= u32::MAX as usize, "semaphore permits are u32");
        Admission { calls: Arc::new(Semaphore::new(max_calls)), bytes: Arc::new(Semaphore::new(max_bytes)), max_bytes }
    }

    /// A place for a call carrying `bytes`, or why there is none now.
    pub fn admit(&self, bytes: usize) -> Result<Admitted, NodeError> {
        let busy = |what: &str| NodeError::Busy(format!("this node holds as many {what} as it takes; retry shortly"));
        // A call larger than the whole budget could never be admitted: its own limit refuses it first.
        let bytes = bytes.min(self.max_bytes) as u32;
        let call = self.calls.clone().try_acquire_owned().map_err(|_| busy("calls"))?;
        let bytes = self.bytes.clone().try_acquire_many_owned(bytes).map_err(|_| busy("bytes of calls"))?;
        Ok(Admitted { _call: call, _bytes: bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_bytes_are_bounded_and_released() {
        let admission = Admission::new(2, 100);
        let a = admission.admit(60).unwrap();
        assert!(matches!(admission.admit(50), Err(NodeError::Busy(_))), "over the bytes");
        let b = admission.admit(40).unwrap();
        assert!(matches!(admission.admit(0), Err(NodeError::Busy(_))), "over the calls");
        drop((a, b));
        let _c = admission.admit(100).unwrap();
        drop(_c);
        // Larger than the budget: admitted alone (the call's own size limit refuses it).
        let _d = admission.admit(1000).unwrap();
        assert!(admission.admit(1).is_err());
    }
}
