//! The generated gRPC types (see `host/proto/`).

pub mod client {
    tonic::include_proto!("wasmraft.v1");
}

pub mod peer {
    tonic::include_proto!("wasmraft.peer.v1");
}
