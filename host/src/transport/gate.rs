//! The peer door's gate, before tonic reads a byte of a call's message: with TLS, a call
//! whose certificate names no node of this cluster is refused from its connection (the CA
//! may issue clients' certificates too, and a unary message can be 64 MiB); the bodies of
//! unary calls are received within a budget shared by the whole door. Which node, and
//! whether it is a member, the handlers check ([`super::server`]).

use crate::budget::Budget;
use crate::gate::{Admit, Gated};
use crate::tls::accept::ConnInfo;
use crate::tls::names;
use tonic::Status;
use tonic::body::Body;

/// Bytes of unary request bodies the peer door holds while receiving them: a few modules
/// (`Prepare`) at once.
pub const MAX_RECEIVING: usize = 256 << 20;
/// The calls whose body is a stream, held for as long as it is open: not budgeted (each
/// message is bounded by the decoding limit, and taken as it arrives).
const STREAMS: [&str; 2] = ["/wasmraft.peer.v1.Peer/Raft", "/wasmraft.peer.v1.Peer/Snapshot"];

/// The peer door's checks.
#[derive(Clone)]
pub struct PeerChecks {
    /// With TLS: the cluster whose nodes' certificates pass.
    cluster_name: Option<String>,
    receiving: Budget,
}

/// A service of the peer door, behind its checks.
pub type PeerGate<S> = Gated<S, PeerChecks>;

/// `inner` behind the peer door's checks.
pub fn gate<S>(inner: S, cluster_name: Option<String>, max_receiving: usize) -> PeerGate<S> {
    Gated { inner, admit: PeerChecks { cluster_name, receiving: Budget::new(max_receiving) } }
}

impl Admit for PeerChecks {
    fn admit(&self, request: http::Request<Body>) -> Result<http::Request<Body>, Status> {
        let conn = request.extensions().get::<ConnInfo>();
        if let Some(cluster) = &self.cluster_name
            && conn.and_then(ConnInfo::leaf).and_then(|cert| names::node_of(cert, cluster)).is_none()
        {
            return Err(Status::unauthenticated(format!("the certificate names no node of cluster {cluster}")));
        }
        if let Some(conn) = conn {
            conn.vouch();
        }
        Ok(match STREAMS.contains(&request.uri().path()) {
            true => request,
            false => request.map(|body| self.receiving.hold(body)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::peer::peer_server::PeerServer;
    use crate::transport::server::PeerService;
    use tonic::server::NamedService;

    #[test]
    fn the_streams_are_the_peer_services() {
        let service = format!("/{}/", <PeerServer<PeerService> as NamedService>::NAME);
        assert!(STREAMS.iter().all(|path| path.starts_with(&service)), "{service}");
    }
}
