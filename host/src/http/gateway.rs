//! One request's way through the node: verify the bearer token, pick the hosted applier
//! whose routes serve the path (else the primary), ask its `handle`, then answer at once,
//! or propose the command it returned to that applier (through the leader, as any
//! proposal), or run its query at a linearizable read point; the outcome goes to the
//! applier's `render`. The module's calls run on blocking threads, never on the reactor.

use super::auth::Verifier;
use crate::budget::{Budget, Held};
use crate::handle::{NodeError, NodeHandle};
use crate::proposals::Wants;
use crate::runtime::{CallError, Front, FrontResult, HostError, OutsideCall, StateMap, request_meta};
use crate::tls::accept::ConnInfo;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_stream::StreamExt;
use wasmraft_sdk::contract::{Action, ApplierError, Caller, Encoding, HttpOutcome, HttpRequest, HttpResponse};
use wasmraft_sdk::http::codes;

pub struct Gateway {
    pub node: Arc<NodeHandle>,
    /// None: the node verifies no tokens (every request is anonymous).
    pub verifier: Option<Arc<Verifier>>,
    /// Handed to the module with every request.
    pub settings: Vec<(String, String)>,
    pub max_body: usize,
    /// What the bodies being received and handled may hold, across the door: of callers
    /// with a verified token, or of everyone on a node that verifies none.
    pub receiving: Budget,
    /// The same for callers without a verified token on a node that verifies them: however
    /// many bodies they send, callers with one are not kept waiting.
    pub anonymous: Budget,
    /// How long a proposal or a read may take.
    pub deadline: Duration,
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The last resort, when the module cannot answer for itself.
fn plain(status: StatusCode, text: String) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The module's response as HTTP. Framing headers are the server's, not the module's.
fn to_http(r: HttpResponse) -> Response {
    let Ok(status) = StatusCode::from_u16(r.status) else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, format!("the module answered with status {}", r.status));
    };
    let mut response = Response::new(Body::from(r.body));
    *response.status_mut() = status;
    for (name, value) in r.headers {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) else { continue };
        if ![header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION].contains(&name) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// A failure to get an outcome, as the module's `render` receives it. Only what was
/// surely not done says "retry" (503): a request that can never pass is the caller's
/// (400), one that may have applied is unknown (504), and a node's failure is 500.
fn failure(e: NodeError) -> ApplierError {
    use wasmraft_sdk::codes as sdk;
    let code = match e {
        NodeError::DeadlineExceeded(_) => codes::TIMEOUT,
        NodeError::Busy(_) => codes::BUSY,
        NodeError::Unavailable(_) | NodeError::Aborted(_) => codes::UNAVAILABLE,
        NodeError::Invalid(_) => sdk::INVALID_ARGUMENT,
        // Refused: membership changes only, never a module's command. Internal: the node
        // failed (it may have halted with the command in flight): not a "retry" either.
        NodeError::Refused(_) | NodeError::Internal(_) => sdk::INTERNAL,
    };
    ApplierError::new(code, e.to_string())
}

/// Runs a call of the module on a blocking thread.
async fn run<T: Send + 'static>(
    front: &Arc<dyn Front>,
    f: impl FnOnce(&dyn Front) -> FrontResult<T> + Send + 'static,
) -> FrontResult<T> {
    let front = front.clone();
    tokio::task::spawn_blocking(move || f(front.as_ref()))
        .await
        .unwrap_or_else(|join| Err(HostError::Call(format!("the call did not finish: {join}"))))
}

/// This node's failure to run a module's call, as the response: without an instance the
/// module cannot render one.
fn host_failure(e: HostError) -> Response {
    match e {
        busy @ HostError::Busy { .. } => {
            let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, busy.to_string());
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        host => plain(StatusCode::INTERNAL_SERVER_ERROR, host.to_string()),
    }
}

