//! The HTTP front door: every request but the health probes (`GET /healthy`, `/livez`,
//! `/readyz`: [`health`]) goes to the active module, which decides what it means (see
//! [`gateway`]). Bearer tokens are verified here, at the edge
//! ([`auth`]); what the caller may do is the module's business.

pub mod auth;
pub mod dev;
mod gateway;
pub mod health;
pub mod listener;

pub use gateway::Gateway;

use crate::metrics::{HttpMetrics, http_layer};
use axum::Router;
use axum::routing::get;
use std::sync::Arc;

/// Requests whose body is larger are refused (413) before the module sees them.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// Bytes of request bodies the door holds while it receives them and the module handles
/// them, across all its requests (at least two of the largest allowed).
pub const MAX_RECEIVING: usize = 256 << 20;
/// What callers without a verified token may hold, on a node that verifies tokens: a budget
/// of their own beside `MAX_RECEIVING` (at least two of the largest bodies allowed).
pub const ANONYMOUS_RECEIVING: usize = 32 << 20;

/// Serves `gateway` on the connections of `conns` until `stop` resolves, within
/// [`listener`]'s limits.
pub async fn serve(
    conns: tokio::sync::mpsc::Receiver<crate::tls::accept::Conn>,
    gateway: Arc<Gateway>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut app = Router::new()
        // Liveness for load balancers and orchestration, as the reference DSS answers it:
        // no credentials, no module.
        .route("/healthy", get(health::livez))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .fallback(gateway::serve);
    if gateway.verifier.is_none() {
        app = app.layer(axum::middleware::from_fn(open_door));
    }
    let app = app
        .layer(axum::middleware::from_fn_with_state(
            HttpMetrics { metrics: gateway.node.metrics.clone(), status: gateway.node.status.clone() },
            http_layer,
        ))
        .with_state(gateway);
    listener::serve(conns, app, stop).await
}

/// On a node that verifies no tokens every request vouches for its connection (see
/// [`crate::tls::accept`]), health probes too; otherwise the gateway vouches for those whose
/// token passes.
async fn open_door(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    if let Some(conn) = request.extensions().get::<crate::tls::accept::ConnInfo>() {
        conn.vouch();
    }
    next.run(request).await
}
