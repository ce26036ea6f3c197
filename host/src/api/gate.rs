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
use crate::tls::accept::ConnInfo;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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
    receiving: Arc<Semaphore>,
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
        assert!(max_receiving <= u32::MAX as usize, "semaphore permits are u32");
        let shared = Arc::new(Shared { authz, receiving: Arc::new(Semaphore::new(max_receiving)) });
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
            true => Body::new(Budgeted { inner: body, budget: self.shared.receiving.clone(), held: None }),
            false => body,
        };
        Box::pin(self.inner.call(http::Request::from_parts(parts, body)))
    }
}

/// A request body whose bytes are counted against the door's budget as they arrive, and
/// given back when the body is dropped (once tonic has decoded the message: every call of
/// the client API is unary).
struct Budgeted {
    inner: Body,
    budget: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

impl HttpBody for Budgeted {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        let len = frame.data_ref().map_or(0, Bytes::len);
        if len > 0 {
            let permit = u32::try_from(len).ok().and_then(|n| self.budget.clone().try_acquire_many_owned(n).ok());
            let Some(permit) = permit else {
                return Poll::Ready(Some(Err(Status::resource_exhausted(
                    "this node is receiving as many bytes from clients as it takes; retry shortly",
                ))));
            };
            match &mut self.held {
                Some(held) => held.merge(permit),
                none => *none = Some(permit),
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn body_of(chunks: &[usize]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, Status>> =
            chunks.iter().map(|&n| Ok(Frame::data(Bytes::from(vec![0u8; n])))).collect();
        Body::new(StreamBody::new(tokio_stream::iter(frames)))
    }

    #[tokio::test]
    async fn bodies_are_received_within_the_budget_and_give_it_back_when_dropped() {
        let budget = Arc::new(Semaphore::new(100));
        let budgeted = |chunks: &[usize]| Budgeted { inner: body_of(chunks), budget: budget.clone(), held: None };
        let mut first = budgeted(&[30, 30]);
        assert_eq!(first.frame().await.unwrap().unwrap().data_ref().unwrap().len(), 30);
        assert_eq!(first.frame().await.unwrap().unwrap().data_ref().unwrap().len(), 30);
        assert_eq!(budget.available_permits(), 40, "held while the first body lives");
        let mut second = budgeted(&[30, 30]);
        assert!(second.frame().await.unwrap().is_ok());
        let refused = second.frame().await.unwrap().unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        drop((first, second));
        assert_eq!(budget.available_permits(), 100, "all given back");
        let mut whole = budgeted(&[100]);
        assert!(whole.frame().await.unwrap().is_ok());
        assert!(whole.frame().await.is_none());
    }

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