/// Runs a call of the module on a blocking thread; a failure of this node to run it is the
/// response already.
async fn call<T: Send + 'static>(
    front: &Arc<dyn Front>,
    f: impl FnOnce(&dyn Front) -> FrontResult<T> + Send + 'static,
) -> Result<Result<T, CallError>, Response> {
    run(front, f).await.map_err(host_failure)
}

/// How much of a body over the limit is still read (and dropped) before the 413.
const DRAIN_LIMIT: usize = 64 << 20;

/// Grows `kept` to hold `to` bytes, within `budget`: the budget holds what the buffer
/// reserves, not what it holds (grown by doubling, a buffer reserves up to twice that).
fn reserve(kept: &mut Vec<u8>, held: &mut Held, budget: &Budget, to: usize) -> bool {
    let more = to.saturating_sub(kept.capacity());
    if !held.more(budget, more) {
        return false;
    }
    kept.reserve_exact(to - kept.len());
    true
}

/// Why a body was not kept.
enum NotKept {
    /// Over the limit (announced or sent), or broken off.
    TooLarge,
    /// The door holds as many bytes of bodies as it takes.
    Busy,
}

/// The body, held against the door's `budget` while it lives. Of a body not kept nothing
/// is, but the rest is read and dropped (up to `DRAIN_LIMIT`, within `deadline`): a client
/// still sending when the node answers and closes would see a reset connection rather than
/// the 413 or 503.
async fn read_body(
    body: Body,
    declared: Option<usize>,
    limit: usize,
    deadline: Duration,
    budget: &Budget,
) -> Result<(Vec<u8>, Held), NotKept> {
    let mut chunks = body.into_data_stream();
    let mut not_kept = NotKept::TooLarge;
    if declared.is_none_or(|n| n <= limit) {
        let (mut kept, mut held) = (Vec::new(), Held::default());
        // Held as the bytes arrive, never as announced: headers that announce a body and
        // send none hold nothing of the door's budget.
        let most = declared.unwrap_or(limit);
        loop {
            match chunks.next().await {
                None => return Ok((kept, held)),
                Some(Ok(chunk)) if kept.len() + chunk.len() > limit => break,
                Some(Ok(chunk)) => {
                    let need = kept.len() + chunk.len();
                    let to = need.max((2 * kept.capacity()).min(most));
                    if need > kept.capacity() && !reserve(&mut kept, &mut held, budget, to) {
                        not_kept = NotKept::Busy;
                        break;
                    }
                    kept.extend_from_slice(&chunk);
                }
                Some(Err(_)) => return Err(NotKept::TooLarge),
            }
        }
    }
    let drain = async {
        let mut drained = 0usize;
        while drained <= DRAIN_LIMIT {
            match chunks.next().await {
                Some(Ok(chunk)) => drained += chunk.len(),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(deadline, drain).await;
    Err(not_kept)
}

impl Gateway {
    /// The caller the token names, or why the token was refused.
    fn authenticate(&self, header: Option<&HeaderValue>) -> (Option<Caller>, Option<String>) {
        let Some(header) = header else { return (None, None) };
        let Some(verifier) = &self.verifier else {
            return (
                None,
                Some("this node verifies no access tokens (it was started without --jwt-public-key)".into()),
            );
        };
        let Ok(text) = header.to_str() else { return (None, Some("the Authorization header is not ASCII".into())) };
        match verifier.verify_header(text, now().as_secs()) {
            Ok(p) => (Some(Caller { subject: p.subject, scopes: p.scopes }), None),
            Err(e) => (None, Some(e.to_string())),
        }
    }

    /// The response of `applier`'s active module (an upgrade may have replaced the one that
    /// handled the request: the outcome is the new module's) for `outcome`.
    /// Renders `outcome` with the module reading `state`, the state it came from.
    /// `call`: [`OutsideCall::Finish`] for an outcome the cluster reached (of a proposal or
    /// a query), whose render waits for an instance (renders have instances of their own,
    /// which new requests cannot take) rather than answer "retry": a write that may have
    /// applied is never answered 503. [`OutsideCall::Start`] for a refusal at the door.
    async fn render(
        &self,
        applier: &str,
        call: OutsideCall,
        encoding: Encoding,
        outcome: HttpOutcome,
        state: StateMap,
    ) -> Response {
        let Some(hosted) = self.node.status.front(Some(applier)) else {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "the node is starting".into());
        };
        let unknown = matches!(&outcome, HttpOutcome::Failed(e) if e.code == codes::TIMEOUT);
        match run(&hosted.front, move |f| f.render(call, encoding, outcome, state)).await {
            Ok(Ok(response)) => to_http(response),
            Ok(Err(e)) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the module failed to render its answer: {}", e.into_error()),
            ),
            Err(e) if call == OutsideCall::Start => host_failure(e),
            Err(e) if unknown => plain(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the request may or may not have applied, and this node could not render its answer: {e}"),
            ),
            Err(e) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the request's outcome is known, but this node could not render its answer: {e}"),
            ),
        }
    }

    async fn serve(&self, request: Request) -> Response {
        let Some(hosted) = self.node.status.route(request.uri().path()) else {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "the node is starting".into());
        };
        let applier = hosted.name.as_str();
        let (caller, auth_error) = self.authenticate(request.headers().get(header::AUTHORIZATION));
        // Credentials that pass: the connection keeps its place (on a node that asks for none,
        // every request vouched at the door, [`super::open_door`]).
        if caller.is_some()
            && let Some(conn) = request.extensions().get::<ConnInfo>()
        {
            conn.vouch();
        }
        let (parts, body) = request.into_parts();
        // A client's request id (draft-ietf-httpapi-idempotency-key-header): a retry gets
        // the first outcome. Not ASCII: kept as it came, for the node to refuse.
        let idempotency_key =
            parts.headers.get(IDEMPOTENCY_KEY).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        // A request id is its caller's: a retry whose token has since expired would be
        // anonymous, find no first outcome, and apply again (where the module serves
        // anonymous callers). So a refused token is not taken as "no token" here.
        if let (Some(why), Some(_), Some(_)) = (&auth_error, &idempotency_key, &self.verifier) {
            let mut response = plain(
                StatusCode::UNAUTHORIZED,
                format!(
                    "the bearer token was refused ({why}); a request with an Idempotency-Key needs a valid token or \
                     none, since its outcome is kept for its caller"
                ),
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            return response;
        }
        let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
        // A body must arrive within the request's deadline: a client that trickles it holds
        // a connection and a task, never more.
        let budget = match caller.is_none() && self.verifier.is_some() {
            true => &self.anonymous,
            false => &self.receiving,
        };
        let reading = read_body(body, declared, self.max_body, self.deadline, budget);
        let (body, held) = match tokio::time::timeout(self.deadline, reading).await {
            Err(_) => {
                let why = format!("the request body did not arrive within {:?}", self.deadline);
                return plain(StatusCode::REQUEST_TIMEOUT, why);
            }
            Ok(Ok(body)) => body,
            Ok(Err(not_kept)) => {
                let e = match not_kept {
                    NotKept::TooLarge => ApplierError::new(
                        codes::TOO_LARGE,
                        format!("the request body is over this node's limit of {} bytes", self.max_body),
                    ),
                    NotKept::Busy => failure(NodeError::Busy(
                        "this node is receiving as many request bodies as it takes; retry shortly".into(),
                    )),
                };
                let refused = HttpOutcome::Failed(e);
                return self.render(applier, OutsideCall::Start, Encoding::Json, refused, StateMap::default()).await;
            }
        };
        let Some(meta) = request_meta(self.node.status.applied().index, caller.clone()) else {
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "no entropy from the OS".into());
        };
        let request = HttpRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            body,
            auth_error,
            settings: self.settings.clone(),
        };
        let mut replayed = false;
        // The module renders a failure from no state.
        let failed = |e| (HttpOutcome::Failed(e), StateMap::default());
        let handled = call(&hosted.front, move |f| f.handle(meta, request)).await;
        // The body is the module's to keep no longer (a command it made travels on its own).
        drop(held);
        let mut call = OutsideCall::Finish;
        let (encoding, (outcome, state)) = match handled {
            Ok(Ok(Action::Respond(response))) => return to_http(response),
            Ok(Ok(Action::Propose(command))) => {
                let encoding = command.encoding;
                let key = idempotency_key.as_deref();
                let wants = Wants::OutputAndState;
                let outcome =
                    match self.node.propose_command(Some(applier), command, caller, key, wants, self.deadline).await {
                        Ok(applied) => {
                            replayed = applied.replayed;
                            match applied.result {
                                Ok(output) => (HttpOutcome::Applied(output), applied.state.unwrap_or_default()),
                                Err(e) => failed(e),
                            }
                        }
                        Err(e) => failed(failure(e)),
                    };
                (encoding, outcome)
            }
            Ok(Ok(Action::Read(query))) => {
                let encoding = query.encoding;
                let outcome = match self.node.linearizable_query(Some(applier), query, caller, self.deadline).await {
                    Ok(answer) => match answer.result {
                        Ok(output) => (HttpOutcome::Answered(output), answer.state),
                        Err(e) => failed(e),
                    },
                    Err(e) => failed(failure(e)),
                };
                (encoding, outcome)
            }
            // The module trapped in `handle`: it may still say so in its own words.
            Ok(Err(e)) => {
                call = OutsideCall::Start;
                (Encoding::Postcard, failed(e.into_error()))
            }
            Err(response) => return response,
        };
        let mut response = self.render(applier, call, encoding, outcome, state).await;
        if replayed {
            response.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
        }
        response
    }
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// On the answer to a retry: the outcome is the first attempt's (Stripe's name for it).
const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

