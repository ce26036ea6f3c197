//! Requests at the client doors, counted and timed: a tower layer for the gRPC door
//! (go-grpc-prometheus's names, as etcd serves them) and an axum middleware for HTTP.
//! Labels are bounded whatever clients send: gRPC methods are the door's own (an unknown
//! one is answered by tonic before any handler, as `Unimplemented`, and labelled `other`),
//! HTTP routes are the hosted appliers' prefixes, methods the standard ones.

use super::Metrics;
use crate::runtime::routes;
use crate::status::StatusBoard;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// Counts and times every call of the services it wraps.
#[derive(Clone)]
pub struct GrpcLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for GrpcLayer {
    type Service = Grpc<S>;

    fn layer(&self, inner: S) -> Grpc<S> {
        Grpc { inner, metrics: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct Grpc<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// The door's services and their methods, labelled by name: the layer counts calls before
/// the gate authenticates them, so any other path, whatever a caller makes up, is `other`.
const KNOWN: [(&str, &[&str]); 4] = [
    ("wasmraft.v1.Client", &["Propose", "Query", "Status", "Upgrade", "ChangeMembers", "TransferLeader", "Backup"]),
    ("grpc.health.v1.Health", &["Check", "Watch"]),
    ("grpc.reflection.v1.ServerReflection", &["ServerReflectionInfo"]),
    ("grpc.reflection.v1alpha.ServerReflection", &["ServerReflectionInfo"]),
];

/// (service, method) of a gRPC path `/package.Service/Method`.
fn grpc_labels(path: &str) -> (String, String) {
    let known = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(service, method)| KNOWN.iter().any(|(s, methods)| s == service && methods.contains(method)));
    match known {
        Some((service, method)) => (service.to_string(), method.to_string()),
        None => ("other".into(), "other".into()),
    }
}

/// A call under way: recorded once, when its status is known.
struct Call {
    metrics: Arc<Metrics>,
    service: String,
    method: String,
    started: Instant,
}

impl Call {
    fn done(self, code: &str) {
        let labels = [self.service.as_str(), self.method.as_str()];
        self.metrics.grpc_duration.with_label_values(&labels).observe(self.started.elapsed().as_secs_f64());
        self.metrics.grpc_handled.with_label_values(&[labels[0], labels[1], code]).inc();
    }
}

/// The name of a `grpc-status` value, as gRPC's Go implementation spells it.
fn code_name(status: Option<&http::HeaderValue>) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    let code = status.and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    code.and_then(|c| NAMES.get(c).copied()).unwrap_or("Unknown")
}

impl<S, B, RB> tower::Service<http::Request<B>> for Grpc<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Unpin,
{
    type Response = http::Response<Observed<RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (service, method) = grpc_labels(request.uri().path());
        let call = Call { metrics: self.metrics.clone(), service, method, started: Instant::now() };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            // An error answered at once carries its status in the headers (trailers-only);
            // otherwise the status comes in the trailers, after the messages.
            let pending = match response.headers().get("grpc-status") {
                Some(status) => {
                    call.done(code_name(Some(status)));
                    None
                }
                None => Some(call),
            };
            Ok(response.map(|inner| Observed { inner, call: pending }))
        })
    }
}

/// A response body that records its call when the trailers pass (or, if the client goes
/// away first, as `Canceled`).
pub struct Observed<B> {
    inner: B,
    call: Option<Call>,
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Observed<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => {
                let status = frame.trailers_ref().and_then(|t| t.get("grpc-status"));
                if let Some(call) = self.call.take() {
                    call.done(code_name(status));
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                if let Some(call) = self.call.take() {
                    call.done("Unknown");
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Observed<B> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.done("Canceled");
        }
    }
}

/// The HTTP door's state for [`http_layer`].
#[derive(Clone)]
pub struct HttpMetrics {
    pub metrics: Arc<Metrics>,
    pub status: Arc<StatusBoard>,
}

/// The route label of `path`: a health probe's own path, the hosted prefix that serves it,
/// or `other` (the primary applier answers those, mostly with 404).
fn http_route(status: &StatusBoard, path: &str) -> String {
    if matches!(path, "/healthy" | "/livez" | "/readyz") {
        return path.to_string();
    }
    let fronts = status.fronts();
    let prefix = fronts.iter().flat_map(|f| f.routes.iter()).find(|p| routes::matches(p, path));
    prefix.map_or_else(|| "other".to_string(), Clone::clone)
}

/// Counts and times an HTTP request (to its response's head).
pub async fn http_layer(State(door): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = http_route(&door.status, request.uri().path());
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "PUT" => "PUT",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let response = next.run(request).await;
    let metrics = &door.metrics;
    metrics.http_duration.with_label_values(&[&route, method]).observe(started.elapsed().as_secs_f64());
    metrics.http_requests.with_label_values(&[&route, method, response.status().as_str()]).inc();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_bounded_whatever_the_path() {
        assert_eq!(grpc_labels("/wasmraft.v1.Client/Propose"), ("wasmraft.v1.Client".into(), "Propose".into()));
        assert_eq!(grpc_labels("/grpc.health.v1.Health/Check").1, "Check");
        let odd = ["/evil.Service/Propose", "/wasmraft.v1.Client/Pro pose", "/wasmraft.v1.Client", "", "/"];
        let made_up = ["/wasmraft.v1.Client/A1", "/grpc.health.v1.Health/Check2"];
        for odd in odd.iter().chain(&made_up) {
            assert_eq!(grpc_labels(odd), ("other".into(), "other".into()), "{odd:?}");
        }
        let value = |s: &'static str| http::HeaderValue::from_static(s);
        assert_eq!(code_name(Some(&value("0"))), "OK");
        assert_eq!(code_name(Some(&value("8"))), "ResourceExhausted");
        assert_eq!(code_name(Some(&value("99"))), "Unknown");
        assert_eq!(code_name(None), "Unknown");
        let board = StatusBoard::default();
        assert_eq!(http_route(&board, "/readyz"), "/readyz");
        assert_eq!(http_route(&board, "/kv/some-key"), "other", "no applier yet");
    }
}
