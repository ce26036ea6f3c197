//! Serving HTTP from an applier: the module that applies the entries also answers the
//! requests that produce them.
//!
//! The node that receives a request calls [`crate::Applier::handle`], which runs there only
//! (not replicated, no store access) and decides: answer at once, propose a command, or run a
//! query at a linearizable read point. The outcome of that command or query comes back to
//! [`crate::Applier::render`], on the same node, which turns it into the response. So the
//! host has no routes, bodies or rules of its own: a new route is a change to the module.

use crate::codec;
use crate::contract::{ApplierError, Caller, Encoding, HttpRequest, Meta};
use crate::ids::Id;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Failure codes the host hands to `render` when it could not get an outcome, besides the
/// applier's own codes and the trap codes (`panic`, `out-of-fuel`, `out-of-memory`,
/// `stack-overflow`, `trap`, `limit-exceeded`, `exit`).
pub mod codes {
    /// Not done: no leader, or the node is stopping. Retry.
    pub const UNAVAILABLE: &str = "unavailable";
    /// The outcome is unknown (the deadline passed, or the leader changed or the node
    /// stopped while the command was in flight): it may or may not have applied.
    pub const TIMEOUT: &str = "timeout";
    /// The request's body is over the node's limit.
    pub const TOO_LARGE: &str = "payload-too-large";
    /// Too many requests are waiting on this node.
    pub const BUSY: &str = "busy";
}

/// A request as the node received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// As received, not percent-decoded.
    pub path: String,
    /// The raw query string, without `?`; empty if none.
    pub query: String,
    pub body: Vec<u8>,
    /// The verified bearer credentials; none if the request had none or they were refused.
    pub caller: Option<Caller>,
    /// Why the credentials the request presented were refused.
    pub auth_error: Option<String>,
    /// The receiving node's clock.
    pub time: Timestamp,
    /// The node's settings for the module (`serve --allow-http-base-urls` sets
    /// `allow-http-base-urls = true`).
    pub settings: Vec<(String, String)>,
    pub(crate) entropy: [u8; 32],
}

impl Request {
    /// A request with no body, caller or settings, at time zero (for tests).
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: String::new(),
            body: Vec::new(),
            caller: None,
            auth_error: None,
            time: Timestamp::default(),
            settings: Vec::new(),
            entropy: [0; 32],
        }
    }

    pub fn with_query(mut self, query: &str) -> Self {
        self.query = query.to_string();
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_caller(mut self, subject: &str, scopes: &[&str]) -> Self {
        self.caller =
            Some(Caller { subject: subject.to_string(), scopes: scopes.iter().map(|s| s.to_string()).collect() });
        self
    }

    pub fn with_auth_error(mut self, why: &str) -> Self {
        self.auth_error = Some(why.to_string());
        self
    }

    pub fn with_setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_time(mut self, time: Timestamp) -> Self {
        self.time = time;
        self
    }

    pub fn with_entropy(mut self, entropy: [u8; 32]) -> Self {
        self.entropy = entropy;
        self
    }

    /// The path's segments, empty ones dropped: `/a//b/` gives `["a", "b"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The percent-decoded value of the first `name=` in the query string.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |part: &str| percent_decode(&part.replace('+', " "));
            (decode(key) == name).then(|| decode(value))
        })
    }

    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A random v4 UUID, for ids that no replicated state depends on (a report's id, say).
    pub fn new_id(&self) -> Id {
        Id::derive(&self.entropy, 0)
    }
}

/// `%XX` escapes decoded (invalid ones kept as they are), for a path segment or, after `+`
/// became a space, a query string's key or value.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response: status, headers (the host adds the framing ones) and body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// `value` as JSON, or a 500 saying why it does not serialize.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        Response::json_written(status, serde_json::to_vec(value))
    }

    /// A JSON body the applier wrote itself, or a 500 saying why it could not.
    pub fn json_written(status: u16, body: serde_json::Result<Vec<u8>>) -> Self {
        match body {
            Ok(body) => Response { status, headers: vec![content_type("application/json")], body },
            Err(e) => Response::text(500, &format!("the response does not serialize: {e}")),
        }
    }

    pub fn text(status: u16, text: &str) -> Self {
        Response { status, headers: vec![content_type("text/plain; charset=utf-8")], body: text.as_bytes().to_vec() }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The body parsed as JSON (for tests and clients).
    pub fn json_body<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn content_type(value: &str) -> (String, String) {
    ("content-type".to_string(), value.to_string())
}

/// What [`crate::Applier::handle`] decided.
#[derive(Debug)]
pub enum Handled<C, Q> {
    /// Answer now.
    Respond(Response),
    /// Propose this command; its outcome goes to `render`.
    Propose(C),
    /// Run this query at a linearizable read point; its outcome goes to `render`.
    Read(Q),
}

/// What became of the command or query `handle` asked for.
#[derive(Debug)]
pub enum Outcome<O, Q> {
    Applied(O),
    Answered(Q),
    Failed(Failure),
}

/// A refused or failed command or query: the applier's error (with its body), a trap, or the
/// host's failure to get an outcome ([`codes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub message: String,
    body: Option<Vec<u8>>,
    encoding: Encoding,
}

impl Failure {
    pub(crate) fn from_wire(e: ApplierError, encoding: Encoding) -> Self {
        Failure { code: e.code, message: e.message, body: e.body, encoding }
    }