pub(super) async fn serve(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    gateway.serve(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// Before, a body held the length its headers announced at once: five HTTP/2
    /// connections announcing 1 MiB bodies on 64 streams each, and sending none, held the
    /// whole door, and every write was refused as busy.
    #[tokio::test]
    async fn announced_bodies_hold_nothing_until_their_bytes_arrive() {
        let (budget, limit, deadline) = (Budget::new(2 << 20), 1 << 20, Duration::from_secs(5));
        let stalled: Vec<_> = (0..4)
            .map(|_| {
                let budget = budget.clone();
                let silent = Body::from_stream(tokio_stream::pending::<Result<Bytes, std::io::Error>>());
                tokio::spawn(async move { read_body(silent, Some(limit), limit, deadline, &budget).await.is_ok() })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sent = vec![7u8; limit];
        let read = read_body(Body::from(sent.clone()), Some(limit), limit, deadline, &budget).await;
        let Ok((kept, _held)) = read else { panic!("the door held the announced bytes of silent bodies") };
        assert_eq!(kept, sent);
        assert!(stalled.iter().all(|s| !s.is_finished()), "a silent body was given up before its deadline");
        stalled.iter().for_each(|s| s.abort());
    }

    #[test]
    fn only_what_surely_did_not_happen_is_worth_a_retry() {
        use wasmraft_sdk::http::default_status;
        let status = |e: NodeError| default_status(&failure(e).code);
        assert_eq!(status(NodeError::Unavailable("no leader".into())), 503);
        assert_eq!(status(NodeError::Aborted("overtaken".into())), 503);
        assert_eq!(status(NodeError::Busy("full".into())), 429);
        assert_eq!(status(NodeError::Invalid("a request id of 300 bytes".into())), 400);
        assert_eq!(status(NodeError::DeadlineExceeded("in flight".into())), 504);
        assert_eq!(status(NodeError::Internal("halted with the entry in flight".into())), 500);
    }
}
