//! `GET /metrics` on `--metrics-listen`, plain HTTP as etcd's `--listen-metrics-urls`, on a
//! thread and runtime of its own: a scrape neither waits for the node's busy doors nor
//! takes their workers. The figures tell no secrets (counts, durations, indexes), but the
//! address should still be one only the monitoring system reaches.

use super::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;

/// Connections a scraper may hold open at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 16;

async fn metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], metrics.render())
}

/// Binds `listen` now (so that a taken port fails the start) and serves from a thread of
/// its own until the process ends.
pub fn start(listen: &str, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    use anyhow::Context;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("cannot listen for metrics scrapes on {listen}"))?;
    tracing::info!(listen, "serving metrics");
    let app = Router::new().route("/metrics", get(self::metrics)).with_state(metrics);
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        runtime.block_on(async move {
            let conns = crate::tls::accept::accept("metrics", listener, None, MAX_CONNECTIONS);
            let forever = std::future::pending::<()>();
            if let Err(e) = crate::http::listener::serve(conns, app, forever).await {
                tracing::error!("the metrics server failed: {e}");
            }
        })
    })?;
    Ok(())
}
