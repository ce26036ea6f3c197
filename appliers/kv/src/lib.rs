//! The reference applier: a versioned key-value store, in the manner of etcd's keys.
//!
//! Every key carries a `version` (1 on creation, +1 per write, gone on delete) and the log
//! indexes at which it was created and last modified. `cas` writes only when the version
//! matches, which is how clients build read-modify-write on top of it.

use serde::{Deserialize, Serialize};
use wasmraft_sdk::http::{Handled, Request, Response};
use wasmraft_sdk::{Applier, Ctx, Error, Table};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Put {
        key: String,
        value: String,
    },
    Delete {
        key: String,
    },
    /// Writes `value` only if the key is at `expected_version` (0: the key must not exist).
    Cas {
        key: String,
        expected_version: u64,
        value: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    Get {
        key: String,
    },
    /// Keys in `[start, end)` (no `end`: to the last key), at most `limit` (default 100, at
    /// most 1000) of them.
    Range {
        start: String,
        end: Option<String>,
        limit: Option<u32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    Written { version: u64, mod_index: u64 },
    Deleted { version: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub version: u64,
    pub create_index: u64,
    pub mod_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryOutput {
    Entry(Entry),
    /// `more` is true when the range held keys beyond `limit`.
    Range {
        entries: Vec<Entry>,
        more: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    value: String,
    version: u64,
    create_index: u64,
    mod_index: u64,
}

const RECORDS: Table<String, Record> = Table::new("kv");

pub const DEFAULT_RANGE_LIMIT: u32 = 100;
pub const MAX_RANGE_LIMIT: u32 = 1000;

/// The typed refusals of the KV applier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvError {
    NotFound { key: String },
    VersionMismatch { key: String, expected: u64, actual: u64 },
}

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::NotFound { ref key } => Error::not_found(format!("key `{key}` does not exist")),
            KvError::VersionMismatch { ref key, expected, actual } => {
                Error::new("version-mismatch", format!("key `{key}` is at version {actual}, not {expected}"))
                    .with_body(e)
            }
        }
    }
}

fn write(ctx: &mut Ctx, key: String, value: String, current: Option<Record>) -> Result<Output, Error> {
    let index = ctx.index();
    let record = match current {
        Some(r) => Record { value, version: r.version + 1, create_index: r.create_index, mod_index: index },
        None => Record { value, version: 1, create_index: index, mod_index: index },
    };
    RECORDS.put(ctx, &key, &record)?;
    Ok(Output::Written { version: record.version, mod_index: index })
}

fn entry(key: String, r: Record) -> Entry {
    Entry { key, value: r.value, version: r.version, create_index: r.create_index, mod_index: r.mod_index }
}

/// Who the node says the caller is: `{subject, scopes}` or `{auth_error}` (a check of the
/// node's token verification; the KV applier itself lets anyone in).
#[derive(Serialize)]
struct WhoAmI<'a> {
    subject: Option<&'a str>,
    scopes: Vec<&'a str>,
    auth_error: Option<&'a str>,
}

/// The HTTP routes: `GET|PUT|DELETE /kv/{key}` (the body of a PUT is the value, as UTF-8),
/// `GET /kv?start=&end=&limit=` for a range, and `GET /whoami`. Outputs are the JSON of the
/// typed ones.
fn route(request: Request) -> Handled<Command, Query> {
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["whoami"]) => {
            let caller = request.caller.as_ref();
            Handled::Respond(Response::json(
                200,
                &WhoAmI {
                    subject: caller.map(|c| c.subject.as_str()),
                    scopes: caller.map(|c| c.scopes.iter().map(String::as_str).collect()).unwrap_or_default(),
                    auth_error: request.auth_error.as_deref(),
                },
            ))
        }
        ("GET", ["kv"]) => {
            let limit = match request.query_param("limit").map(|l| l.parse::<u32>()) {
                Some(Err(_)) => return Handled::Respond(Response::text(400, "limit must be a number")),
                limit => limit.map(Result::unwrap_or_default),
            };
            let start = request.query_param("start").unwrap_or_default();
            Handled::Read(Query::Range { start, end: request.query_param("end"), limit })
        }
        ("GET", ["kv", key]) => Handled::Read(Query::Get { key: key.to_string() }),
        ("PUT", ["kv", key]) => match String::from_utf8(request.body.clone()) {
            Ok(value) => Handled::Propose(Command::Put { key: key.to_string(), value }),
            Err(_) => Handled::Respond(Response::text(400, "the value must be UTF-8")),
        },
        ("DELETE", ["kv", key]) => Handled::Propose(Command::Delete { key: key.to_string() }),
        _ => Handled::Respond(Response::text(404, "no such route: try /kv/{key} or /kv?start=")),
    }
}

