//! The wasm side of the boundary: the generated `state-machine` export, implemented once for
//! every applier, converting the generated types to the SDK's and back.

use crate::bindings::exports::wasmraft::applier::http_handler::{self as wit_http, Guest as HttpGuest};
use crate::bindings::exports::wasmraft::applier::state_machine::Guest;
use crate::bindings::wasmraft::applier::types as wit;
use crate::contract::{
    Action, ApplierError, Caller, Encoding, HttpOutcome, HttpRequest, HttpResponse, Info, Meta, Payload,
};
use crate::{Applier, dispatch, sys};
use std::marker::PhantomData;

/// Implements the exported interface for `A`; `export_applier!` names it.
pub struct Adapter<A>(PhantomData<A>);

impl From<wit::EntryMeta> for Meta {
    fn from(m: wit::EntryMeta) -> Self {
        Meta {
            index: m.index,
            term: m.term,
            timestamp_ns: m.timestamp_ns,
            caller: m.caller.map(|c| Caller { subject: c.subject, scopes: c.scopes }),
            entropy: {
                let (a, b, c, d) = m.entropy;
                let mut e = [0u8; 32];
                for (chunk, word) in e.chunks_exact_mut(8).zip([a, b, c, d]) {
                    chunk.copy_from_slice(&word.to_le_bytes());
                }
                e
            },
        }
    }
}

impl From<wit::Encoding> for Encoding {
    fn from(e: wit::Encoding) -> Self {
        match e {
            wit::Encoding::Postcard => Encoding::Postcard,
            wit::Encoding::Json => Encoding::Json,
        }
    }
}

impl From<Encoding> for wit::Encoding {
    fn from(e: Encoding) -> Self {
        match e {
            Encoding::Postcard => wit::Encoding::Postcard,
            Encoding::Json => wit::Encoding::Json,
        }
    }
}

impl From<Payload> for wit::Payload {
    fn from(p: Payload) -> Self {
        wit::Payload { encoding: p.encoding.into(), bytes: p.bytes }
    }
}

impl From<HttpResponse> for wit_http::Response {
    fn from(r: HttpResponse) -> Self {
        wit_http::Response { status: r.status, headers: r.headers, body: r.body }
    }
}

impl From<ApplierError> for wit::ApplierError {
    fn from(e: ApplierError) -> Self {
        wit::ApplierError { code: e.code, message: e.message, body: e.body }
    }
}

/// Sends panic messages to the host before the guest traps, so the failed call says why.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|info| sys::panicked(&info.to_string()))));
}

impl<A: Applier> Guest for Adapter<A> {
    fn info() -> wit::ModuleInfo {
        let Info { name, version } = dispatch::info::<A>();
        wit::ModuleInfo { name, version }
    }

    fn apply(meta: wit::EntryMeta, command: wit::Payload) -> Result<Vec<u8>, wit::ApplierError> {
        install_panic_hook();
        dispatch::apply::<A>(meta.into(), command.encoding.into(), &command.bytes).map_err(Into::into)
    }

    fn query(meta: wit::EntryMeta, query: wit::Payload) -> Result<Vec<u8>, wit::ApplierError> {
        install_panic_hook();
        dispatch::query::<A>(meta.into(), query.encoding.into(), &query.bytes).map_err(Into::into)
    }

    fn migrate(meta: wit::EntryMeta, previous: wit::ModuleInfo) -> Result<(), wit::ApplierError> {
        install_panic_hook();
        let previous = Info { name: previous.name, version: previous.version };
        dispatch::migrate::<A>(meta.into(), &previous).map_err(Into::into)
    }

    fn housekeeping(meta: wit::EntryMeta) -> Option<wit::Payload> {
        install_panic_hook();
        dispatch::housekeeping::<A>(meta.into()).map(Into::into)
    }
}

impl<A: Applier> HttpGuest for Adapter<A> {
    fn routes() -> Vec<String> {
        dispatch::routes::<A>()
    }

    fn handle(meta: wit::EntryMeta, request: wit_http::Request) -> wit_http::Action {
        install_panic_hook();
        let request = HttpRequest {
            method: request.method,
            path: request.path,
            query: request.query,
            body: request.body,
            auth_error: request.auth_error,
            settings: request.settings,
        };
        match dispatch::handle::<A>(meta.into(), request) {
            Action::Respond(r) => wit_http::Action::Respond(r.into()),
            Action::Propose(p) => wit_http::Action::Propose(p.into()),
            Action::Read(p) => wit_http::Action::Read(p.into()),
        }
    }

    fn render(encoding: wit::Encoding, outcome: wit_http::Outcome) -> wit_http::Response {
        install_panic_hook();
        let outcome = match outcome {
            wit_http::Outcome::Applied(bytes) => HttpOutcome::Applied(bytes),
            wit_http::Outcome::Answered(bytes) => HttpOutcome::Answered(bytes),
            wit_http::Outcome::Failed(e) => {
                HttpOutcome::Failed(ApplierError { code: e.code, message: e.message, body: e.body })
            }
        };
        dispatch::render::<A>(encoding.into(), outcome).into()
    }
}
