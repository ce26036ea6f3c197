//! The wire protocols: the generated gRPC types (see `host/proto/`), their limits, and the
//! conventions both gRPC services keep (deadlines, and a node's refusals as status codes).

use crate::handle::NodeError;
use std::time::Duration;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

/// The largest gRPC message either side of any service accepts.
pub const MAX_MESSAGE: usize = 64 << 20;
/// The longest deadline a call may ask for.
pub const MAX_DEADLINE: Duration = Duration::from_secs(120);

// Nested as the packages are, so that the peer protocol's references to client messages
// resolve.
#[allow(clippy::module_inception)]
pub mod wasmraft {
    pub mod v1 {
        tonic::include_proto!("wasmraft.v1");
    }
    pub mod peer {
        pub mod v1 {
            tonic::include_proto!("wasmraft.peer.v1");
        }
    }
}

pub use wasmraft::peer::v1 as peer;
pub use wasmraft::v1 as client;

/// The client API's descriptors (an encoded `FileDescriptorSet`, made by `build.rs`), for
/// the client door's reflection service.
pub const CLIENT_DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/client_descriptor.bin"));

/// The call's deadline: `grpc-timeout` (e.g. `500m`, `10S`), else `default`.
pub fn deadline(metadata: &MetadataMap, default: Duration) -> Duration {
    let parsed = metadata.get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(|v| {
        let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
        let n: u64 = digits.parse().ok()?;
        Some(match unit {
            "H" => Duration::from_secs(n.saturating_mul(3600)),
            "M" => Duration::from_secs(n.saturating_mul(60)),
            "S" => Duration::from_secs(n),
            "m" => Duration::from_millis(n),
            "u" => Duration::from_micros(n),
            "n" => Duration::from_nanos(n),
            _ => return None,
        })
    });
    let deadline = parsed.unwrap_or(default).min(MAX_DEADLINE);
    // Answer a little before the caller gives up, so that it hears why.
    deadline.saturating_sub((deadline / 10).min(Duration::from_millis(200)))
}

/// A node's refusal as a gRPC status.
pub fn status_of(e: NodeError) -> Status {
    let code = match &e {
        NodeError::Unavailable(_) => Code::Unavailable,
        NodeError::DeadlineExceeded(_) => Code::DeadlineExceeded,
        NodeError::Busy(_) => Code::ResourceExhausted,
        NodeError::Refused(_) => Code::FailedPrecondition,
        NodeError::Invalid(_) => Code::InvalidArgument,
        NodeError::Aborted(_) => Code::Aborted,
        NodeError::Internal(_) => Code::Internal,
    };
    Status::new(code, e.to_string())
}

/// The failure of a call this node handed the leader, as this node's own. A status the
/// leader sent says what it did; one made here of a broken connection (it carries its
/// cause) cannot: the call may have reached the leader and been carried out, so "not done,
/// retry" would be false.
pub fn forwarded_error(status: Status) -> NodeError {
    match std::error::Error::source(&status) {
        Some(_) => NodeError::DeadlineExceeded(format!(
            "the leader's answer was lost ({}): the call may or may not have been carried out",
            status.message()
        )),
        None => node_error_of(status),
    }
}

/// A gRPC status from another node (the leader answering a call this node handed it), as
/// this node's own refusal.
fn node_error_of(status: Status) -> NodeError {
    let text = status.message().to_string();
    match status.code() {
        Code::DeadlineExceeded => NodeError::DeadlineExceeded(text),
        Code::ResourceExhausted => NodeError::Busy(text),
        Code::FailedPrecondition => NodeError::Refused(text),
        Code::InvalidArgument => NodeError::Invalid(text),
        Code::Aborted => NodeError::Aborted(text),
        Code::Internal => NodeError::Internal(text),
        _ => NodeError::Unavailable(format!("the leader did not take the call: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before, a connection to the leader that broke after a forwarded member change was
    /// sent answered UNAVAILABLE ("not done, retry"), though the leader may have made it.
    #[test]
    fn a_forwarded_call_whose_answer_was_lost_has_an_unknown_outcome() {
        let broken = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
        let lost = Status::from_error(Box::new(broken));
        assert!(matches!(forwarded_error(lost), NodeError::DeadlineExceeded(_)));
        let unreachable = Status::unavailable("cannot reach the leader (2 at 127.0.0.1:1): connection refused");
        assert!(matches!(forwarded_error(unreachable), NodeError::Unavailable(_)), "never sent: not done");
        let refused = status_of(NodeError::Refused("another membership change is still in progress".into()));
        assert!(matches!(forwarded_error(refused), NodeError::Refused(_)), "the leader's own answer");
    }
}