pub struct Kv;

impl Applier for Kv {
    const NAME: &'static str = "kv";
    const VERSION: &'static str = "1.0.0";
    const ROUTES: &'static [&'static str] = &["/kv", "/whoami"];

    type Command = Command;
    type Query = Query;
    type Output = Output;
    type QueryOutput = QueryOutput;

    fn apply(ctx: &mut Ctx, command: Command) -> Result<Output, Error> {
        match command {
            Command::Put { key, value } => {
                let current = RECORDS.get(ctx, &key)?;
                write(ctx, key, value, current)
            }
            Command::Cas { key, expected_version, value } => {
                let current = RECORDS.get(ctx, &key)?;
                let actual = current.as_ref().map_or(0, |r| r.version);
                if actual != expected_version {
                    return Err(KvError::VersionMismatch { key, expected: expected_version, actual }.into());
                }
                write(ctx, key, value, current)
            }
            Command::Delete { key } => match RECORDS.delete(ctx, &key)? {
                Some(old) => Ok(Output::Deleted { version: old.version }),
                None => Err(KvError::NotFound { key }.into()),
            },
        }
    }

    fn query(ctx: &Ctx, query: Query) -> Result<QueryOutput, Error> {
        match query {
            Query::Get { key } => match RECORDS.get(ctx, &key)? {
                Some(r) => Ok(QueryOutput::Entry(entry(key, r))),
                None => Err(KvError::NotFound { key }.into()),
            },
            Query::Range { start, end, limit } => {
                let limit = limit.unwrap_or(DEFAULT_RANGE_LIMIT);
                if limit == 0 || limit > MAX_RANGE_LIMIT {
                    return Err(Error::invalid_argument(format!("limit must be 1..={MAX_RANGE_LIMIT}, got {limit}")));
                }
                let rows = match end {
                    Some(end) => RECORDS.range(ctx, start..end),
                    None => RECORDS.range(ctx, start..),
                };
                let mut entries = Vec::new();
                let mut more = false;
                for row in rows {
                    if entries.len() == limit as usize {
                        more = true;
                        break;
                    }
                    let (key, record) = row?;
                    entries.push(entry(key, record));
                }
                Ok(QueryOutput::Range { entries, more })
            }
        }
    }

    fn handle(request: Request) -> Handled<Command, Query> {
        route(request)
    }
}

#[cfg(not(feature = "library"))]
wasmraft_sdk::export_applier!(Kv);

#[cfg(test)]
mod tests {
    use super::*;
    use wasmraft_sdk::Encoding::{Json, Postcard};
    use wasmraft_sdk::testing::TestHost;

    fn put(key: &str, value: &str) -> Command {
        Command::Put { key: key.into(), value: value.into() }
    }

    #[test]
    fn put_get_versions_and_indexes() {
        let mut h = TestHost::new();
        assert_eq!(h.apply::<Kv>(Postcard, &put("a", "1")), Ok(Output::Written { version: 1, mod_index: 1 }));
        assert_eq!(h.apply::<Kv>(Postcard, &put("a", "2")), Ok(Output::Written { version: 2, mod_index: 2 }));
        let got = h.query::<Kv>(Json, &Query::Get { key: "a".into() }).unwrap();
        assert_eq!(
            got,
            QueryOutput::Entry(Entry { key: "a".into(), value: "2".into(), version: 2, create_index: 1, mod_index: 2 })
        );
    }

    #[test]
    fn missing_keys_are_not_found() {
        let mut h = TestHost::new();
        let err = h.query::<Kv>(Postcard, &Query::Get { key: "nope".into() }).unwrap_err();
        assert_eq!(err.code, "not-found");
        let err = h.apply::<Kv>(Json, &Command::Delete { key: "nope".into() }).unwrap_err();
        assert_eq!(err.code, "not-found");
        assert!(err.message.contains("nope"), "{}", err.message);
    }

    #[test]
    fn delete_resets_the_version() {
        let mut h = TestHost::new();
        h.apply::<Kv>(Postcard, &put("k", "v")).unwrap();
        h.apply::<Kv>(Postcard, &put("k", "w")).unwrap();
        assert_eq!(h.apply::<Kv>(Postcard, &Command::Delete { key: "k".into() }), Ok(Output::Deleted { version: 2 }));
        assert_eq!(h.apply::<Kv>(Postcard, &put("k", "x")), Ok(Output::Written { version: 1, mod_index: 4 }));
    }

