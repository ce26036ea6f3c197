//! A door's gate: what a door checks of a gRPC call from its headers and connection before
//! tonic reads a byte of its message ([`Admit`]), in front of the door's service
//! ([`Gated`]). The client door's checks are [`crate::api::gate`]'s, the peer door's
//! [`crate::transport::gate`]'s.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;

/// What a door checks of a call before its message is read.
pub trait Admit {
    /// The call as it goes on (a caller added to its extensions, its body held against a
    /// budget), or the refusal it is answered with at once.
    fn admit(&self, request: http::Request<Body>) -> Result<http::Request<Body>, Status>;
}

/// The service `inner` behind the checks of `admit`.
#[derive(Clone)]
pub struct Gated<S, A> {
    pub(crate) inner: S,
    pub(crate) admit: A,
}

impl<S: NamedService, A> NamedService for Gated<S, A> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, A: Admit> tower::Service<http::Request<Body>> for Gated<S, A>
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
        match self.admit.admit(request) {
            Ok(request) => Box::pin(self.inner.call(request)),
            Err(refused) => Box::pin(std::future::ready(Ok(refused.into_http()))),
        }
    }
}
