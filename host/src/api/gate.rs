//! The client door's gate: every call is authorized from its headers and its connection,
//! and its body received within a budget shared by the whole door, before tonic decodes a
//! byte of it. Without the gate an anonymous caller could make the node read and decode a
//! 64 MiB message on each of 128 streams of each of 1,024 connections before any check.
//!
//! The caller it finds rides in the request's extensions ([`Authorized`]); the handlers
//! take it from there ([`caller_of`]), and refuse a call that did not pass the gate. The
//! door's other services (health, reflection) pass gates of their own ([`Gate::beside`]):
//! the same rules ([`access_of`]), by each call's whole path.

use super::authz::{Access, Authorizer, Role, access_of};
use crate::budget::Budget;
use crate::gate::{Admit, Gated};
use crate::tls::accept::ConnInfo;
use std::sync::Arc;
use tonic::Status;
use tonic::body::Body;
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

/// What every clone of the door's gates shares.
struct Shared {
    authz: Authorizer,
    receiving: Budget,
}

/// The client door's checks.
#[derive(Clone)]
pub struct ClientChecks {
    shared: Arc<Shared>,
    /// Whether request bodies are received within the door's budget.
    budgeted: bool,
}

/// A service of the client door, behind its checks.
pub type Gate<S> = Gated<S, ClientChecks>;

impl<S> Gated<S, ClientChecks> {
    pub fn new(inner: S, authz: Authorizer, max_receiving: usize) -> Gate<S> {
        let shared = Arc::new(Shared { authz, receiving: Budget::new(max_receiving) });
        Gated { inner, admit: ClientChecks { shared, budgeted: true } }
    }

    /// A gate for another service of the same door, with the same authorizer. Its request
    /// bodies are not held against the door's budget: a stream (reflection's) would hold
    /// its bytes for as long as it stays open, so such a service must bound each message
    /// with a small decoding limit of its own instead.
    pub fn beside<T>(&self, inner: T) -> Gate<T> {
        Gated { inner, admit: ClientChecks { shared: self.admit.shared.clone(), budgeted: false } }
    }
}

impl Admit for ClientChecks {
    fn admit(&self, request: http::Request<Body>) -> Result<http::Request<Body>, Status> {
        let (mut parts, body) = request.into_parts();
        let conn = parts.extensions.get::<ConnInfo>();
        let caller = match access_of(parts.uri.path()) {
            // No caller rides along: a handler that asks for one refuses the call.
            Access::Anyone => None,
            Access::Needs(role) => Some(self.shared.authz.authorize(&parts.headers, conn, role)?),
        };
        // Credentials that pass (or a door that asks for none) vouch for the connection, a
        // health probe's too.
        if let Some(conn) = conn
            && (caller.is_some() || self.shared.authz.authorize(&parts.headers, Some(conn), Role::Read).is_ok())
        {
            conn.vouch();
        }
        if let Some(caller) = caller {
            parts.extensions.insert(Authorized(caller));
        }
        let body = match self.budgeted {
            true => self.shared.receiving.hold(body),
            false => body,
        };
        Ok(http::Request::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

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
        assert!(client.admit.budgeted && !other.admit.budgeted);
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
