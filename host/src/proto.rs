//! The wire protocols: the generated gRPC types (see `host/proto/`) and their limits.

/// The largest gRPC message either side of any service accepts.
pub const MAX_MESSAGE: usize = 64 << 20;

pub mod client {
    tonic::include_proto!("wasmraft.v1");
}

pub mod peer {
    tonic::include_proto!("wasmraft.peer.v1");
}
