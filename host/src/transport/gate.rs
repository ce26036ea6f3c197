//! The peer door's gate, before tonic reads a byte of a call's message: with TLS, a call
//! whose certificate names no node of this cluster is refused from its connection (the CA
//! may issue clients' certificates too, and a unary message can be 64 MiB); the bodies of
//! unary calls are received within a budget shared by the whole door. Which node, and
//! whether it is a member, the handlers check ([`super::server`]).

use crate::budget::Budget;
use crate::tls::accept::ConnInfo;
use crate::tls::names;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;

/// Bytes of unary request bodies the peer door holds while receiving them: a few modules
/// (`Prepare`) at once.
pub const MAX_RECEIVING: usize = 256 << 20;
/// The calls whose body is a stream, held for as long as it is open: not budgeted (each
/// message is bounded by the decoding limit, and taken as it arrives).
const STREAMS: [&str; 2] = ["/wasmraft.peer.v1.Peer/Raft", "/wasmraft.peer.v1.Peer/Snapshot"];

#[derive(Clone)]
pub struct PeerGate<S> {
    inner: S,
    /// With TLS: the cluster whose nodes' certificates pass.
    cluster_name: Option<String>,
    receiving: Budget,
}

impl<S> PeerGate<S> {
    pub fn new(inner: S, cluster_name: Option<String>, max_receiving: usize) -> PeerGate<S> {
        PeerGate { inner, cluster_name, receiving: Budget::new(max_receiving) }
    }
}

impl<S: NamedService> NamedService for PeerGate<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for PeerGate<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if let Some(cluster) = &self.cluster_name {
            let leaf = request.extensions().get::<ConnInfo>().and_then(ConnInfo::leaf);
            if leaf.and_then(|cert| names::node_of(cert, cluster)).is_none() {
                let refused = Status::unauthenticated(format!("the certificate names no node of cluster {cluster}"));
                return Box::pin(std::future::ready(Ok(refused.into_http())));
            }
        }
        let request = match STREAMS.contains(&request.uri().path()) {
            true => request,
            false => request.map(|body| self.receiving.hold(body)),
        };
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::peer::peer_server::PeerServer;
    use crate::transport::server::PeerService;

    #[test]
    fn the_streams_are_the_peer_services() {
        let service = format!("/{}/", <PeerServer<PeerService> as NamedService>::NAME);
        assert!(STREAMS.iter().all(|path| path.starts_with(&service)), "{service}");
    }
}