    #[test]
    fn cas_checks_the_version_and_reports_the_actual_one() {
        let mut h = TestHost::new();
        let cas = |v: u64, value: &str| Command::Cas { key: "c".into(), expected_version: v, value: value.into() };
        assert!(h.apply::<Kv>(Json, &cas(0, "first")).is_ok());
        let err = h.apply::<Kv>(Json, &cas(0, "again")).unwrap_err();
        assert_eq!(err.code, "version-mismatch");
        let body: KvError = serde_json::from_slice(err.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, KvError::VersionMismatch { key: "c".into(), expected: 0, actual: 1 });
        assert!(h.apply::<Kv>(Postcard, &cas(1, "second")).is_ok());
        let got = h.query::<Kv>(Postcard, &Query::Get { key: "c".into() }).unwrap();
        assert!(matches!(got, QueryOutput::Entry(Entry { ref value, version: 2, .. }) if value == "second"));
    }

    #[test]
    fn range_is_ordered_bounded_and_limited() {
        let mut h = TestHost::new();
        for k in ["b", "a", "d", "c", "e"] {
            h.apply::<Kv>(Postcard, &put(k, k)).unwrap();
        }
        let keys = |out: QueryOutput| match out {
            QueryOutput::Range { entries, more } => (entries.into_iter().map(|e| e.key).collect::<Vec<_>>(), more),
            other => panic!("unexpected {other:?}"),
        };
        let q = |start: &str, end: Option<&str>, limit| Query::Range {
            start: start.into(),
            end: end.map(Into::into),
            limit,
        };
        assert_eq!(keys(h.query::<Kv>(Json, &q("b", Some("d"), None)).unwrap()), (vec!["b".into(), "c".into()], false));
        assert_eq!(keys(h.query::<Kv>(Json, &q("", None, Some(2))).unwrap()), (vec!["a".into(), "b".into()], true));
        assert_eq!(h.query::<Kv>(Json, &q("", None, Some(0))).unwrap_err().code, "invalid-argument");
    }

    #[test]
    fn the_http_routes_write_and_read_through_the_log() {
        use wasmraft_sdk::http::Request;
        let mut h = TestHost::new();
        let put = h.serve::<Kv>(Request::new("PUT", "/kv/greeting").with_body("hello"));
        assert_eq!((put.status, put.json_body::<Output>()), (200, Some(Output::Written { version: 1, mod_index: 1 })));
        let got = h.serve::<Kv>(Request::new("GET", "/kv/greeting"));
        assert!(
            matches!(got.json_body::<QueryOutput>(), Some(QueryOutput::Entry(Entry { ref value, .. })) if value == "hello")
        );
        let range = h.serve::<Kv>(Request::new("GET", "/kv").with_query("start=a&limit=1"));
        assert!(
            matches!(range.json_body::<QueryOutput>(), Some(QueryOutput::Range { ref entries, more: false }) if entries.len() == 1)
        );
        assert_eq!(h.serve::<Kv>(Request::new("DELETE", "/kv/greeting")).status, 200);
        let missing = h.serve::<Kv>(Request::new("GET", "/kv/greeting"));
        assert_eq!(missing.status, 404);
        assert!(String::from_utf8_lossy(&missing.body).contains("greeting"));
        assert_eq!(h.serve::<Kv>(Request::new("GET", "/kv").with_query("limit=x")).status, 400);
        assert_eq!(h.serve::<Kv>(Request::new("POST", "/elsewhere")).status, 404);
        assert!(h.store.is_empty());
    }

    #[test]
    fn a_command_that_does_not_decode_is_a_bad_request() {
        let mut h = TestHost::new();
        let err = h
            .apply_payload::<Kv>(&wasmraft_sdk::contract::Payload::json(b"{\"put\":{\"key\":1}}".to_vec()))
            .unwrap_err();
        assert_eq!(err.code, "bad-request");
        assert!(err.message.starts_with("command does not decode as json"), "{}", err.message);
        let err = h.apply_payload::<Kv>(&wasmraft_sdk::contract::Payload::postcard(vec![9, 9, 9])).unwrap_err();
        assert_eq!(err.code, "bad-request");
        assert!(h.store.is_empty());
    }
}
