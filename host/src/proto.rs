//! The wire protocols: the generated gRPC types (see `host/proto/`) and their limits.

/// The largest gRPC message either side of any service accepts.
pub const MAX_MESSAGE: usize = 64 << 20;

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
