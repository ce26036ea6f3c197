//! The client door's gate: every call is authorized from its headers and its connection,
//! and its body received within a budget shared by the whole door, before tonic decodes a
//! byte of it. Without the gate an anonymous caller could make the node read and decode a
//! 64 MiB message on each of 128 streams of each of 1,024 connections before any check.
//!
//! The caller it finds rides in the request's extensions ([`Authorized`]); the handlers
//! take it from there ([`caller_of`]), and refuse a call that did not pass the gate. The
//! door's other services (health, reflection) pass gates of their own ([`Gate::beside`]):
//! the same rules ([`access_of`]), by each call's whole path.

use super::authz::{Access, Authorizer, access_of};
use crate::budget::Budget;
use crate::tls::accept::ConnInfo;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use wasmraft_sdk::contract::Caller;

/// Bytes of request bodies the door holds while receiving them, across all its calls. One
/// call may carry up to [`crate::proto::MAX_MESSAGE`] (a module); a few such at once fit.
pub const MAX_RECEIVING: usize = 256 << 20;

/// Who the gate let in: `None` on an open node with no credentials given.
#[derive(Debug, Clone)]
pub struct Authorized(pub Option<Caller>);

/// The caller of a request that passed the gate.
pub fn caller_of<T>(request: &tonic::Request<T>) -> Result<Option<Caller>, Status> {
    match request.extensions().get::<Authorized>() {
        Some(Authorized(caller)) => Ok(caller.clone()),
        None => Err(Status::internal("the call did not pass the client door's gate")),
    }
}

/// What every clone of a gate shares.
struct Shared {
    authz: Authorizer,
    receiving: Budget,
}

/// Wraps a service of the client door.
pub struct Gate<S> {
    inner: S,
    shared: Arc<Shared>,
    /// Whether request bodies are received within the door's budget.
    budgeted: bool,
}

impl<S: Clone> Clone for Gate<S> {
    fn clone(&self) -> Self {
        Gate { inner: self.inner.clone(), shared: self.shared.clone(), budgeted: self.budgeted }
    }
}

impl<S> Gate<S> {
    pub fn new(inner: S, authz: Authorizer, max_receiving: usize) -> Gate<S> {
        let shared = Arc::new(Shared { authz, receiving: Budget::new(max_receiving) });
        Gate { inner, shared, budgeted: true }
    }

    /// A gate for another service of the same door, with the same authorizer. Its request
    /// bodies are not held against the door's budget: a stream (reflection's) would hold
    /// its bytes for as long as it stays open, so such a service must bound each message
    /// with a small decoding limit of its own instead.
    pub fn beside<T>(&self, inner: T) -> Gate<T> {
        Gate { inner, shared: self.shared.clone(), budgeted: false }
    }
}

impl<S: NamedService> NamedService for Gate<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Gate<S>
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
        let (mut parts, body) = request.into_parts();
        match access_of(parts.uri.path()) {
            // No caller rides along: a handler that asks for one refuses the call.
            Access::Anyone => {}
            Access::Needs(role) => {
                let conn = parts.extensions.get::<ConnInfo>();
                match self.shared.authz.authorize(&parts.headers, conn, role) {
                    Ok(caller) => {
                        parts.extensions.insert(Authorized(caller));
                    }
                    Err(status) => return Box::pin(std::future::ready(Ok(status.into_http()))),
                }
            }
        }
        let body = match self.budgeted {
            true => self.shared.receiving.hold(body),
            false => body,
        };
        Box::pin(self.inner.call(http::Request::from_parts(parts, body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn on_a_closed_door_only_health_probes_pass_without_credentials() {
        use tower::{Service, ServiceExt};
        // Answers whether a caller rode in with the call.
        let inner = tower::service_fn(|request: http::Request<Body>| async move {
            let mut response = http::Response::new(Body::default());
            let authorized = request.extensions().get::<Authorized>().is_some();
            response.headers_mut().insert("authorized", authorized.to_string().parse().unwrap());
            Ok::<_, Infallible>(response)
        });
        let client = Gate::new(inner, Authorizer { tokens: None, certificates: true }, 1 << 20);
        let mut other = client.beside(inner);
        assert!(client.budgeted && !other.budgeted);
        for path in ["/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"] {
            let request = http::Request::builder().uri(path).body(Body::default()).unwrap();
            let response = other.ready().await.unwrap().call(request).await.unwrap();
            assert_eq!(response.headers()["authorized"], "false", "{path} passes, with no caller");
        }
        for path in [
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/wasmraft.v1.Client/Status",
            "/wasmraft.v1.Client/Check",
            "/other.Service/Check",
        ] {
            let request = http::Request::builder().uri(path).body(Body::default()).unwrap();
            let response = other.ready().await.unwrap().call(request).await.unwrap();
            let refused = response.extensions().get::<Status>().map(Status::code);
            assert_eq!(refused, Some(tonic::Code::Unauthenticated), "{path}");
        }
    }
}