    /// The body the applier attached with [`crate::Error::with_body`], if it decodes as `T`.
    pub fn body<T: DeserializeOwned>(&self) -> Option<T> {
        codec::decode(self.encoding, self.body.as_deref()?).ok()
    }

    /// The HTTP status the SDK's default `render` gives this failure's code.
    pub fn default_status(&self) -> u16 {
        default_status(&self.code)
    }
}

/// The HTTP status of a failure code: the SDK's own (bad-request and invalid-argument 400,
/// permission-denied 403, not-found 404, conflict 409), the host's ([`codes`]: 413, 429,
/// 503, 504), and 500 for anything else (internal errors, traps).
pub fn default_status(code: &str) -> u16 {
    use crate::error::codes as sdk;
    match code {
        sdk::BAD_REQUEST | sdk::INVALID_ARGUMENT => 400,
        sdk::PERMISSION_DENIED => 403,
        sdk::NOT_FOUND => 404,
        sdk::CONFLICT => 409,
        codes::TOO_LARGE => 413,
        codes::BUSY => 429,
        codes::UNAVAILABLE => 503,
        codes::TIMEOUT => 504,
        _ => 500,
    }
}

/// The default `handle`: this applier serves no routes.
pub fn no_routes<C, Q>() -> Handled<C, Q> {
    Handled::Respond(Response::json(
        404,
        &ErrorBody { code: "not-found".into(), message: "this applier serves no HTTP routes".into() },
    ))
}

/// The default `render`: outputs as JSON with 200, failures as `{code, message}` with
/// [`Failure::default_status`].
pub fn render_json<O: Serialize, Q: Serialize>(outcome: Outcome<O, Q>) -> Response {
    match outcome {
        Outcome::Applied(o) => Response::json(200, &o),
        Outcome::Answered(q) => Response::json(200, &q),
        Outcome::Failed(f) => {
            Response::json(f.default_status(), &ErrorBody { code: f.code.clone(), message: f.message })
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// Proposed commands and queries cross as postcard: compact and fast to decode on every node.
pub(crate) const WIRE_ENCODING: Encoding = Encoding::Postcard;

impl Request {
    /// The applier's view of a request: the wire record plus the call's meta.
    pub(crate) fn from_wire(meta: Meta, r: HttpRequest) -> Request {
        Request {
            method: r.method,
            path: r.path,
            query: r.query,
            body: r.body,
            caller: meta.caller,
            auth_error: r.auth_error,
            time: Timestamp(meta.timestamp_ns),
            settings: r.settings,
            entropy: meta.entropy,
        }
    }

    /// The wire record and meta that carry this request, as a host sends it.
    pub fn into_wire(self, index: u64) -> (Meta, HttpRequest) {
        let meta = Meta { index, term: 0, timestamp_ns: self.time.0, caller: self.caller, entropy: self.entropy };
        let wire = HttpRequest {
            method: self.method,
            path: self.path,
            query: self.query,
            body: self.body,
            auth_error: self.auth_error,
            settings: self.settings,
        };
        (meta, wire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_query_strings() {
        let r = Request::new("GET", "/a//b/c/").with_query("x=1&name=caf%C3%A9+au+lait&flag&bad=%zz&x=2");
        assert_eq!(r.segments(), ["a", "b", "c"]);
        assert_eq!(r.query_param("x").as_deref(), Some("1"));
        assert_eq!(r.query_param("name").as_deref(), Some("café au lait"));
        assert_eq!(r.query_param("flag").as_deref(), Some(""));
        assert_eq!(r.query_param("bad").as_deref(), Some("%zz"));
        assert_eq!(r.query_param("missing"), None);
        assert_eq!(Request::new("GET", "/").with_query("t=%4").query_param("t").as_deref(), Some("%4"));
    }

    #[test]
    fn request_ids_come_from_the_request_entropy() {
        let r = Request::new("POST", "/").with_entropy([7; 32]);
        assert!(r.new_id().is_v4());
        assert_eq!(r.new_id(), r.clone().new_id());
        assert_ne!(r.new_id(), Request::new("POST", "/").with_entropy([8; 32]).new_id());
    }

    #[test]
    fn the_default_render_maps_codes_to_statuses() {
        let status = |code: &str| {
            let f = Failure::from_wire(ApplierError::new(code, "why"), Encoding::Postcard);
            render_json::<(), ()>(Outcome::Failed(f)).status
        };
        let pairs = [("bad-request", 400), ("permission-denied", 403), ("not-found", 404), ("conflict", 409)];
        for (code, expected) in
            pairs.into_iter().chain([(codes::TOO_LARGE, 413), (codes::BUSY, 429), (codes::UNAVAILABLE, 503)])
        {
            assert_eq!(status(code), expected, "{code}");
        }
        assert_eq!(status("panic"), 500);
        let ok = render_json::<u32, ()>(Outcome::Applied(7));
        assert_eq!(
            (ok.status, ok.header("Content-Type"), ok.json_body::<u32>()),
            (200, Some("application/json"), Some(7))
        );
    }

    #[test]
    fn failure_bodies_decode_in_their_encoding() {
        let e = crate::Error::conflict("taken").with_body(vec![1u32, 2]).into_wire(Encoding::Postcard);
        let f = Failure::from_wire(e, Encoding::Postcard);
        assert_eq!(f.body::<Vec<u32>>(), Some(vec![1, 2]));
        assert_eq!(f.body::<bool>(), None);
    }
}
