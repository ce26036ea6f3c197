//! Unit-testing an applier natively: an in-memory store with the host's all-or-nothing rule,
//! and typed calls that travel through the real encodings.

use crate::Applier;
use crate::codec;
use crate::contract::{Action, ApplierError, Caller, Encoding, HttpOutcome, Info, Level, Meta, Payload};
use crate::http;
use crate::native::{self, Host};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;

/// An in-memory host. Each `apply` is one entry: its index increases, its time is the
/// host's clock (set it with [`TestHost::set_time`]), and an error discards its writes.
#[derive(Default)]
pub struct TestHost {
    pub store: BTreeMap<Vec<u8>, Vec<u8>>,
    pub logs: Vec<(Level, String)>,
    index: u64,
    time_ns: u64,
    caller: Option<Caller>,
}

impl Host for TestHost {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        self.store.get(key).cloned()
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.store.insert(key, value);
    }
    fn delete(&mut self, key: Vec<u8>) {
        self.store.remove(&key);
    }
    fn scan(&mut self, start: &[u8], end: Option<&[u8]>, limit: u32) -> Vec<u8> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let end = end.map_or(Unbounded, Excluded);
        let mut page = Vec::new();
        for (key, value) in self.store.range::<[u8], _>((Included(start), end)).take(limit as usize) {
            native::pack(&mut page, key, value);
        }
        page
    }
    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_string()));
    }
}

impl TestHost {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_time(&mut self, ns: u64) {
        self.time_ns = ns;
    }

    pub fn set_caller(&mut self, caller: Option<Caller>) {
        self.caller = caller;
    }

    fn meta(&self) -> Meta {
        Meta {
            index: self.index,
            term: 1,
            timestamp_ns: self.time_ns,
            caller: self.caller.clone(),
            entropy: {
                let mut e = [0u8; 32];
                e[..8].copy_from_slice(&self.index.to_le_bytes());
                e
            },
        }
    }

    /// Runs `call` as the next entry: an error discards its writes.
    fn entry<T>(&mut self, call: impl FnOnce(&mut Self, Meta) -> Result<T, ApplierError>) -> Result<T, ApplierError> {
        self.index += 1;
        let before = self.store.clone();
        let meta = self.meta();
        let result = call(self, meta);
        if result.is_err() {
            self.store = before;
        }
        result
    }

    /// Applies one serialized command as the next entry.
    pub fn apply_payload<A: Applier>(&mut self, command: &Payload) -> Result<Vec<u8>, ApplierError> {
        self.entry(|host, meta| native::apply::<A>(host, meta, command))
    }

    /// Runs `A::migrate` from `previous` as the next entry (an upgrade's).
    pub fn migrate<A: Applier>(&mut self, previous: &Info) -> Result<(), ApplierError> {
        self.entry(|host, meta| native::migrate::<A>(host, meta, previous))
    }

    pub fn query_payload<A: Applier>(&mut self, query: &Payload) -> Result<Vec<u8>, ApplierError> {
        let meta = self.meta();
        native::query::<A>(self, meta, query)
    }

    /// Encodes `input`, runs `call` on it, and decodes its output, as across the boundary.
    fn typed<I: Serialize, O: DeserializeOwned>(
        &mut self,
        encoding: Encoding,
        input: &I,
        call: impl FnOnce(&mut Self, &Payload) -> Result<Vec<u8>, ApplierError>,
    ) -> Result<O, ApplierError> {
        let payload = Payload { encoding, bytes: codec::encode(encoding, input).expect("the input encodes") };
        let output = call(self, &payload)?;
        Ok(codec::decode(encoding, &output).expect("the output decodes"))
    }

    /// A typed apply in `encoding`.
    pub fn apply<A: Applier>(&mut self, encoding: Encoding, command: &A::Command) -> Result<A::Output, ApplierError>
    where
        A::Command: Serialize,
        A::Output: DeserializeOwned,
    {
        self.typed(encoding, command, |h, p| h.apply_payload::<A>(p))
    }

    /// A typed query in `encoding`.
    pub fn query<A: Applier>(&mut self, encoding: Encoding, query: &A::Query) -> Result<A::QueryOutput, ApplierError>
    where
        A::Query: Serialize,
        A::QueryOutput: DeserializeOwned,
    {
        self.typed(encoding, query, |h, p| h.query_payload::<A>(p))
    }

    /// Serves an HTTP request as a node does: `handle`, then the command as the next entry
    /// (or the query against the store), then `render`. The host's time is the request's
    /// time and the entry's; the request's caller is the entry's caller.
    pub fn serve<A: Applier>(&mut self, request: http::Request) -> http::Response {
        let entropy = self.meta().entropy;
        let (meta, wire) =
            request.with_time(crate::Timestamp(self.time_ns)).with_entropy(entropy).into_wire(self.index);
        let saved = std::mem::replace(&mut self.caller, meta.caller.clone());
        let outcome = match native::handle::<A>(meta, wire) {
            Action::Respond(response) => {
                self.caller = saved;
                return response;
            }
            Action::Propose(command) => match self.apply_payload::<A>(&command) {
                Ok(output) => (command.encoding, HttpOutcome::Applied(output)),
                Err(e) => (command.encoding, HttpOutcome::Failed(e)),
            },
            Action::Read(query) => match self.query_payload::<A>(&query) {
                Ok(output) => (query.encoding, HttpOutcome::Answered(output)),
                Err(e) => (query.encoding, HttpOutcome::Failed(e)),
            },
        };
        self.caller = saved;
        // As a node renders: at the state the outcome came from, none for a failure.
        match outcome.1 {
            HttpOutcome::Failed(_) => native::render::<A>(&mut TestHost::new(), outcome.0, outcome.1),
            _ => native::render::<A>(self, outcome.0, outcome.1),
        }
    }

    /// Runs the applier's housekeeping at the host's time and applies the command it
    /// returns, if any, as the next entry.
    pub fn housekeeping<A: Applier>(&mut self) -> Option<Result<Vec<u8>, ApplierError>> {
        let command = native::housekeeping::<A>(self.meta())?;
        Some(self.apply_payload::<A>(&command))
    }
}
