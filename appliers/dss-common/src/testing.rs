//! An HTTP test client for the DSS appliers: each request served as a node serves it
//! (`TestHost::serve`: `handle`, then the command through postcard as the next entry or
//! the query, then `render`), with JSON bodies, and the check that a refusal changes nothing.

use crate::rfc3339::Nanos;
use serde_json::Value;
use std::marker::PhantomData;
use wasmraft_sdk::Applier;
use wasmraft_sdk::http::Request;
use wasmraft_sdk::testing::TestHost;

/// A caller: the `sub` and the scopes of its access token.
#[derive(Debug, Clone, Copy)]
pub struct Who {
    pub sub: &'static str,
    pub scopes: &'static [&'static str],
}

/// One applier over an in-memory store, its clock counted from `epoch`.
pub struct Client<A> {
    pub host: TestHost,
    epoch: Nanos,
    /// The node's settings, handed with every request (`--http-setting NAME=VALUE`).
    pub settings: Vec<(&'static str, &'static str)>,
    applier: PhantomData<A>,
}

impl<A: Applier> Client<A> {
    pub fn new(epoch: Nanos) -> Self {
        let mut client = Client { host: TestHost::new(), epoch, settings: Vec::new(), applier: PhantomData };
        client.set_time(0);
        client
    }

    /// Sets the clock (the time of the next requests and entries) to `offset` after the epoch.
    pub fn set_time(&mut self, offset: Nanos) {
        self.host.set_time(u64::try_from(self.epoch + offset).expect("a time after 1970"));
    }

    /// The status and the JSON body (`null` when empty) of `request`.
    pub fn serve(&mut self, request: Request) -> (u16, Value) {
        let response = self.host.serve::<A>(request);
        let body = if response.body.is_empty() { Value::Null } else { response.json_body().expect("a JSON body") };
        (response.status, body)
    }

    /// `method path[?query]` from `who`, with `body` as JSON.
    pub fn call(&mut self, who: Who, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut request = Request::new(method, path).with_query(query).with_caller(who.sub, who.scopes);
        for (name, value) in &self.settings {
            request = request.with_setting(name, value);
        }
        if let Some(body) = body {
            request = request.with_body(body.to_string());
        }
        self.serve(request)
    }

    pub fn get(&mut self, who: Who, path: &str) -> (u16, Value) {
        self.call(who, "GET", path, None)
    }

    pub fn put(&mut self, who: Who, path: &str, body: &Value) -> (u16, Value) {
        self.call(who, "PUT", path, Some(body))
    }

    pub fn post(&mut self, who: Who, path: &str, body: &Value) -> (u16, Value) {
        self.call(who, "POST", path, Some(body))
    }

    pub fn delete(&mut self, who: Who, path: &str) -> (u16, Value) {
        self.call(who, "DELETE", path, None)
    }

    /// A call that must be refused, and leave the store as it was.
    pub fn refused(&mut self, who: Who, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let before = self.host.store.clone();
        let (status, reply) = self.call(who, method, path, body);
        assert!(status >= 400, "{status} {reply}");
        assert!(self.host.store == before, "a refused {method} {path} changed the store");
        (status, reply)
    }
}

pub fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The `message` of an error body.
pub fn message(reply: &Value) -> &str {
    str_of(&reply["message"])
}
