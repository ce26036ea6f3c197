//! Serving HTTP on accepted connections within limits that hold before any work is done for
//! a client: how many connections are open (counted where they are accepted), how long a request's head may take to arrive (so
//! a client that trickles bytes, or idles on a kept-alive connection, is cut off), how large
//! the head may be, and how many HTTP/2 requests one connection may have in flight. The
//! body's own deadline is the gateway's.

use crate::tls::accept::Conn;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tower::ServiceExt;

/// Connections open at once (see [`crate::tls::accept`] for those beyond it).
pub const MAX_CONNECTIONS: usize = 1024;
/// A request's line and headers must arrive within this, the next request's on a kept-alive
/// connection too: an idle connection closes after it.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head (HTTP/1 buffer, HTTP/2 header list): room for a 16 KiB token.
const MAX_HEAD_BYTES: usize = 64 << 10;
/// HTTP/2 requests in flight on one connection.
const MAX_STREAMS: u32 = 64;
/// How long connections get to finish their requests at shutdown.
const DRAIN: Duration = Duration::from_secs(2);

/// Serves `app` on the connections of `conns` (see [`crate::tls::accept`]) until `stop`
/// resolves.
pub async fn serve(
    mut conns: mpsc::Receiver<Conn>,
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .keep_alive_interval(HEADER_TIMEOUT)
        .keep_alive_timeout(HEADER_TIMEOUT);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let conn = tokio::select! {
            conn = conns.recv() => match conn {
                Some(conn) => conn,
                None => break,
            },
            () = &mut stop => break,
        };
        // The door's checks vouch for the connection through what each request carries.
        let info = conn.info().clone();
        let app = app.clone().map_request(move |mut request: axum::http::Request<_>| {
            request.extensions_mut().insert(info.clone());
            request
        });
        let service = TowerToHyperService::new(app);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(conn), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(connection);
    }
    // Accepting stops here; what is open gets a moment to finish.
    drop(conns);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    Ok(())
}
